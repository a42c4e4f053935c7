from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, StringField, TelField
from wtforms.validators import DataRequired, EqualTo, Length, Optional

from storefront.blueprints.validators import (
    acceptable_password,
    no_control_characters,
    phone_number,
    strip,
)
from storefront.models import (
    NAME_MAX_CHARS,
    PASSWORD_MAX_CHARS,
    PASSWORD_MIN_CHARS,
    PHONE_MAX_CHARS,
)

REQUIRED = "This field is required."


def empty_to_none(value: object) -> object:
    return value or None


class ProfileForm(FlaskForm):
    first_name = StringField(
        "First name", filters=[strip],
        validators=[DataRequired(REQUIRED), Length(max=NAME_MAX_CHARS), no_control_characters],
    )
    last_name = StringField(
        "Last name", filters=[strip],
        validators=[DataRequired(REQUIRED), Length(max=NAME_MAX_CHARS), no_control_characters],
    )
    phone = TelField(
        "Phone (optional)", filters=[strip, empty_to_none],
        validators=[Optional(), Length(max=PHONE_MAX_CHARS), phone_number],
    )
    marketing_opt_in = BooleanField("Send me news and offers by email")


class PasswordForm(FlaskForm):
    current_password = PasswordField("Current password", validators=[DataRequired(REQUIRED)])
    new_password = PasswordField(
        "New password",
        validators=[
            DataRequired(REQUIRED),
            Length(PASSWORD_MIN_CHARS, PASSWORD_MAX_CHARS,
                   f"Use {PASSWORD_MIN_CHARS} to {PASSWORD_MAX_CHARS} characters."),
            acceptable_password(email_field=None),
        ],
    )
    confirm_password = PasswordField(
        "Confirm new password",
        validators=[DataRequired(REQUIRED), EqualTo("new_password", "The passwords do not match.")],
    )


class DeleteAccountForm(FlaskForm):
    password = PasswordField("Password", validators=[DataRequired(REQUIRED)])
