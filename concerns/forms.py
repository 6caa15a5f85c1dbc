"""Forms for reporters, handlers and the category list.

Length and content rules live in `concerns.services` (one place, tested without
HTTP); these forms carry CSRF, keep what was typed, and render accessibly.
"""

from __future__ import annotations

from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    HiddenField,
    MultipleFileField,
    PasswordField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length
from wtforms.widgets import CheckboxInput, ListWidget

from concerns.messages import MAX_MESSAGE, MAX_WHAT_HAPPENED, MAX_WHAT_WANTED
from concerns.models import (
    EXCLUDED_OUTCOMES,
    OUTCOMES,
    STATUS_LABELS,
    STATUS_ORDER,
    VERDICT_QUESTIONS,
    Status,
)
from speakup.accounts import MAX_PASSWORD_LENGTH

# Browsers must not remember receipts in their form history, nor send them to an
# online spelling service.
RECEIPT_INPUT = {"autocomplete": "off", "spellcheck": "false", "autocapitalize": "characters"}

ATTACHMENTS_HINT = _l(
    "Photos (JPEG, PNG, WebP, HEIC), PDF, Word, Excel, PowerPoint or plain text. We remove "
    "hidden details before we store anything, such as where and when a photo was taken or "
    "who wrote a document. What can be seen in a file, such as a face, a name or a "
    "letterhead, can still identify you."
)
ATTACHMENTS_ACCEPT = {"accept": ".jpg,.jpeg,.png,.webp,.heic,.heif,.pdf,.docx,.xlsx,.pptx,.txt"}


class CheckboxesField(SelectMultipleField):
    """Several choices as checkboxes (works without JavaScript, unlike a multi-select)."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class ConcernForm(FlaskForm):
    # Choices are the admin's list, set per request; an unknown value is refused by
    # the service with a clear message, not by WTForms' generic one.
    category = RadioField(_l("What is it about?"), choices={}, validate_choice=False)
    what_happened = TextAreaField(
        _l("What happened?"),
        description=_l(
            "Say what happened, where and when, in your own words. If you do not want to be "
            "known, leave out anything that would show who you are. Up to %(most)s "
            "characters.", most=f"{MAX_WHAT_HAPPENED:,}"),
        render_kw={"rows": 12, "maxlength": MAX_WHAT_HAPPENED},
    )
    what_wanted = TextAreaField(
        _l("What would you like to happen? (optional)"),
        description=_l("Up to %(most)s characters.", most=f"{MAX_WHAT_WANTED:,}"),
        render_kw={"rows": 5, "maxlength": MAX_WHAT_WANTED},
    )
    attachments = MultipleFileField(_l("Files (optional)"), description=ATTACHMENTS_HINT,
                                    render_kw=ATTACHMENTS_ACCEPT)
    # The admins' list, set per request (empty: the question is not asked); anything
    # else is refused by the service with a clear message.
    professional_group = SelectField(
        _l("Your professional group (optional)"),
        description=_l("Only used in totals, for the report the National Guardian's Office "
                       "asks for each quarter. You can leave it blank."),
        choices=[], validate_choice=False,
    )
    # Choices are the handlers with a display name, set per request; the service
    # refuses anything else with a clear message.
    excluded = CheckboxesField(
        _l("Handlers who must not receive this concern (optional)"),
        description=_l(
            "If your concern is about one of these case handlers, or you do not want one of "
            "them to read it, tick their name. They will never be able to see or open it. "
            "The other handlers are not told whom you ticked."
        ),
        choices=[], validate_choice=False,
    )


class CheckForm(FlaskForm):
    receipt = StringField(
        _l("Your receipt"),
        description=_l("20 letters and numbers, for example ABCD-EFGH-JKMN-PQRS-TVWX. "
                       "Capitals, spaces and dashes do not matter."),
        render_kw=RECEIPT_INPUT,
    )


class ReporterReplyForm(FlaskForm):
    # The receipt travels in the POSTed form of the conversation page, never in a
    # cookie or a URL (see concerns/views.py for why).
    receipt = HiddenField()
    seen_seq = HiddenField()
    text = TextAreaField(
        _l("Your reply"),
        description=_l("Up to %(most)s characters.", most=f"{MAX_MESSAGE:,}"),
        render_kw={"rows": 6, "maxlength": MAX_MESSAGE},
    )
    attachments = MultipleFileField(_l("Files (optional)"), description=ATTACHMENTS_HINT,
                                    render_kw=ATTACHMENTS_ACCEPT)


class VerdictForm(FlaskForm):
    """The reporters' verdict (concerns/verdict.py): three optional questions."""

    # The receipt travels like the reply form's (see concerns/views.py).
    receipt = HiddenField()
    stage = HiddenField()
    speak_again = RadioField(_l(VERDICT_QUESTIONS["speak_again"][0]),
                             choices=dict(VERDICT_QUESTIONS["speak_again"][1]),
                             validate_choice=False)
    felt_safe = RadioField(_l(VERDICT_QUESTIONS["felt_safe"][0]),
                           choices=dict(VERDICT_QUESTIONS["felt_safe"][1]),
                           validate_choice=False)
    kept_informed = RadioField(_l(VERDICT_QUESTIONS["kept_informed"][0]),
                               choices=dict(VERDICT_QUESTIONS["kept_informed"][1]),
                               validate_choice=False)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        # The answers' labels in the page's language (plain strings, as WTForms wants).
        for name, (_question, answers) in VERDICT_QUESTIONS.items():
            self[name].choices = {key: gettext(label) for key, label in answers.items()}


