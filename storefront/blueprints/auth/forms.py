from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, Email, EqualTo, Length

from storefront.blueprints.validators import acceptable_password, no_control_characters, strip
from storefront.models import (
    EMAIL_MAX_CHARS,
    NAME_MAX_CHARS,
    PASSWORD_MAX_CHARS,
    PASSWORD_MIN_CHARS,
)

REQUIRED = "This field is required."


class RegisterForm(FlaskForm):
    email = EmailField(
        "Email", filters=[strip],
        validators=[DataRequired(REQUIRED), Length(max=EMAIL_MAX_CHARS),
                    Email("Enter a valid email address.")],
    )
    password = PasswordField(
        "Password",
        validators=[
            DataRequired(REQUIRED),
            Length(PASSWORD_MIN_CHARS, PASSWORD_MAX_CHARS,
                   f"Use {PASSWORD_MIN_CHARS} to {PASSWORD_MAX_CHARS} characters."),
            acceptable_password(),
        ],
    )
    confirm_password = PasswordField(
        "Confirm password",
        validators=[DataRequired(REQUIRED), EqualTo("password", "The passwords do not match.")],
    )
    first_name = StringField(
        "First name", filters=[strip],
        validators=[DataRequired(REQUIRED), Length(max=NAME_MAX_CHARS), no_control_characters],
    )
    last_name = StringField(
        "Last name", filters=[strip],
        validators=[DataRequired(REQUIRED), Length(max=NAME_MAX_CHARS), no_control_characters],
    )


class LoginForm(FlaskForm):
    email = EmailField(
        "Email", filters=[strip], validators=[DataRequired(REQUIRED), Length(max=EMAIL_MAX_CHARS)]
    )
    password = PasswordField(
        "Password", validators=[DataRequired(REQUIRED), Length(max=PASSWORD_MAX_CHARS)]
    )
    remember = BooleanField("Keep me signed in for 30 days")
