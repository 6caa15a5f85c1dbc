"""Forms for staff sign-in and account administration."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
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