class ThemesForm(FlaskForm):
    themes = CheckboxesField(_l("Themes for the Freedom to Speak Up return"), choices={},
                             validate_choice=False)


class HandlerMessageForm(FlaskForm):
    seen_seq = HiddenField()
    text = TextAreaField(_l("Message"), render_kw={"rows": 6, "maxlength": MAX_MESSAGE})
    # Shown on the reply form only: a note stays among handlers and carries no files.
    attachments = MultipleFileField(
        _l("Files for the reporter (optional)"),
        description=_l("Photos (JPEG, PNG, WebP, HEIC), PDF, Word, Excel, PowerPoint or plain "
                    "text. Hidden details (camera, place, author) are removed before anything "
                    "is stored; the reporter downloads them with their receipt."),
        render_kw=ATTACHMENTS_ACCEPT)


class ReporterFileForm(FlaskForm):
    """Download one attached file: the receipt travels in the POSTed form, as for replies."""

    receipt = HiddenField()
    seq = HiddenField()
    number = HiddenField()


class StatusForm(FlaskForm):
    expected_status = HiddenField()
    status = RadioField(
        _l("Move to"),
        choices={s.value: STATUS_LABELS[s] for s in STATUS_ORDER if s != Status.NEW},
        validate_choice=False,
    )
    outcome = SelectField(
        _l("Outcome (when closing)"),
        choices={"": "Choose an outcome", **OUTCOMES},
        validate_choice=False,
    )
    closing_message = TextAreaField(
        _l("Closing message to the reporter (optional, when closing)"),
        description=_l("Sent to the reporter as a reply just before the concern closes: for "
                    "example what was done, and that they can reply to reopen it."),
        render_kw={"rows": 4, "maxlength": MAX_MESSAGE},
    )


class ReopenForm(FlaskForm):
    expected_status = HiddenField()


class ExcludeForm(FlaskForm):
    expected_status = HiddenField()
    reason = RadioField(_l("Close it as"), choices=dict(EXCLUDED_OUTCOMES),
                        validate_choice=False)


class ShareForm(FlaskForm):
    handler = SelectField(_l("Share with"), choices={}, validate_choice=False)


class UnlockForm(FlaskForm):
    password = PasswordField(
        _l("Your password"),
        validators=[DataRequired(), Length(max=MAX_PASSWORD_LENGTH)],
        description=_l("Your key for reading concerns is locked with your password."),
    )


class InboxFilterForm(FlaskForm):
    class Meta:
        csrf = False  # a GET form that changes nothing

    status = SelectField(_l("Show"), choices={}, validate_choice=False)
    sort = SelectField(_l("Sort by"), choices={}, validate_choice=False)
    order = SelectField(_l("Order"), choices={"asc": "Oldest or lowest first",
                                          "desc": "Newest or highest first"},
                        validate_choice=False)


class CategoryForm(FlaskForm):
    label = StringField(_l("Name"), render_kw={"maxlength": 120})


class CategoryEditForm(FlaskForm):
    label = StringField(_l("Name"), render_kw={"maxlength": 120})
    active = BooleanField(_l("Offered to people raising a concern"))


class ThemeEditForm(FlaskForm):
    label = StringField(_l("Name"), render_kw={"maxlength": 120})
    active = BooleanField(_l("Offered to case handlers for tagging"))


class DigestForm(FlaskForm):
    digest = BooleanField(_l("Send me the daily summary e-mail"))


class RecuseForm(FlaskForm):
    confirm = BooleanField(_l("I have a conflict of interest and must not handle this concern"))


class DisplayNameForm(FlaskForm):
    display_name = StringField(
        _l("Name shown to reporters"),
        description=_l("Leave blank to leave this handler out of the list reporters see."),
        render_kw={"maxlength": 80},
    )
