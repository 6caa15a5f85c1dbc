"""Errors the concern services raise; each message is safe to show to the person.

Services import no Flask, so they cannot translate: each error is a
`speakup.translatable.TranslatableError`, which keeps its English catalogue message and
its `params`; the page that shows it translates them in the reader's language
(`concerns.views.said`). `str(error)` is the English text, for logs and the CLI.
"""

from __future__ import annotations

from collections.abc import Mapping

# Re-exported: the concerns modules take the markers and the base error from here.
from speakup.translatable import N_ as N_
from speakup.translatable import Nn_ as Nn_
from speakup.translatable import Phrase as Phrase
from speakup.translatable import TranslatableError


class ConcernError(TranslatableError):
    """A concern operation was refused; the message is safe to show to the person."""


class FieldError(ConcernError):
    """One form field is wrong; `field` names it so the form can show the error there."""

    def __init__(self, field_name: str, message: str, **params: object) -> None:
        super().__init__(message, **params)
        self.field = field_name


class NotReadyError(ConcernError):
    """Concerns cannot be received yet: no recovery key has been set up."""


class RateLimitedError(ConcernError):
    """Too many submissions, receipt checks or downloads in the last minute.

    `retry_after`, when known, is how many seconds until the limit's window ends.
    """

    def __init__(self, message: str, retry_after: int | None = None, **params: object) -> None:
        super().__init__(message, **params)
        self.retry_after = retry_after


class StampUsedError(RateLimitedError):
    """A waiting stamp sent a second time."""


class FieldErrors(FieldError):
    """One or more fields need fixing; `errors` maps each field's name to what to fix
    (in English) and `reasons` to the FieldError that said it, when one did."""

    def __init__(self, errors: Mapping[str, str | FieldError]) -> None:
        first = next(iter(errors))
        super().__init__(first, " ".join(str(e) for e in errors.values()))
        self.errors = {name: str(e) for name, e in errors.items()}
        self.reasons = {name: e if isinstance(e, FieldError) else FieldError(name, e)
                        for name, e in errors.items()}


class MalformedReceiptError(FieldError):
    """What was typed is not shaped like a receipt (says nothing about any concern)."""


class ReceiptNotFoundError(ConcernError):
    """No concern has that receipt — the same answer for every wrong receipt."""


class ConcernNotFoundError(ConcernError):
    """No concern has that id."""


class NoAccessError(ConcernError):
    """This handler cannot read the concern (it was never shared with them)."""


class ConcernClosedError(ConcernError):
    """The concern is closed: no more replies."""


class ConversationMovedOnError(ConcernError):
    """Someone else wrote or changed the concern since this page was loaded."""


class StatusChangeError(ConcernError):
    """The status change is not a step forward, or closing lacks an outcome."""


class RecusalError(ConcernError):
    """Recusing now would leave nobody able to read the concern."""


class ShareError(ConcernError):
    """The concern cannot be shared with that person."""
