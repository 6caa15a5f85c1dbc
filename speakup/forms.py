"""Forms for staff sign-in and account administration."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional

from speakup.accounts import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH

ROLE_CHOICES = [
    ("admin", "Administrator"),
    ("handler", "Case handler"),
    ("reviewer", "Advisory group reviewer"),
]


class LoginForm(FlaskForm):
    email = EmailField("E-mail address", validators=[DataRequired(), Length(max=254)])
    password = PasswordField(
        "Password", validators=[DataRequired(), Length(max=MAX_PASSWORD_LENGTH)]
    )
    totp = StringField(
        "Code from your authenticator app",
        validators=[Optional(), Length(max=10)],
        description="Six digits. Leave empty if your account has no second factor.",
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"},
    )


class PasswordChangeForm(FlaskForm):
    current = PasswordField(
        "Current password", validators=[DataRequired(), Length(max=MAX_PASSWORD_LENGTH)]
    )
    new = PasswordField(
        "New password",
        validators=[DataRequired(), Length(min=MIN_PASSWORD_LENGTH, max=MAX_PASSWORD_LENGTH)],
        description=f"At least {MIN_PASSWORD_LENGTH} characters.",
    )


class NewAccountForm(FlaskForm):
    email = EmailField("E-mail address", validators=[DataRequired(), Length(max=254)])
    role = SelectField("Role", choices=ROLE_CHOICES, validators=[DataRequired()])
    password = PasswordField(
        "Initial password",
        validators=[DataRequired(), Length(min=MIN_PASSWORD_LENGTH, max=MAX_PASSWORD_LENGTH)],
        description="Give it to the person privately; they should change it after signing in.",
    )


class EditAccountForm(FlaskForm):
    role = SelectField("Role", choices=ROLE_CHOICES, validators=[DataRequired()])
    disabled = BooleanField("Account disabled")
