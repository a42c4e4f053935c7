"""Field checks shared by the forms and the JSON API: shape only, never the database."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

from wtforms import EmailField, Field, Form, PasswordField, StringField
from wtforms.validators import DataRequired, Email, Length, ValidationError

from storefront.accounts import is_common_password
from storefront.emails import canonical_email
from storefront.models import (
    EMAIL_MAX_CHARS,
    NAME_MAX_CHARS,
    PASSWORD_MAX_CHARS,
    PASSWORD_MIN_CHARS,
    PHONE_MAX_DIGITS,
    PHONE_MIN_DIGITS,
)

REQUIRED = "This field is required."
PASSWORD_LENGTH = f"Use {PASSWORD_MIN_CHARS} to {PASSWORD_MAX_CHARS} characters."
PHONE_CHARACTERS = re.compile(r"[0-9 +\-().]*")
# Letters, marks on them, numbers, punctuation and symbols can be seen; spaces, format
# characters (zero-width space, joiners) and control characters cannot.
VISIBLE_CATEGORIES = ("L", "N", "P", "S")


def strip(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


def no_control_characters(_form: Form, field: Field) -> None:
    if isinstance(field.data, str) and any(
        unicodedata.category(char) == "Cc" for char in field.data
    ):
        raise ValidationError("Please remove the control characters.")


def has_visible_character(_form: Form, field: Field) -> None:
    if isinstance(field.data, str) and not any(
        unicodedata.category(char).startswith(VISIBLE_CATEGORIES) for char in field.data
    ):
        raise ValidationError("Enter at least one letter or digit.")


def phone_number(_form: Form, field: Field) -> None:
    value = field.data or ""
    digits = sum(char.isdigit() for char in value)
    if not PHONE_CHARACTERS.fullmatch(value) or not PHONE_MIN_DIGITS <= digits <= PHONE_MAX_DIGITS:
        raise ValidationError(
            f"Enter a phone number of {PHONE_MIN_DIGITS} to {PHONE_MAX_DIGITS} digits; "
            "spaces and + - ( ) . are allowed."
        )


def fits_canonical_column(_form: Form, field: Field) -> None:
    """The stored canonical form (emails.canonical_email) must fit its column too."""
    if field.data and len(canonical_email(field.data)) > EMAIL_MAX_CHARS:
        raise ValidationError(f"Enter an email address of at most {EMAIL_MAX_CHARS} characters.")


def acceptable_password(email_of: Callable[[Form], str | None]):  # noqa: ANN201
    """Not one of the commonest or most guessable passwords, and not the account's email
    (compared in canonical form, so `ADA@example.com` counts as `ada@example.com`)."""

    def check(form: Form, field: Field) -> None:
        password = field.data or ""
        email = email_of(form)
        if email and canonical_email(password) == canonical_email(email):
            raise ValidationError("Your password must not be your email address.")
        if is_common_password(password):
            raise ValidationError("This password is too common or too easy to guess. "
                                  "Please choose another.")

    return check


def differs_from(other_field: str, message: str):  # noqa: ANN201
    def check(form: Form, field: Field) -> None:
        if field.data and field.data == getattr(form, other_field).data:
            raise ValidationError(message)

    return check


def email_field(label: str = "Email") -> EmailField:
    """An address being given to an account: valid in form, and short enough to store."""
    return EmailField(
        label, filters=[strip],
        validators=[DataRequired(REQUIRED), Length(max=EMAIL_MAX_CHARS),
                    Email("Enter a valid email address."), fits_canonical_column],
    )


def name_field(label: str) -> StringField:
    """A first or last name: 1..100 characters after trimming, at least one of them visible,
    no control characters."""
    return StringField(
        label, filters=[strip],
        validators=[DataRequired(REQUIRED), Length(max=NAME_MAX_CHARS), no_control_characters,
                    has_visible_character],
    )


def new_password_field(label: str, email_of: Callable[[Form], str | None],
                       *extra: Callable[[Form, Field], None]) -> PasswordField:
    """A password being chosen: 8..128 characters of any kind, not common or guessable, not
    the account's email."""
    return PasswordField(
        label,
        validators=[
            DataRequired(REQUIRED),
            Length(PASSWORD_MIN_CHARS, PASSWORD_MAX_CHARS, PASSWORD_LENGTH),
            acceptable_password(email_of),
            *extra,
        ],
    )
