"""How a round's publication protects small groups beyond suppression (issue 17).

A survey chooses one protection; it is frozen on each round when the round opens
(as ``k`` is) and recorded in the published payload. Pure: no SQL, no Flask.

- ``suppress`` (the default): suppression until the attacker's audit, insider
  classes included, passes. Every shown figure is exact.
- ``perturb``: the same suppression, then cell-key perturbation as the ONS used
  for Census 2021: every shown count gets a small deliberate noise (at most
  ±:data:`MAX_NOISE`, zero on average) looked up in a perturbation table by the
  count and a cell key; no count is ever shown as 1 or 2. Shares and means are
  computed from the perturbed counts. The cell key is an HMAC-SHA256 (from
  ``cryptography``) of the cell's name under a secret drawn once per publication and
  never stored: the same cell in the same publication always carries the same
  noise, and nobody — not even someone holding the database — can take it off.
  What it adds over suppression alone: a figure that changed by one person between
  two rounds (trend differencing) or a group whose members all seem to have given
  one answer no longer tells anyone's answer for sure.

Coarsening (favourable-share bands for small groups) is measured by
``bench/protection_compare.py`` (:func:`band`) but not offered: see the README's
"Protection against insiders".

Why our own perturbation and not the ``cell-key-perturbation`` package: it builds
tables from pandas microdata with per-record keys, and its shipped table rounds to 5
with a threshold of 10 — publication aggregates in SQL and has groups of 5.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import replace
from functools import cache

from cryptography.hazmat.primitives import hashes, hmac

from speakup.translatable import N_, TranslatableError
from surveys.itembank import YES, ItemBank, ItemBankError
from surveys.published import Cell, PublishedRound, Row

__all__ = [
    "DEFAULT_PROTECTION",
    "KEY_SPACE",
    "MAX_NOISE",
    "PROTECTIONS",
    "SHORT_NAMES",
    "ProtectionError",
    "apply_protection",
    "band",
    "cell_key",
    "check_protection",
    "describe",
    "new_secret",
    "noise",
    "perturb_count",
    "perturbation_table",
]

PROTECTIONS: Mapping[str, str] = {
    "suppress": "Suppression: hide small groups, exact figures",
    "perturb": "Suppression and small deliberate noise (ONS cell-key perturbation)",
}
DEFAULT_PROTECTION = "suppress"
#: In tables and headings.
SHORT_NAMES: Mapping[str, str] = {"suppress": "suppression", "perturb": "suppression and noise"}
#: One sentence per protection for every page that shows figures.
DESCRIPTIONS: Mapping[str, str] = {
    "suppress": "Figures for groups too small to protect are hidden; every figure shown "
                "is exact.",
    "perturb": "Figures for groups too small to protect are hidden, and every count shown has "
               "a small deliberate noise of at most ±3 added (never shown as 1 or 2), so "
               "shares and means are close to, not exactly, the true ones.",
}

#: Cell keys run over 0..KEY_SPACE-1; 240 is divisible by 3, 4, 5 and 8, so every
#: row of the table below has an exact zero mean.
KEY_SPACE = 240
MAX_NOISE = 3


class ProtectionError(TranslatableError, ValueError):
    """An unknown protection name."""


def check_protection(value: object) -> str:
    """Return the protection name, or raise ProtectionError naming the choices."""
    if isinstance(value, str) and value in PROTECTIONS:
        return str(value)
    raise ProtectionError(N_("The protection must be one of: %(names)s (got “%(value)s”)."),
                          names=", ".join(PROTECTIONS), value=value)


def describe(protection: str | None) -> str:
    """The sentence a figure's page shows about what the protection did."""
    return DESCRIPTIONS[protection or DEFAULT_PROTECTION]


# --- the perturbation table ----------------------------------------------------------

# count (capped at 5) -> [(noise, number of keys)], each row summing to KEY_SPACE keys
# with zero mean. Counts 1 and 2 go to 0 or 3+, so a shown 1 or 2 never occurs; from 5
# on the noise is -2..+2 with variance exactly 1 (18, 48, 108, 48, 18 keys).
_ROWS: Mapping[int, Sequence[tuple[int, int]]] = {
    0: ((0, 240),),  # a true zero stays zero (no respondent, nothing to protect)
    1: ((-1, 160), (2, 80)),
    2: ((-2, 96), (1, 96), (2, 48)),
    3: ((-3, 24), (0, 156), (1, 48), (2, 12)),
    4: ((-1, 60), (0, 126), (1, 48), (2, 6)),
    5: ((-2, 18), (-1, 48), (0, 108), (1, 48), (2, 18)),
}


@cache
def perturbation_table() -> Mapping[int, tuple[int, ...]]:
    """count (0..5; 5 stands for every larger count) -> noise for each cell key."""
    table = {}
    for count, parts in _ROWS.items():
        noises = tuple(n for n, keys in parts for _ in range(keys))
        assert len(noises) == KEY_SPACE and sum(noises) == 0, count
        table[count] = noises
    return table


def noise(count: int, key: int) -> int:
    """The table's noise for a true count and a cell key."""
    if count < 0:
        raise ValueError("a count cannot be negative")
    return perturbation_table()[min(count, 5)][key % KEY_SPACE]


def new_secret() -> bytes:
    """A fresh per-publication secret (256 bits) for the cell keys."""
    return secrets.token_bytes(32)


