from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired

from storefront.blueprints.validators import REQUIRED


class AvatarForm(FlaskForm):
    avatar = FileField("Picture (JPEG, PNG or WebP, at most 2 MB)",
                       validators=[FileRequired(REQUIRED)])


class ButtonForm(FlaskForm):
    """A button: remove the picture, or download the data."""
