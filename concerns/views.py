"""Reporter pages: raise a concern, get a receipt, check and reply. No account needed.

Rule 1 of DESIGN.md on these pages: the only cookie is Flask's session holding the
CSRF token; nothing reads the client's address or user agent; `flash()` is never
used (it would put more in that cookie).

The receipt is never put in a cookie or a URL. After a successful check, the
conversation page's reply form carries the receipt in a hidden field of the POSTed
form, so the reporter can answer without typing it again. It therefore sits in the
HTML of that one response — which is sent with `Cache-Control: no-store`, so the
browser does not keep it — and in nothing the browser stores or sends elsewhere.
Asking for it again would be the only stricter choice, and it would make every reply
a chore for the very people the service is for.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from typing import BinaryIO

from flask import Blueprint, g, render_template, request, session, stream_with_context
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_wtf.csrf import CSRFError
from sqlalchemy.orm import Session
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response
from wtforms import Field

from concerns import (
    attachments,
    cleaning_words,
    conflicts,
    evidence,
    professional_groups,
    ratelimit,
    readers,
    services,
    verdict,
)
from concerns.config import ConcernConfig
from concerns.errors import N_, TranslatableError
from concerns.forms import (
    CheckForm,
    ConcernForm,
    ReporterFileForm,
    ReporterReplyForm,
    VerdictForm,
)
from speakup import i18n
from speakup.db import DATABASE_FAULTS
from speakup.headers import attachment_disposition
from speakup.web import clock, db, public, settings
from speakup.web import services as app_services

bp = Blueprint("concerns", __name__, url_prefix="/concerns")

# A 429 page with its Retry-After header (the wait the page states, for programs too).
Limited = tuple[str, int, dict[str, str]]

# A database that is gone, read-only or unreachable (DATABASE_FAULTS, issue 13, finding
# 4): the reporter is told plainly, keeps the text, and gets no receipt for it.
NOT_STORED = N_(
    "Speak Up cannot store anything right now because of a fault on our side. Nothing "
    "you typed has been stored and no receipt was made; your text is still below. "
    "Please copy it somewhere safe and try again later."
)


def said(exc: TranslatableError) -> str:
    """The error's message in the reader's language; a file's cleaning words are read
    back with their count (`translated`)."""
    return i18n.said(exc, translated)


def translated(message: str) -> str:
    """A fixed English message (marked with N_ where it was made) in the reader's language;
    a template filter, for labels and lists kept in English in data (a plain str: escaped).
    What a file's cleaning did is read back with its count (concerns/cleaning_words.py)."""
    return cleaning_words.in_words(message, _, ngettext)


def concern_config() -> ConcernConfig:
    return app_services().extras["concerns"]


def _used_csrf_token() -> None:
    """Forget this session's CSRF token, so a form that succeeded cannot be sent again."""
    session.pop("csrf_token", None)
    g.pop("csrf_token", None)


class CategoryChoices:
    """The reporter form's categories, kept for a few seconds in each worker.

    A GET no longer waits for SQLite's write lock (speakup/db.py), but reading them on
    every view of the form still costs a transaction and two queries, and
    `bench/concerns.py` showed that costing submissions (issue 11's closing note). A
    change an admin makes shows here within `ttl` seconds (at once in the admin's own
    worker); submissions are always checked against the database itself.
    """

    def __init__(self, ttl: float = 30.0,
                 load: Callable[[Session], dict[str, str]] | None = None) -> None:
        self.ttl = ttl
        self._load = load or (
            lambda session: {str(c.id): c.label for c in services.list_categories(session)})
        self._lock = threading.Lock()
        self._choices: dict[str, str] = {}
        self._expires = 0.0

    def get(self, session: Session) -> dict[str, str]:
        with self._lock:
            if time.monotonic() >= self._expires:
                self._choices = self._load(session)
                self._expires = time.monotonic() + self.ttl
            return dict(self._choices)

    def clear(self) -> None:
        with self._lock:
            self._expires = 0.0


def offered_handler_choices(session: Session) -> dict[str, str]:
    return {str(user_id): name for user_id, name in conflicts.offered_handlers(session)}


def handler_choices() -> CategoryChoices:
    """The handlers a reporter may keep out, cached like the categories (same reason)."""
    return app_services().extras.setdefault("concern_handler_choices",
                                            CategoryChoices(load=offered_handler_choices))


