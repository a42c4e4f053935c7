"""Field checks shared by the forms and the JSON API: shape only, never the database."""

from __future__ import annotations

import re
import unicodedata

from wtforms import Field, Form, PasswordField, StringField
from wtforms.validators import DataRequired, Length, ValidationError

from storefront.accounts import is_common_password
from storefront.models import (
    NAME_MAX_CHARS,
    PASSWORD_MAX_CHARS,
    PASSWORD_MIN_CHARS,
    PHONE_MAX_DIGITS,
    PHONE_MIN_DIGITS,
)

REQUIRED = "This field is required."

PHONE_CHARACTERS = re.compile(r"[0-9 +\-().]*")


def strip(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


def no_control_characters(_form: Form, field: Field) -> None:
    if isinstance(field.data, str) and any(
        unicodedata.category(char) == "Cc" for char in field.data
    ):
        raise ValidationError("Please remove the control characters.")


def phone_number(_form: Form, field: Field) -> None:
    value = field.data or ""
    digits = sum(char.isdigit() for char in value)
    if not PHONE_CHARACTERS.fullmatch(value) or not PHONE_MIN_DIGITS <= digits <= PHONE_MAX_DIGITS:
        raise ValidationError(
            f"Enter a phone number of {PHONE_MIN_DIGITS} to {PHONE_MAX_DIGITS} digits; "
            "spaces and + - ( ) . are allowed."
        )


def acceptable_password(email_field: str | None = "email"):  # noqa: ANN201
    """Not one of the commonest passwords, and not the account's email."""

    def check(form: Form, field: Field) -> None:
        password = field.data or ""
        email = getattr(form, email_field).data if email_field else None
        if email and password.strip().lower() == str(email).strip().lower():
            raise ValidationError("Your password must not be your email address.")
        if is_common_password(password):
            raise ValidationError("This password is too common. Please choose another.")

    return check


def name_field(label: str) -> StringField:
    """A first or last name: 1..100 characters after trimming, no control characters."""
    return StringField(
        label, filters=[strip],
        validators=[DataRequired(REQUIRED), Length(max=NAME_MAX_CHARS), no_control_characters],
    )


def new_password_field(label: str, email_field: str | None = "email") -> PasswordField:
    """A password being chosen: 8..128 characters of any kind, not common, not the email."""
    return PasswordField(
        label,
        validators=[
            DataRequired(REQUIRED),
            Length(PASSWORD_MIN_CHARS, PASSWORD_MAX_CHARS,
                   f"Use {PASSWORD_MIN_CHARS} to {PASSWORD_MAX_CHARS} characters."),
            acceptable_password(email_field),
        ],
    )
