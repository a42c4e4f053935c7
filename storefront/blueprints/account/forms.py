from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, TelField
from wtforms.validators import DataRequired, EqualTo, Length, Optional

from storefront.blueprints.validators import (
    REQUIRED,
    differs_from,
    email_field,
    name_field,
    new_password_field,
    phone_number,
    strip,
)
from storefront.models import PHONE_MAX_CHARS


def empty_to_none(value: object) -> object:
    return value or None


class ProfileForm(FlaskForm):
    first_name = name_field("First name")
    last_name = name_field("Last name")
    phone = TelField(
        "Phone (optional)", filters=[strip, empty_to_none],
        validators=[Optional(), Length(max=PHONE_MAX_CHARS), phone_number],
    )
    marketing_opt_in = BooleanField("Send me news and offers by email")


class PasswordForm(FlaskForm):
    """`account_email` (not a field: never from the request) is the signed-in account's."""

    current_password = PasswordField("Current password", validators=[DataRequired(REQUIRED)])
    new_password = new_password_field(
        "New password", lambda form: form.account_email,
        differs_from("current_password", "Choose a password different from your current one."),
    )
    confirm_password = PasswordField(
        "Confirm new password",
        validators=[DataRequired(REQUIRED), EqualTo("new_password", "The passwords do not match.")],
    )

    def __init__(self, account_email: str, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.account_email = account_email


class DeleteAccountForm(FlaskForm):
    password = PasswordField("Password", validators=[DataRequired(REQUIRED)])


class ResendVerificationForm(FlaskForm):
    """A button: send the verification mail again."""


class EmailChangeForm(FlaskForm):
    new_email = email_field("New email")
    password = PasswordField("Current password", validators=[DataRequired(REQUIRED)])