def cell_key(secret: bytes, cell: Sequence[object]) -> int:
    """The cell's key: HMAC-SHA256 of its name under the publication's secret, mod KEY_SPACE."""
    mac = hmac.HMAC(secret, hashes.SHA256())
    mac.update("\x1f".join("" if part is None else str(part) for part in cell).encode())
    # 256 bits mod 240: the bias is below 2^-248.
    return int.from_bytes(mac.finalize(), "big") % KEY_SPACE


def perturb_count(count: int, secret: bytes, cell: Sequence[object]) -> int:
    """The count as published under perturbation."""
    return count + noise(count, cell_key(secret, cell))


# --- coarsening (measured, not offered) ---------------------------------------------

BANDS = ((0.5, "under 50 %"), (0.7, "50–70 %"))


def band(share: float) -> str:
    """A favourable share as a band: under 50 %, 50–70 % or over 70 %."""
    for upper, label in BANDS:
        if share < upper:
            return label
    return "over 70 %"


# --- publication ---------------------------------------------------------------------


def apply_protection(
    published: PublishedRound, protection: str | None, bank: ItemBank,
    *, secret: bytes | None = None,
) -> PublishedRound:
    """Apply the round's frozen protection to what suppression decided; record it.

    Called once by :func:`surveys.publish.publish_round` before the result is stored.
    ``suppress`` leaves every figure as it is. ``perturb`` perturbs every shown count
    (respondents, each answer value of each shown cell) and derives n, means and
    shares from the perturbed counts; a cell whose perturbed answers come to 0 is
    hidden like any other. The secret is used for this call only and never stored.
    """
    name = check_protection(protection or DEFAULT_PROTECTION)
    if name == "suppress":
        return replace(published, protection=name)
    key = secret if secret is not None else new_secret()
    items = {row.id: row for row in published.items}

    def count(value: int | None, *cell: object) -> int | None:
        return None if value is None else perturb_count(value, key, cell)

    group_counts = {
        dim: {g: count(n, "respondents", dim, g) for g, n in groups.items()}
        for dim, groups in published.group_counts.items()
    }
    responses = count(published.responses, "respondents")
    perturbed_items = [_perturb_row(row, key, bank, None) for row in published.items]
    perturbed_item_rows = {row.id: row for row in perturbed_items}
    scales = [_perturb_row(row, key, bank, _ScaleItems(row, items, perturbed_item_rows, bank))
              for row in published.scales]
    return replace(
        published, protection=name, responses=responses,
        response_rate=responses / published.invited
        if responses is not None and published.invited else None,
        group_counts=group_counts, items=perturbed_items, scales=scales,
    )


class _ScaleItems:
    """What a scale cell needs to re-derive its pooled favourable share from perturbed items."""

    def __init__(self, scale: Row, items: Mapping[str, Row], perturbed: Mapping[str, Row],
                 bank: ItemBank) -> None:
        sub = scale.id.split(".", 1)[1] if "." in scale.id else None
        instrument = bank.instrument(scale.instrument_id)
        self.items = [i for i in instrument.items_in(sub) if i.id in perturbed]
        self.perturbed = perturbed

    def pooled(self, dim: str | None, group: str | None) -> float | None:
        favourable = answers = 0
        for item in self.items:
            row = self.perturbed[item.id]
            cell = row.overall if dim is None else row.by_group.get(dim, {}).get(group or "")
            if cell is None:
                continue
            for value, n in cell.distribution.items():
                answers += n
                favourable += n if item.is_favourable(int(value)) else 0
        return favourable / answers if answers else None


def _perturb_row(row: Row, key: bytes, bank: ItemBank, scale: _ScaleItems | None) -> Row:
    overall = _perturb_cell(row, row.overall, key, bank, scale, None, None)
    by_group = {
        dim: {g: _perturb_cell(row, cell, key, bank, scale, dim, g) for g, cell in cells.items()}
        for dim, cells in row.by_group.items()
    }
    return replace(row, overall=overall, by_group=by_group)


def _perturb_cell(
    row: Row, cell: Cell | None, key: bytes, bank: ItemBank, scale: _ScaleItems | None,
    dim: str | None, group: str | None,
) -> Cell | None:
    if cell is None:
        return None
    noises = {value: noise(n, cell_key(key, (row.id, dim, group, value)))
              for value, n in cell.distribution.items()}
    distribution = {value: n + noises[value] for value, n in cell.distribution.items()}
    n = sum(distribution.values())
    if n <= 0:
        return None
    if scale is not None:
        # Scale mean: the exact score sum, moved by each point's noise times its value.
        total = (cell.mean or 0.0) * cell.n + sum(int(v) * d for v, d in noises.items())
        mean = round(total / n, 2)
        return Cell(n=n, mean=mean, favourable=scale.pooled(dim, group),
                    distribution=distribution)
    try:
        item = bank.item(row.id)
    except ItemBankError:  # pragma: no cover - the round was planned from this bank
        return None
    favourable = sum(c for v, c in distribution.items() if item.is_favourable(int(v)))
    if item.scale.type == "yes_no":
        return Cell(n=n, mean=None, favourable=favourable / n, distribution=distribution,
                    yes_share=distribution.get(str(YES), 0) / n)
    total = sum(item.scored(int(v)) * c for v, c in distribution.items())  # type: ignore[operator]
    return Cell(n=n, mean=total / n, favourable=favourable / n, distribution=distribution)