def category_choices() -> CategoryChoices:
    return app_services().extras.setdefault("concern_category_choices", CategoryChoices())


def group_choices() -> CategoryChoices:
    """The professional groups offered, cached like the categories (same reason)."""
    return app_services().extras.setdefault("concern_group_choices", CategoryChoices(
        load=lambda s: {str(g.id): g.label for g in professional_groups.list_groups(s)}))


def _new_form_page(form: ConcernForm, status: int, notice: str | None = None) -> tuple[str, int]:
    _say_files_not_kept(form.attachments)
    try:
        form.category.choices = category_choices().get(db())
        groups = group_choices().get(db())
        form.professional_group.choices = [("", _("Not answered")), *groups.items()] \
            if groups else []
        form.excluded.choices = list(handler_choices().get(db()).items()) \
            if concern_config().exclusions_offered else []
    except DATABASE_FAULTS:  # the fault page itself must not fail: keep what was typed
        db().rollback()
        form.category.choices = {}
        form.excluded.choices = []
        form.professional_group.choices = []
    return render_template("concerns/new.html", form=form, notice=notice,
                           k=settings().min_group_size), status


@bp.route("/new", methods=["GET", "POST"])
@public
def new() -> tuple[str, int] | tuple[str, int, dict[str, str]]:
    form = ConcernForm()
    if not form.is_submitted():
        reason = _not_ready_reason()
        if reason is not None:  # refused before the form, not after Send (issue 19)
            return render_template("concerns/not_ready.html", reason=_(reason)), 503
        return _new_form_page(form, 200)
    hint = app_services().extras["concern_readers_hint"]
    config = concern_config()
    stamp = None
    token = request.form.get("stamp", "")
    if token:
        stamp = ratelimit.read_stamp(config.stamp_key, token)
        if stamp is None or ratelimit.stamp_expired(stamp, clock().now(),
                                                     config.submit_stamp_seconds):
            return _wait_page(form, STAMP_INVALID)
        if ratelimit.seconds_left(stamp, clock().now()) > 0:
            return _wait_page(form, STAMP_EARLY, token, stamp)
    # Limits first (issue 18, finding 3): cleaning files is the costly part, so a
    # submission the limit would refuse anyway is turned away before it starts.
    # store_new_concern still counts and decides; this only reads.
    if uploads():
        try:
            full = _limit_full(config, stamp)
            db().rollback()
        except DATABASE_FAULTS:
            db().rollback()
            return _new_form_page(form, 503, _(NOT_STORED))
        if full is not None:
            return _wait_page(form, full)
    try:
        files = evidence.prepare(uploads(), max_files=config.attachments_max,
                                 max_bytes=config.attachment_max_bytes)
    except attachments.AttachmentRefusedError as exc:
        return _refused_files(form, said(exc))
    try:
        prepared = services.prepare_report(config, category_id=form.category.data,
                                           what_happened=form.what_happened.data,
                                           what_wanted=form.what_wanted.data, hint=hint,
                                           excluded=form.excluded.data, files=files,
                                           professional_group=form.professional_group.data)
        # SQLite's writers queue in speakup/db.py (a lock per process, not busy sleeps).
        receipt, _concern_id = services.store_new_concern(db(), clock(), config, prepared, hint,
                                                          stamp)
        db().commit()
    except services.FieldErrors as exc:
        db().rollback()
        for name, reason in exc.reasons.items():
            form[name].errors = [said(reason)]
        return _new_form_page(form, 400)
    except services.FieldError as exc:
        db().rollback()
        form[exc.field].errors = [said(exc)]
        return _new_form_page(form, 400)
    except services.StampUsedError:
        db().rollback()
        return _wait_page(form, STAMP_USED)
    except services.RateLimitedError:
        db().rollback()
        return _wait_page(form, BUSY if stamp is None else VERY_BUSY)
    except services.NotReadyError as exc:
        db().rollback()
        return _new_form_page(form, 503, said(exc))
    except DATABASE_FAULTS:
        db().rollback()
        return _new_form_page(form, 503, _(NOT_STORED))
    finally:
        evidence.close(files)
    _used_csrf_token()
    return render_template("concerns/receipt.html", receipt=receipt,
                           files=[(f.name, f.cleaned.removed) for f in files]), 200


def _not_ready_reason() -> str | None:
    """Why no concern can be received now, or None (a database fault shows the form,
    whose sending then says what is wrong)."""
    try:
        return readers.form_refusal(db())
    except DATABASE_FAULTS:
        return None
    finally:
        db().rollback()


