"""What the anonymity protection promises, in plain words, kept in one place.

The survey's opening page, the review's trends and round pages, the staff results page
and the README all say these sentences; tests check that each page shows them and that
each limit is real (tests/review/test_promises.py). Change the wording here only.

"{k}" stands for the minimum group size of the survey (or round) the page is about.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from speakup.translatable import N_

# Stated wherever figures of two rounds can be compared (DESIGN.md: known limits).
DIFFERENCING_LIMIT = N_(
    "A limit of every comparison between rounds: say a group gains or loses just one "
    "person from one round to the next. Then taking the group’s figures in one round from "
    "those in the other can show how that one person answered. Read a change in a small "
    "group as the group’s, and never try to work out whose it is."
)

GUARANTEE = N_(
    "The promise: under this survey’s protection, nothing published can prove how a person "
    "answered if they are in a group smaller than {k}. That holds for everything published "
    "taken together, and for a mix of groups too."
)


@dataclass(frozen=True)
class AttackerStatement:
    """What one kind of person trying to find out who said what can and cannot learn."""

    who: str
    knows: str  # what they know, as a sentence
    protected: str  # what they still cannot learn


ATTACKERS = (
    AttackerStatement(
        N_("Anyone who reads the results"),
        N_("Only what is published: figures for the whole organisation and for groups of "
           "at least {k} people."),
        N_("They cannot see one person’s answers, or any figure for a group smaller than "
           "{k}. That holds even if they put together every download of every round (but "
           "see the limits below)."),
    ),
    AttackerStatement(
        N_("A colleague who answered too"),
        N_("Their own answers, and how many people are in their team."),
        N_("They cannot prove how anyone else in a group smaller than {k} answered. That "
           "holds even if they take their own answers away from what is published."),
    ),
    AttackerStatement(
        N_("A manager with the HR list"),
        N_("Who is in which team, and each person’s ethnicity."),
        N_("They cannot prove how anyone answered in a group smaller than {k}. That holds "
           "for a mix of groups too, such as a team and an ethnicity together."),
    ),
)

LIMITS = (
    DIFFERENCING_LIMIT,
    N_("If everyone in a published group gives the same answer, the group’s figure shows "
       "each of them how the others answered."),
    N_("Someone who runs the server and changes its code could record anything: the "
       "protection holds only while the service runs its published code."),
)


@dataclass(frozen=True)
class ProtectionStatement:
    guarantee: str
    attackers: tuple[AttackerStatement, ...]
    limits: tuple[str, ...]

    def sentences(self) -> list[str]:
        """Every sentence, as a page shows it (for tests and the README check)."""
        out = [self.guarantee]
        for a in self.attackers:
            out += [a.who, a.knows, a.protected]
        return out + list(self.limits)


def protection_statement(
    k: int | str, translate: Callable[[str], str] = str
) -> ProtectionStatement:
    """The statements with the survey's k filled in ("k" itself for the README).

    `translate` (a page's gettext) puts each one in the reader's language first.
    """

    def fill(text: str) -> str:
        return str(translate(text)).replace("{k}", str(k))

    return ProtectionStatement(
        fill(GUARANTEE),
        tuple(AttackerStatement(fill(a.who), fill(a.knows), fill(a.protected))
              for a in ATTACKERS),
        tuple(fill(limit) for limit in LIMITS),
    )
