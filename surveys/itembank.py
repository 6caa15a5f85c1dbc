"""The survey item bank: instruments, items and response scales shipped as YAML.

The bank lives in ``surveys/itembank/*.yaml``. Each file has a ``kind``:
``response_scales`` (a list of scales) or ``instrument`` (one instrument and its
items). The loader is strict — unknown keys, duplicate keys, duplicate ids, unknown
scales and inconsistent flags all raise :class:`ItemBankError` naming the file and
the field — because a typo in a published instrument would silently corrupt every
score computed from it.

Stored values are the option values as answered (reverse scoring is applied only
when scoring). On the ``yes_no`` scale, 1 = Yes, 2 = No and 0 = Prefer not to say;
0 is stored so that declining can be counted apart from skipping, but it counts as
not answered everywhere a score or share is computed.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping, Set
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, TypeVar

import yaml

__all__ = [
    "DEFAULT_ITEM_BANK_DIR",
    "NO",
    "PREFER_NOT_TO_SAY",
    "YES",
    "Instrument",
    "Item",
    "ItemBank",
    "ItemBankError",
    "ResponseOption",
    "ResponseScale",
    "ScaleScoreRule",
    "load_item_bank",
]

DEFAULT_ITEM_BANK_DIR = Path(__file__).with_name("itembank")

# Stored values on the yes/no scale. SQL in publication relies on these numbers.
YES = 1
NO = 2
PREFER_NOT_TO_SAY = 0

ScaleType = Literal["ordinal", "yes_no"]
Direction = Literal["yes", "no"]

_ID_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_T = TypeVar("_T")


#: Sectors a survey can be marked as; items tagged with sectors are offered only there.
SECTORS = ("general", "healthcare")


class ItemBankError(ValueError):
    """The item bank is malformed, or a lookup names something it does not hold."""


def _in(language: str, english: str, translations: tuple[tuple[str, str], ...]) -> str:
    """The text in `language`, or the English one where the bank has no translation."""
    return dict(translations).get(language, english)


@dataclass(frozen=True)
class ResponseOption:
    value: int
    label: str
    # (language, label) pairs: the same answer, stored as the same value, in other words.
    translations: tuple[tuple[str, str], ...] = ()

    def label_in(self, language: str) -> str:
        return _in(language, self.label, self.translations)


@dataclass(frozen=True)
class ResponseScale:
    """A set of answer options; ``ordinal`` scales run 1..max with no gaps."""

    id: str
    type: ScaleType
    options: tuple[ResponseOption, ...]
    prefer_not_to_say: ResponseOption | None = None
    favourable_top_boxes: int | None = None

    @property
    def answer_values(self) -> tuple[int, ...]:
        """Values that count as an answer (everything but prefer-not-to-say)."""
        return tuple(option.value for option in self.options)

    @property
    def valid_values(self) -> frozenset[int]:
        """Every value a response row may store on this scale."""
        values = set(self.answer_values)
        if self.prefer_not_to_say is not None:
            values.add(self.prefer_not_to_say.value)
        return frozenset(values)

    @property
    def min_value(self) -> int:
        return min(self.answer_values)

    @property
    def max_value(self) -> int:
        return max(self.answer_values)

    @property
    def favourable_values(self) -> frozenset[int]:
        """Scored values in the top boxes (ordinal scales only)."""
        if self.type != "ordinal" or self.favourable_top_boxes is None:
            return frozenset()
        low = self.max_value - self.favourable_top_boxes + 1
        return frozenset(range(low, self.max_value + 1))

    def label(self, value: int) -> str:
        """Return the label shown for a stored value."""
        for option in self.all_options:
            if option.value == value:
                return option.label
        raise ValueError(f"{value!r} is not a value of scale {self.id!r}")

    @property
    def all_options(self) -> tuple[ResponseOption, ...]:
        """Options in display order, prefer-not-to-say last."""
        if self.prefer_not_to_say is None:
            return self.options
        return (*self.options, self.prefer_not_to_say)

    def check(self, value: int | None) -> None:
        """Raise ValueError unless ``value`` is None or storable on this scale."""
        if value is None:
            return
        # bool is an int subclass; True must not pass as 1.
        if type(value) is not int or value not in self.valid_values:
            raise ValueError(f"{value!r} is not a value of scale {self.id!r}")


@dataclass(frozen=True)
class Item:
    """One question. ``number`` is its 1-based position within its instrument."""

    id: str
    instrument_id: str
    number: int
    text: str
    scale: ResponseScale
    reverse: bool = False
    subdimension: str | None = None
    favourable: Direction | None = None  # yes/no items only
    # The sectors whose surveys may ask it; empty: every sector. ("unsafe clinical
    # practice" means nothing outside healthcare.)
    sectors: tuple[str, ...] = ()
    # About experiences of harassment, discrimination or abuse: a group's figure that
    # would show that everyone, or everyone but one, gave the same answer is hidden
    # below 2k (surveys.round_disclosure), as such an answer is a person's own story.
    sensitive: bool = False
    # (language, text) pairs. A response stores the item's id, never the language it was
    # read in, so an answer in any language counts once, in the same figures.
    translations: tuple[tuple[str, str], ...] = ()

    def text_in(self, language: str) -> str:
        return _in(language, self.text, self.translations)

    def offered_in(self, sector: str) -> bool:
        return not self.sectors or sector in self.sectors

    def scored(self, value: int | None) -> int | None:
        """Return the value used for scoring, or None when not answered.

        Reverse-scored items are flipped (v -> max + 1 - v) so that a higher score
        is always more favourable. Prefer-not-to-say counts as not answered.
        A value that is not on the scale raises ValueError: it is a bug, not data.
        """
        self.scale.check(value)
        if value is None or value not in self.scale.answer_values:
            return None
        if self.reverse:
            return self.scale.max_value + 1 - value
        return value

    def is_favourable(self, value: int | None) -> bool | None:
        """Return whether an answer is favourable, or None when not answered.

        Ordinal items: the scored value is in the top boxes. Yes/no items: the
        answer is in the item's favourable direction.
        """
        scored = self.scored(value)
        if scored is None:
            return None
        if self.scale.type == "yes_no":
            return scored == self.favourable_value
        return scored in self.scale.favourable_values

    def is_yes(self, value: int | None) -> bool | None:
        """Return whether a yes/no answer is Yes, or None when not answered."""
        if self.scale.type != "yes_no":
            raise ValueError(f"item {self.id!r} is not a yes/no item")
        scored = self.scored(value)
        return None if scored is None else scored == YES

    @property
    def favourable_value(self) -> int | None:
        """The stored value in the favourable direction (yes/no items only)."""
        if self.favourable is None:
            return None
        return YES if self.favourable == "yes" else NO


@dataclass(frozen=True)
class ScaleScoreRule:
    """How a respondent's scale score is formed.

    ``mean``: the mean of the respondent's scored (reverse-flipped) answers, only
    if at least ``min_answered_share`` of the instrument's items were answered.
    ``none``: the instrument has no scale score; it is reported per item.
    """

    method: Literal["mean", "none"]
    min_answered_share: float | None = None


@dataclass(frozen=True)
class Instrument:
    """A published scale: its items share one response scale and one citation."""

    id: str
    title: str
    citation: str
    scale: ResponseScale
    scale_score: ScaleScoreRule
    items: tuple[Item, ...]
    subdimensions: tuple[str, ...] = ()
    notes: str | None = None
    title_translations: tuple[tuple[str, str], ...] = ()

    def title_in(self, language: str) -> str:
        return _in(language, self.title, self.title_translations)

    @property
    def has_scale_score(self) -> bool:
        return self.scale_score.method == "mean"

    @property
    def min_answered(self) -> int | None:
        """Fewest answered items that still give a scale score (None if no score)."""
        return self.min_answered_for()

    def min_answered_for(self, subdimension: str | None = None) -> int | None:
        """Fewest answered items that give a (sub)scale score: ceil(share x items).

        Computed exactly, not in floating point, so SQL can use the same integer.
        """
        share = self.scale_score.min_answered_share
        if share is None:
            return None
        return math.ceil(Fraction(str(share)) * len(self.items_in(subdimension)))

    def items_in(self, subdimension: str | None = None) -> tuple[Item, ...]:
        """Return the items of one subdimension, or all items for None."""
        if subdimension is None:
            return self.items
        if subdimension not in self.subdimensions:
            raise ValueError(f"instrument {self.id!r} has no subdimension {subdimension!r}")
        return tuple(item for item in self.items if item.subdimension == subdimension)

    @property
    def item_ids(self) -> tuple[str, ...]:
        return tuple(item.id for item in self.items)


@dataclass(frozen=True, eq=False)
class ItemBank:
    """All scales, instruments and items, looked up by their stable ids."""

    scales: Mapping[str, ResponseScale]
    instruments: Mapping[str, Instrument]
    items: Mapping[str, Item]

    def scale(self, scale_id: str) -> ResponseScale:
        return _lookup(self.scales, scale_id, "response scale")

    def instrument(self, instrument_id: str) -> Instrument:
        return _lookup(self.instruments, instrument_id, "instrument")

    def item(self, item_id: str) -> Item:
        return _lookup(self.items, item_id, "item")

    def items_for(self, instrument_id: str) -> tuple[Item, ...]:
        return self.instrument(instrument_id).items


def _lookup(table: Mapping[str, _T], key: str, what: str) -> _T:
    try:
        return table[key]
    except KeyError:
        raise ItemBankError(f"the item bank has no {what} {key!r}") from None


def load_item_bank(path: Path | None = None) -> ItemBank:
    """Load and validate the item bank from a folder of YAML files.

    The shipped bank (``path=None``) is loaded once and cached; an explicit path is
    read afresh each call.
    """
    if path is None:
        return _shipped_item_bank()
    return _load(Path(path))


@functools.lru_cache(maxsize=1)
def _shipped_item_bank() -> ItemBank:
    return _load(DEFAULT_ITEM_BANK_DIR)


# --- loading ---------------------------------------------------------------------


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate mapping keys instead of keeping the last."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if not isinstance(key, str | int | float | bool | None):
            continue  # unhashable keys: construct_mapping reports them
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


class _File:
    """Validation helpers that name the file and the field in every error."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def error(self, where: str, message: str) -> ItemBankError:
        return ItemBankError(f"{self.path.name}: {where}: {message}")

    def mapping(
        self, value: Any, where: str, required: Set[str], optional: Set[str] = frozenset()
    ) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.error(where, "expected a mapping")
        missing = sorted(required - value.keys())
        if missing:
            raise self.error(where, f"missing field(s) {', '.join(missing)}")
        unknown = sorted(str(key) for key in value.keys() - required - optional)
        if unknown:
            raise self.error(where, f"unknown field(s) {', '.join(unknown)}")
        return value

    def text(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.error(where, "expected non-empty text")
        return " ".join(value.split())

    def ident(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or not _ID_RE.match(value):
            raise self.error(where, f"{value!r} is not an id (lower case, digits, _)")
        return value

    def integer(self, value: Any, where: str) -> int:
        if type(value) is not int:
            raise self.error(where, f"expected a whole number, got {value!r}")
        return value

    def flag(self, value: Any, where: str) -> bool:
        if type(value) is not bool:
            raise self.error(where, f"expected true or false, got {value!r}")
        return value

    def listing(self, value: Any, where: str) -> list[Any]:
        if not isinstance(value, list) or not value:
            raise self.error(where, "expected a non-empty list")
        return value


def _load(folder: Path) -> ItemBank:
    if not folder.is_dir():
        raise ItemBankError(f"{folder}: item bank folder not found")
    documents: list[tuple[_File, dict[str, Any]]] = []
    for path in sorted(folder.glob("*.yaml")):
        file = _File(path)
        try:
            # _StrictLoader is a SafeLoader subclass: no arbitrary objects.
            document = yaml.load(path.read_text(encoding="utf-8"), Loader=_StrictLoader)  # noqa: S506
        except (yaml.YAMLError, OSError, UnicodeDecodeError) as exc:
            raise file.error("YAML", str(exc).replace("\n", " ")) from exc
        if not isinstance(document, dict) or document.get("kind") not in {
            "response_scales",
            "instrument",
        }:
            raise file.error("kind", "must be 'response_scales' or 'instrument'")
        documents.append((file, document))

    scales: dict[str, ResponseScale] = {}
    for file, document in documents:
        if document["kind"] == "response_scales":
            for scale in _parse_scales(file, document):
                if scale.id in scales:
                    raise file.error(f"scales[{scale.id}]", "duplicate scale id")
                scales[scale.id] = scale
    if not scales:
        raise ItemBankError(f"{folder}: no response scales defined")

    instruments: dict[str, Instrument] = {}
    items: dict[str, Item] = {}
    for file, document in documents:
        if document["kind"] != "instrument":
            continue
        instrument = _parse_instrument(file, document, scales)
        if instrument.id in instruments:
            raise file.error("id", f"duplicate instrument id {instrument.id!r}")
        instruments[instrument.id] = instrument
        for item in instrument.items:
            if item.id in items:
                raise file.error(f"items[{item.id}]", "duplicate item id")
            items[item.id] = item
    if not instruments:
        raise ItemBankError(f"{folder}: no instruments defined")

    return ItemBank(
        scales=MappingProxyType(scales),
        instruments=MappingProxyType(instruments),
        items=MappingProxyType(items),
    )


def _parse_option(file: _File, raw: Any, where: str) -> ResponseOption:
    raw = file.mapping(raw, where, {"value", "label"}, {"translations"})
    return ResponseOption(
        value=file.integer(raw["value"], f"{where}.value"),
        label=file.text(raw["label"], f"{where}.label"),
        translations=_translations(file, raw.get("translations"), f"{where}.translations"),
    )


def _translations(file: _File, raw: Any, where: str) -> tuple[tuple[str, str], ...]:
    """`{cy: "…", …}`: a text per language besides English."""
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        raise file.error(where, "expected a mapping of language code to text")
    return tuple(sorted((file.ident(code, f"{where} key"), file.text(text, f"{where}.{code}"))
                        for code, text in raw.items()))


def _parse_scales(file: _File, document: dict[str, Any]) -> list[ResponseScale]:
    file.mapping(document, "file", {"kind", "scales"})
    parsed = []
    for index, raw in enumerate(file.listing(document["scales"], "scales")):
        where = f"scales[{index}]"
        raw = file.mapping(
            raw,
            where,
            {"id", "type", "options"},
            {"favourable_top_boxes", "prefer_not_to_say"},
        )
        scale_id = file.ident(raw["id"], f"{where}.id")
        where = f"scales[{scale_id}]"
        scale_type = raw["type"]
        options = tuple(
            _parse_option(file, option, f"{where}.options[{i}]")
            for i, option in enumerate(file.listing(raw["options"], f"{where}.options"))
        )
        values = [option.value for option in options]
        labels = [option.label for option in options]
        if len(set(labels)) != len(labels):
            raise file.error(f"{where}.options", "labels must be unique")
        pnts = None
        if "prefer_not_to_say" in raw:
            pnts = _parse_option(file, raw["prefer_not_to_say"], f"{where}.prefer_not_to_say")
            if pnts.value != PREFER_NOT_TO_SAY:
                raise file.error(
                    f"{where}.prefer_not_to_say.value",
                    f"must be {PREFER_NOT_TO_SAY} (code and SQL rely on it)",
                )
        top_boxes = None
        if scale_type == "ordinal":
            if values != list(range(1, len(values) + 1)) or len(values) < 2:
                raise file.error(f"{where}.options", "ordinal values must run 1, 2, ... n")
            if "favourable_top_boxes" not in raw:
                raise file.error(where, "missing field favourable_top_boxes")
            top_boxes = file.integer(raw["favourable_top_boxes"], f"{where}.favourable_top_boxes")
            if not 1 <= top_boxes < len(values):
                raise file.error(
                    f"{where}.favourable_top_boxes", f"must be between 1 and {len(values) - 1}"
                )
        elif scale_type == "yes_no":
            if values != [YES, NO]:
                raise file.error(
                    f"{where}.options", f"yes/no options must be {YES} (Yes) then {NO} (No)"
                )
            if "favourable_top_boxes" in raw:
                raise file.error(
                    f"{where}.favourable_top_boxes", "only ordinal scales have top boxes"
                )
        else:
            raise file.error(f"{where}.type", "must be 'ordinal' or 'yes_no'")
        parsed.append(
            ResponseScale(
                id=scale_id,
                type=scale_type,
                options=options,
                prefer_not_to_say=pnts,
                favourable_top_boxes=top_boxes,
            )
        )
    return parsed


def _parse_scale_score(file: _File, raw: Any, scale: ResponseScale) -> ScaleScoreRule:
    raw = file.mapping(raw, "scale_score", {"method"}, {"min_answered_share"})
    method = raw["method"]
    if method == "none":
        if "min_answered_share" in raw:
            raise file.error("scale_score.min_answered_share", "not used when method is none")
        return ScaleScoreRule(method="none")
    if method != "mean":
        raise file.error("scale_score.method", "must be 'mean' or 'none'")
    if scale.type != "ordinal":
        raise file.error("scale_score.method", "a mean needs an ordinal scale")
    share = raw.get("min_answered_share")
    if type(share) not in (int, float) or not 0 < share <= 1:
        raise file.error(
            "scale_score.min_answered_share", f"expected a share in (0, 1], got {share!r}"
        )
    return ScaleScoreRule(method="mean", min_answered_share=float(share))


def _parse_instrument(
    file: _File, document: dict[str, Any], scales: Mapping[str, ResponseScale]
) -> Instrument:
    file.mapping(
        document,
        "file",
        {"kind", "id", "title", "citation", "scale", "scale_score", "items"},
        {"subdimensions", "notes", "title_translations"},
    )
    instrument_id = file.ident(document["id"], "id")
    scale_id = document["scale"]
    if scale_id not in scales:
        raise file.error("scale", f"unknown response scale {scale_id!r}")
    scale = scales[scale_id]
    subdimensions: tuple[str, ...] = ()
    if "subdimensions" in document:
        subdimensions = tuple(
            file.ident(name, f"subdimensions[{i}]")
            for i, name in enumerate(file.listing(document["subdimensions"], "subdimensions"))
        )
        if len(set(subdimensions)) != len(subdimensions):
            raise file.error("subdimensions", "names must be unique")

    items: list[Item] = []
    for number, raw in enumerate(file.listing(document["items"], "items"), start=1):
        where = f"items[{number - 1}]"
        raw = file.mapping(raw, where, {"id", "text"},
                           {"reverse", "subdimension", "favourable", "sectors", "sensitive",
                            "translations"})
        item_id = file.ident(raw["id"], f"{where}.id")
        where = f"items[{item_id}]"
        if not item_id.startswith(f"{instrument_id}_"):
            raise file.error(f"{where}.id", f"must start with '{instrument_id}_'")
        reverse = file.flag(raw.get("reverse", False), f"{where}.reverse")
        sensitive = file.flag(raw.get("sensitive", False), f"{where}.sensitive")
        if reverse and scale.type != "ordinal":
            raise file.error(f"{where}.reverse", "only items on an agree scale can be reversed")
        subdimension = raw.get("subdimension")
        if subdimensions and subdimension not in subdimensions:
            raise file.error(f"{where}.subdimension", f"must be one of {', '.join(subdimensions)}")
        if not subdimensions and subdimension is not None:
            raise file.error(f"{where}.subdimension", "the instrument declares no subdimensions")
        favourable = raw.get("favourable")
        if scale.type == "yes_no":
            if isinstance(favourable, bool):
                raise file.error(f"{where}.favourable", 'quote it: "yes" or "no"')
            if favourable not in ("yes", "no"):
                raise file.error(f"{where}.favourable", 'yes/no items need "yes" or "no"')
        elif favourable is not None:
            raise file.error(f"{where}.favourable", "only yes/no items have a direction")
        sectors: tuple[str, ...] = ()
        if "sectors" in raw:
            sectors = tuple(file.listing(raw["sectors"], f"{where}.sectors"))
            unknown = sorted(str(x) for x in set(sectors) - set(SECTORS))
            if unknown:
                raise file.error(f"{where}.sectors", f"unknown sector(s) {', '.join(unknown)}; "
                                                     f"use {', '.join(SECTORS)}")
        items.append(
            Item(
                sectors=sectors,
                id=item_id,
                instrument_id=instrument_id,
                number=number,
                text=file.text(raw["text"], f"{where}.text"),
                scale=scale,
                reverse=reverse,
                subdimension=subdimension,
                favourable=favourable,
                sensitive=sensitive,
                translations=_translations(file, raw.get("translations"),
                                           f"{where}.translations"),
            )
        )
    if subdimensions:
        unused = sorted(set(subdimensions) - {item.subdimension for item in items})
        if unused:
            raise file.error("subdimensions", f"no items for {', '.join(unused)}")

    return Instrument(
        id=instrument_id,
        title=file.text(document["title"], "title"),
        citation=file.text(document["citation"], "citation"),
        scale=scale,
        scale_score=_parse_scale_score(file, document["scale_score"], scale),
        items=tuple(items),
        subdimensions=subdimensions,
        notes=file.text(document["notes"], "notes") if "notes" in document else None,
        title_translations=_translations(file, document.get("title_translations"),
                                         "title_translations"),
    )