def _limit_full(config: ConcernConfig, stamp: ratelimit.Stamp | None) -> str | None:
    """The wait page's notice if this submission's limit is already full, else None."""
    now = clock().now()
    if stamp is None:
        full = ratelimit.is_full(db(), services.SUBMIT_BUCKET, config.concerns_per_minute,
                                 now, config.rate_limit_key)
        return BUSY if full else None
    if ratelimit.stamp_spent(db(), stamp, config.stamp_key):
        return STAMP_USED
    full = ratelimit.is_full(db(), services.STAMPED_BUCKET, config.stamped_concerns_per_minute,
                             now, config.rate_limit_key)
    return VERY_BUSY if full else None


# Over the global limit nobody is turned away (issue 13, finding 3): the reporter gets
# a page that keeps what was typed and a stamp to send it with after a short wait.
BUSY = N_("Many concerns have been sent in the last minute, so yours was not stored yet.")
VERY_BUSY = N_("Very many concerns have been sent in the last minute, so yours was not stored "
               "yet, even after waiting.")
STAMP_EARLY = N_("You pressed the button before the wait was over, so nothing was sent yet.")
STAMP_INVALID = N_("The waiting page you sent from was too old or had been changed, so "
                   "nothing was sent yet.")
STAMP_USED = N_("The waiting page you sent from had already been used, so nothing was sent "
                "again.")


def _wait_page(form: ConcernForm, notice: str, token: str | None = None,
               stamp: ratelimit.Stamp | None = None) -> tuple[str, int, dict[str, str]]:
    """The 'please wait' page: everything typed in hidden fields, and a stamp (a new
    one unless `token` is still good) that the server accepts once the wait is over."""
    config = concern_config()
    now = clock().now()
    if token is None or stamp is None:
        # The stamp reserves its place under the waited ceiling now (issue 18).
        token, wait = services.issue_wait_stamp(db(), clock(), config)
        db().commit()
    else:
        wait = max(1, math.ceil(ratelimit.seconds_left(stamp, now)))
    page = render_template("concerns/wait.html", form=form, notice=_(notice), stamp=token,
                           wait=wait, minutes=config.submit_stamp_seconds // 60,
                           had_files=bool(uploads()), files_note=files_not_kept(uploads()))
    # 429 tells programs the truth (nothing was stored); the page gives people the way on.
    return page, 429, {"Retry-After": str(wait)}


def uploads(name: str = "attachments") -> list[tuple[BinaryIO, str]]:
    """The files a form carried (a browser sends an empty part when none is chosen)."""
    return [(f.stream, f.filename or "file") for f in request.files.getlist(name)
            if f.filename]


# Issue 19, finding 3: a browser empties every file field of a page the server sends
# back, so a refusal after files were chosen says, at the field and in the error
# summary, which files to choose again. The names came from this reporter's browser in
# this very request; they are echoed back in this response only, never stored or logged.
NAMES_LISTED = 10
NAME_CHARS = 60


def files_not_kept(chosen: list[tuple[BinaryIO, str]]) -> str | None:
    """What to tell a reporter whose chosen files this refused request did not keep."""
    if not chosen:
        return None
    listed = ", ".join(f"“{n if len(n) <= NAME_CHARS else n[:NAME_CHARS - 1] + '…'}”"
                       for _stream, n in chosen[:NAMES_LISTED])
    if len(chosen) > NAMES_LISTED:
        listed = _("%(names)s and %(more)s more", names=listed, more=len(chosen) - NAMES_LISTED)
    told = ngettext("You had chosen %(num)s file (%(names)s). It was not sent: choose the file "
                    "again before you send.",
                    "You had chosen %(num)s files (%(names)s). They were not sent: choose the "
                    "files again before you send.", len(chosen), names=listed)
    return told + " " + _("A browser cannot keep chosen files when a page comes back to it, so "
                          "the file field below is now empty.")


def _say_files_not_kept(field: Field) -> None:
    """Add `files_not_kept` to a refused form's file field (once), if files were chosen."""
    note = files_not_kept(uploads())
    if note is not None and note not in field.errors:
        field.errors = [*field.errors, note]


def download(info: evidence.AttachmentInfo, chunks: Iterator[bytes], filename: str) -> Response:
    """Stream a decrypted file as a download, never shown (or run) in the browser."""
    response = Response(stream_with_context(chunks), mimetype=info.content_type)
    response.headers["Content-Disposition"] = attachment_disposition(filename)
    response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    return response


