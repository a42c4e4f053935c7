from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField
from wtforms.validators import DataRequired, EqualTo, Length

from storefront.blueprints.validators import (
    REQUIRED,
    email_field,
    name_field,
    new_password_field,
    strip,
)
from storefront.models import EMAIL_MAX_CHARS, PASSWORD_MAX_CHARS, REMEMBER_SESSION_DAYS


class RegisterForm(FlaskForm):
    email = email_field()
    password = new_password_field("Password", email_of=lambda form: form.email.data)
    confirm_password = PasswordField(
        "Confirm password",
        validators=[DataRequired(REQUIRED), EqualTo("password", "The passwords do not match.")],
    )
    first_name = name_field("First name")
    last_name = name_field("Last name")


class LoginForm(FlaskForm):
    email = EmailField(
        "Email", filters=[strip], validators=[DataRequired(REQUIRED), Length(max=EMAIL_MAX_CHARS)]
    )
    password = PasswordField(
        "Password", validators=[DataRequired(REQUIRED), Length(max=PASSWORD_MAX_CHARS)]
    )
    remember = BooleanField(f"Keep me signed in for {REMEMBER_SESSION_DAYS} days")


class ForgotPasswordForm(FlaskForm):
    email = EmailField(
        "Email", filters=[strip], validators=[DataRequired(REQUIRED), Length(max=EMAIL_MAX_CHARS)]
    )


class ResetPasswordForm(FlaskForm):
    """`account_email` (not a field: from the token, never the request) is the account's."""

    new_password = new_password_field("New password", lambda form: form.account_email)
    confirm_password = PasswordField(
        "Confirm new password",
        validators=[DataRequired(REQUIRED), EqualTo("new_password", "The passwords do not match.")],
    )

    def __init__(self, account_email: str, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.account_email = account_email


class ConfirmEmailForm(FlaskForm):
    """A button: the POST of a mailed link (a mail scanner's GET changes nothing)."""
