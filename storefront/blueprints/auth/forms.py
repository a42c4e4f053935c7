from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField
from wtforms.validators import DataRequired, Email, EqualTo, Length

from storefront.blueprints.validators import REQUIRED, name_field, new_password_field, strip
from storefront.models import EMAIL_MAX_CHARS, PASSWORD_MAX_CHARS


class RegisterForm(FlaskForm):
    email = EmailField(
        "Email", filters=[strip],
        validators=[DataRequired(REQUIRED), Length(max=EMAIL_MAX_CHARS),
                    Email("Enter a valid email address.")],
    )
    password = new_password_field("Password")
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
    remember = BooleanField("Keep me signed in for 30 days")