def _refused_files(form: ConcernForm, message: str) -> tuple[str, int]:
    """Show a refused file's reason with every other error, the text kept."""
    form.attachments.errors = [message]  # _new_form_page adds which files to choose again
    try:
        services.validate_report(category_id=form.category.data,
                                 what_happened=form.what_happened.data,
                                 what_wanted=form.what_wanted.data, excluded=form.excluded.data,
                                 professional_group=form.professional_group.data)
    except services.FieldErrors as exc:
        for name, reason in exc.reasons.items():
            form[name].errors = [said(reason)]
    return _new_form_page(form, 400)


# A form whose CSRF token expired, or was already used (a reload of the page a
# successful POST returned sends the same form again), is shown again with
# everything typed still in it, and what may have happened said plainly.
NEW_EXPIRED = N_(
    "This form had expired or had already been sent, so nothing was sent just now. "
    "If you reloaded the page that showed your receipt: your concern was sent then, and its "
    "receipt was shown only that once — nobody can show it again; if you did not note it, "
    "you can raise the concern again. Otherwise, your text is still below: send it again."
)
REPLY_EXPIRED = N_(
    "This form had expired or had already been sent, so nothing was sent just now. If you "
    "reloaded the page after sending a reply, that reply was sent once: it is in the "
    "conversation above. Otherwise, your text is still below: send it again."
)
VERDICT_EXPIRED = N_(
    "This form had expired, so your answers were not saved just now. Your choices are still "
    "selected below: press the button again."
)
CHECK_EXPIRED = N_("This form had expired. Your receipt is still below: press the button "
                   "again.")


