"""Forms for staff sign-in and account administration."""

from __future__ import annotations

import re

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
    SelectChoice("admin", "Administrator"),
    SelectChoice("handler", "Case handler"),
    SelectChoice("reviewer", "Advisory group reviewer"),
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


PASSWORD_RULE = f"Use a password of at least {MIN_PASSWORD_LENGTH} characters."


def new_password_validators() -> list[object]:
    return [
        DataRequired("Enter a password."),
        Length(min=MIN_PASSWORD_LENGTH, max=MAX_PASSWORD_LENGTH, message=PASSWORD_RULE),
    ]


class LoginForm(FlaskForm):
    email = EmailField(
        "E-mail address",
        validators=[DataRequired("Enter your e-mail address."), Length(max=254)],
        render_kw={"autocomplete": "username"},
    )
    password = PasswordField(
        "Password",
        validators=[DataRequired("Enter your password."), Length(max=MAX_PASSWORD_LENGTH)],
        render_kw={"autocomplete": "current-password"},
    )
    totp = StringField(
        "Code from your authenticator app",
        validators=[Optional(), Length(max=10, message="The code has six digits.")],
        description="Six digits. Leave empty if your account has no second factor.",
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"},
    )


class PasswordChangeForm(FlaskForm):
    current = PasswordField(
        "Current password",
        validators=[DataRequired("Enter your current password."),
                    Length(max=MAX_PASSWORD_LENGTH)],
        render_kw={"autocomplete": "current-password"},
    )
    new = PasswordField(
        "New password",
        validators=new_password_validators(),
        description=f"At least {MIN_PASSWORD_LENGTH} characters.",
        render_kw={"autocomplete": "new-password"},
    )


class NewAccountForm(FlaskForm):
    email = EmailField(
        "E-mail address",
        validators=[DataRequired("Enter the person's e-mail address."), Length(max=254)],
    )
    role = SelectField("Role", choices=ROLE_CHOICES, validators=[DataRequired()])
    password = PasswordField(
        "Initial password",
        validators=new_password_validators(),
        description="Give it to the person privately; they should change it after signing in.",
        render_kw={"autocomplete": "new-password"},
    )


class EditAccountForm(FlaskForm):
    role = SelectField("Role", choices=ROLE_CHOICES, validators=[DataRequired()])
    disabled = BooleanField("Account disabled")


class ResultsPageForm(FlaskForm):
    enabled = RadioField(
        "Staff results page",
        choices=[
            SelectChoice("on", "On: anyone can see the latest published results, goals and "
                               "actions at /results/, linked from survey e-mails"),
            SelectChoice("off", "Off: the page is not found and nothing links to it"),
        ],
        validators=[InputRequired("Choose on or off.")],
    )
