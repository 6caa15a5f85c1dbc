"""Forms for staff sign-in and account administration."""

from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    IntegerField,
    PasswordField,
    RadioField,
    SelectChoice,
    SelectField,
    StringField,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from speakup.accounts import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH

# SelectChoice, not (value, label) tuples: WTForms 3.3 deprecates tuples.
ROLE_CHOICES = [
    SelectChoice("admin", _l("Administrator")),
    SelectChoice("handler", _l("Case handler")),
    SelectChoice("reviewer", _l("Advisory group reviewer")),
]
# A whole number or an ISO date as a person types it in ASCII: IntegerField's int() and
# DateField's strptime() would also read Arabic-Indic or fullwidth digits (issue 18).
_ASCII_WHOLE_NUMBER = re.compile(r"-?[0-9]{1,9}")
_ASCII_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class AsciiIntegerField(IntegerField):
    """IntegerField that reads ASCII digits only (an optional minus sign, spaces around)."""

    def process_formdata(self, valuelist: list[object]) -> None:
        if valuelist:
            raw = valuelist[0]
            if not (isinstance(raw, str) and _ASCII_WHOLE_NUMBER.fullmatch(raw.strip(" \t"))):
                self.data = None
                raise ValueError(self.gettext("Not a valid integer value."))
            valuelist = [raw.strip(" \t")]
        super().process_formdata(valuelist)


class AsciiDateField(DateField):
    """DateField that reads an ISO date (YYYY-MM-DD, as date inputs send) in ASCII digits."""

    def process_formdata(self, valuelist: list[object]) -> None:
        if valuelist and not (isinstance(valuelist[0], str)
                              and _ASCII_DATE.fullmatch(valuelist[0].strip(" \t"))):
            self.data = None
            raise ValueError(self.gettext("Not a valid date value."))
        super().process_formdata([v.strip(" \t") for v in valuelist])  # type: ignore[union-attr]


PASSWORD_RULE = _l("Use a password of at least %(least)s characters.", least=MIN_PASSWORD_LENGTH)


def new_password_validators() -> list[object]:
    return [
        DataRequired(_l("Enter a password.")),
        Length(min=MIN_PASSWORD_LENGTH, max=MAX_PASSWORD_LENGTH, message=PASSWORD_RULE),
    ]


class LoginForm(FlaskForm):
    email = EmailField(
        _l("E-mail address"),
        validators=[DataRequired(_l("Enter your e-mail address.")), Length(max=254)],
        render_kw={"autocomplete": "username"},
    )
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(_l("Enter your password.")), Length(max=MAX_PASSWORD_LENGTH)],
        render_kw={"autocomplete": "current-password"},
    )
    totp = StringField(
        _l("Code from your authenticator app"),
        validators=[Optional(), Length(max=10, message=_l("The code has six digits."))],
        description=_l("Six digits. Leave empty if your account has no second factor."),
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"},
    )


class PasswordChangeForm(FlaskForm):
    current = PasswordField(
        _l("Current password"),
        validators=[DataRequired(_l("Enter your current password.")),
                    Length(max=MAX_PASSWORD_LENGTH)],
        render_kw={"autocomplete": "current-password"},
    )
    new = PasswordField(
        _l("New password"),
        validators=new_password_validators(),
        description=_l("At least %(least)s characters.", least=MIN_PASSWORD_LENGTH),
        render_kw={"autocomplete": "new-password"},
    )


class NewAccountForm(FlaskForm):
    email = EmailField(
        _l("E-mail address"),
        validators=[DataRequired(_l("Enter the person's e-mail address.")), Length(max=254)],
    )
    role = SelectField(_l("Role"), choices=ROLE_CHOICES, validators=[DataRequired()])
    password = PasswordField(
        _l("Initial password"),
        validators=new_password_validators(),
        description=_l("Give it to the person privately; they should change it after signing in."),
        render_kw={"autocomplete": "new-password"},
    )


class EditAccountForm(FlaskForm):
    role = SelectField(_l("Role"), choices=ROLE_CHOICES, validators=[DataRequired()])
    disabled = BooleanField(_l("Account disabled"))


class ResultsPageForm(FlaskForm):
    enabled = RadioField(
        _l("Staff results page"),
        choices=[
            SelectChoice("on", _l("On: anyone can see the latest published results, goals and "
                               "actions at /results/, linked from survey e-mails")),
            SelectChoice("off", _l("Off: the page is not found and nothing links to it")),
        ],
        validators=[InputRequired(_l("Choose on or off."))],
    )