def too_large(_exc: RequestEntityTooLarge) -> tuple[str, int]:
    """Say what to do when a form is over the size limit (its body was never read, so
    the text survives only in the browser: going Back brings it back)."""
    return render_template("concerns/too_large.html",
                           limit_kib=settings().max_request_bytes // 1024), 413


bp.register_error_handler(RequestEntityTooLarge, too_large)


@bp.errorhandler(CSRFError)
def form_expired(_exc: CSRFError) -> tuple[str, int] | Limited:
    db().rollback()
    if request.endpoint == "concerns.new":
        return _new_form_page(ConcernForm(), 400, _(NEW_EXPIRED))
    if request.endpoint in ("concerns.reply", "concerns.verdict_answer"):
        # A reply's text, or the verdict's choices, come back as they were posted.
        answering = request.endpoint == "concerns.verdict_answer"
        form = ReporterReplyForm(formdata=None, receipt=request.form.get("receipt", "")[:200]) \
            if answering else ReporterReplyForm()
        verdict_form = VerdictForm() if answering else None
        notice = _(VERDICT_EXPIRED if answering else REPLY_EXPIRED)
        try:
            keys_ = services.receipt_keys(concern_config(), form.receipt.data)
            # Counted like every use of a receipt: no way round the rate limit.
            services.count_receipt_use(db(), clock(), concern_config(), keys_)
            db().commit()
            conversation = services.open_conversation(db(), keys_)
        except services.RateLimitedError as exc:
            db().rollback()
            return _limited(_conversation_page(None, form, 429, said(exc)), exc)
        except services.ConcernError:
            db().rollback()
            return _conversation_page(None, form, 400, notice)
        if verdict_form is None:
            verdict_form = _verdict_form(conversation, keys_)
        db().rollback()
        if answering and verdict_form is not None:  # said in the verdict section, focused
            return _conversation_page(conversation, form, 400, verdict_form=verdict_form,
                                      verdict_notice=notice)
        return _conversation_page(conversation, form, 400, notice, verdict_form=verdict_form)
    if request.endpoint == "concerns.attachment":  # the receipt comes back in the form
        return _check_page(CheckForm(formdata=None, receipt=request.form.get("receipt", "")[:200]),
                           400, _(CHECK_EXPIRED))
    return _check_page(CheckForm(), 400, _(CHECK_EXPIRED))


def _retry_after(exc: services.RateLimitedError) -> dict[str, str]:
    return {"Retry-After": str(exc.retry_after or ratelimit.WINDOW_SECONDS)}


def _limited(page: tuple[str, int], exc: services.RateLimitedError) -> Limited:
    """A 429 page with the wait its text states, for programs too."""
    return (*page, _retry_after(exc))


def _check_page(form: CheckForm, status: int, notice: str | None = None) -> tuple[str, int]:
    return render_template("concerns/check.html", form=form, notice=notice), status


def _conversation_page(
    conversation: services.Conversation | None, form: ReporterReplyForm, status: int,
    notice: str | None = None, sent: bool = False, verdict_form: VerdictForm | None = None,
    verdict_saved: bool = False, verdict_notice: str | None = None,
) -> tuple[str, int]:
    reopen_until = None
    if status >= 400:
        _say_files_not_kept(form.attachments)
    if conversation is not None:
        form.seen_seq.data = str(conversation.concern.last_seq)
        until = services.reopen_until(conversation.concern, concern_config())
        reopen_until = until if until and concern_config().today(clock()) <= until else None
    return render_template("concerns/conversation.html", conversation=conversation, form=form,
                           notice=notice, sent=sent, reopen_until=reopen_until,
                           verdict_form=verdict_form, verdict_saved=verdict_saved,
                           verdict_notice=verdict_notice,
                           verdict_stages=verdict.VERDICT_STAGES,
                           k=settings().min_group_size), status


def _verdict_form(conversation: services.Conversation,
                  keys_: services.ReceiptKeys) -> VerdictForm | None:
    """The verdict questions for the concern's current stage, with earlier answers chosen."""
    c = conversation.concern
    stage = verdict.current_stage(status=c.status, first_replied_on=c.first_replied_on)
    if stage is None:
        return None
    earlier = verdict.my_verdicts(db(), keys_.lookup, keys_.private_key).get(stage)
    return VerdictForm(formdata=None, receipt=keys_.receipt, stage=stage,
                       **(earlier.as_dict() if earlier else {}))


@bp.route("/check", methods=["GET", "POST"])
@public
def check() -> tuple[str, int] | Limited:
    form = CheckForm()
    if not form.is_submitted():
        return _check_page(form, 200)
    try:
        keys_ = services.receipt_keys(concern_config(), form.receipt.data)
        services.count_receipt_use(db(), clock(), concern_config(), keys_)
        db().commit()  # count wrong guesses too
        conversation = services.open_conversation(db(), keys_)
    except services.FieldError as exc:
        db().rollback()
        form.receipt.errors = [said(exc)]
        return _check_page(form, 400)
    except services.RateLimitedError as exc:
        db().rollback()
        return _limited(_check_page(form, 429, said(exc)), exc)
    except services.ReceiptNotFoundError as exc:
        db().rollback()
        form.receipt.errors = [said(exc)]
        return _check_page(form, 400)
    verdict_form = _verdict_form(conversation, keys_)
    db().rollback()  # nothing else to keep; ends the read transaction
    return _conversation_page(conversation, ReporterReplyForm(formdata=None, receipt=keys_.receipt),
                              200, verdict_form=verdict_form)


@bp.route("/reply", methods=["POST"])
@public
def reply() -> tuple[str, int] | Limited:
    form = ReporterReplyForm()
    config = concern_config()
    files: list[evidence.PreparedFile] = []
    try:
        keys_ = services.receipt_keys(config, form.receipt.data)
        services.count_receipt_use(db(), clock(), config, keys_)
        db().commit()
        files = evidence.prepare(uploads(), max_files=config.attachments_max,
                                 max_bytes=config.attachment_max_bytes)
        conversation = services.reporter_reply(db(), clock(), config, keys_,
                                               text=form.text.data, seen_seq=form.seen_seq.data,
                                               files=files)
        db().commit()
    except (services.MalformedReceiptError, services.ReceiptNotFoundError):
        db().rollback()  # only a forged or stale form gets here
        return _check_page(CheckForm(formdata=None), 400,
                           _("We could not find your concern. Enter your receipt again."))
    except services.RateLimitedError as exc:
        db().rollback()
        return _limited(_conversation_page(None, form, 429, said(exc)), exc)
    except attachments.AttachmentRefusedError as exc:
        db().rollback()
        conversation = services.open_conversation(db(), keys_)
        db().rollback()
        form.attachments.errors = [said(exc)]  # _conversation_page adds the files to choose
        return _conversation_page(conversation, form, 400)
    except DATABASE_FAULTS:
        db().rollback()
        return _conversation_page(None, form, 503, _(NOT_STORED))
    except services.ConcernError as exc:  # closed, moved on, or the text needs fixing
        db().rollback()
        conversation = services.open_conversation(db(), keys_)
        db().rollback()
        if isinstance(exc, services.FieldError):
            form.text.errors = [said(exc)]
            return _conversation_page(conversation, form, 400)
        moved_on = isinstance(exc, services.ConversationMovedOnError)
        return _conversation_page(conversation, form, 409 if moved_on else 400, said(exc))
    finally:
        evidence.close(files)
    _used_csrf_token()
    verdict_form = _verdict_form(conversation, keys_)
    db().rollback()
    return _conversation_page(conversation, ReporterReplyForm(formdata=None, receipt=keys_.receipt),
                              200, sent=True, verdict_form=verdict_form)


@bp.route("/file", methods=["POST"])
@public
def attachment() -> Response | tuple[str, int] | Limited:
    """Download a file of the conversation; the receipt comes in the POSTed form."""
    form = ReporterFileForm()
    config = concern_config()
    try:
        keys_ = services.receipt_keys(config, form.receipt.data)
        services.count_receipt_use(db(), clock(), config, keys_, download=True)
        db().commit()
        info, chunks = services.open_reporter_attachment(db(), keys_, form.seq.data,
                                                         form.number.data)
    except services.RateLimitedError as exc:
        db().rollback()
        return _downloads_full(keys_, exc)
    except services.ConcernError:  # a forged or stale form: no such receipt or file
        db().rollback()
        return _check_page(CheckForm(formdata=None), 404,
                           _("We could not find that file. Enter your receipt again."))
    return download(info, chunks, f"speakup-{int(form.seq.data)}-{info.name}")


def _downloads_full(keys_: services.ReceiptKeys, exc: services.RateLimitedError) -> Limited:
    """Over the download limit, the reporter stays in their conversation (issue 19,
    finding 4) — shown as a check, so its own limit still bounds how often."""
    headers = _retry_after(exc)
    try:
        services.count_receipt_use(db(), clock(), concern_config(), keys_)
        db().commit()
        conversation = services.open_conversation(db(), keys_)
    except services.ConcernError:
        db().rollback()
        return (*_check_page(CheckForm(formdata=None, receipt=keys_.receipt), 429, said(exc)),
                headers)
    verdict_form = _verdict_form(conversation, keys_)
    db().rollback()
    page = _conversation_page(conversation, ReporterReplyForm(formdata=None, receipt=keys_.receipt),
                              429, said(exc), verdict_form=verdict_form)
    return (*page, headers)


@bp.route("/verdict", methods=["POST"])
@public
def verdict_answer() -> tuple[str, int] | Limited:
    """Store the reporter's verdict for the current stage; errors keep their choices."""
    form = VerdictForm()
    config = concern_config()
    try:
        keys_ = services.receipt_keys(config, form.receipt.data)
        services.count_receipt_use(db(), clock(), config, keys_)
        db().commit()
        conversation = services.open_conversation(db(), keys_)
        answers = verdict.parse_answers(speak_again=form.speak_again.data,
                                        felt_safe=form.felt_safe.data,
                                        kept_informed=form.kept_informed.data)
        verdict.record_verdict(db(), clock(), config, keys_.lookup, keys_.private_key,
                               stage=form.stage.data, answers=answers)
        db().commit()
    except (services.MalformedReceiptError, services.ReceiptNotFoundError):
        db().rollback()  # only a forged or stale form gets here
        return _check_page(CheckForm(formdata=None), 400,
                           _("We could not find your concern. Enter your receipt again."))
    except services.RateLimitedError as exc:
        db().rollback()
        return _limited(_conversation_page(None, ReporterReplyForm(formdata=None), 429, said(exc)),
                        exc)
    except verdict.VerdictError as exc:
        db().rollback()
        if isinstance(exc, verdict.VerdictFieldError):
            form[exc.field].errors = [said(exc)]
        notice = None if isinstance(exc, verdict.VerdictFieldError) else said(exc)
        reply_form = ReporterReplyForm(formdata=None, receipt=keys_.receipt)
        return _conversation_page(conversation, reply_form, 400, notice,
                                  verdict_form=form if notice is None else None)
    _used_csrf_token()
    conversation = services.open_conversation(db(), keys_)
    verdict_form = _verdict_form(conversation, keys_)
    db().rollback()
    return _conversation_page(conversation, ReporterReplyForm(formdata=None, receipt=keys_.receipt),
                              200, verdict_form=verdict_form, verdict_saved=True)

