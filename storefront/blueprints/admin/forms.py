"""The staff area's forms: fields named as CONTRACT.md, shape checks only."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField,
    DecimalField,
    IntegerField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
)
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)
from wtforms.widgets import HiddenInput, TextArea

from storefront.blueprints.validators import REQUIRED, has_visible_character, strip
from storefront.catalog import DESCRIPTION_CONTROL_CHARACTERS, HIDDEN_CHARACTERS
from storefront.models import (
    DESCRIPTION_MAX_CHARS,
    PASSWORD_MAX_CHARS,
    PRICE_MAX,
    PRODUCT_NAME_MAX_CHARS,
    SKU_MAX_CHARS,
    STOCK_MAX,
    STOCK_REASON_MAX_CHARS,
    TRACKING_MAX_CHARS,
)

ORDER_STATUSES = ("placed", "paid", "shipped", "delivered", "cancelled")


def no_hidden_characters(_form: FlaskForm, field: StringField) -> None:
    if field.data and HIDDEN_CHARACTERS.search(field.data):
        raise ValidationError("Remove the control or bidirectional-override characters.")


def no_control_characters(_form: FlaskForm, field: StringField) -> None:
    if field.data and DESCRIPTION_CONTROL_CHARACTERS.search(field.data):
        raise ValidationError("Remove the control characters.")


class ProductForm(FlaskForm):
    """Create or edit a product. `password` is asked for only when the edit deactivates a
    product that shoppers hold in their carts."""

    sku = StringField("SKU", filters=[strip], validators=[
        DataRequired(REQUIRED), Length(max=SKU_MAX_CHARS), no_hidden_characters])
    name = StringField("Name", filters=[strip], validators=[
        DataRequired(REQUIRED), Length(max=PRODUCT_NAME_MAX_CHARS), no_hidden_characters,
        has_visible_character])
    description = StringField("Description", widget=TextArea(), filters=[strip], validators=[
        Optional(), Length(max=DESCRIPTION_MAX_CHARS), no_control_characters])
    price = DecimalField("Price", places=2, validators=[
        DataRequired(REQUIRED), NumberRange(min=0, max=PRICE_MAX, message=(
            f"Enter a price from 0.00 to {PRICE_MAX}."))])
    stock = IntegerField("Stock", validators=[
        InputRequired(REQUIRED), NumberRange(min=0, max=STOCK_MAX, message=(
            f"Enter a whole number from 0 to {STOCK_MAX}."))])
    # The stock the edit page showed: a stock that changed since (an order, an adjustment) is
    # not overwritten by a form filled in before.
    stock_seen = IntegerField(widget=HiddenInput(), validators=[
        Optional(), NumberRange(min=0, max=STOCK_MAX)])
    active = BooleanField("Active (shown in the catalog)", default=True)
    image = FileField("Image (JPEG, PNG or WebP, at most 5 MB)")
    # Choices are the category tree's (set by the view); an unknown id is a field error.
    categories = SelectMultipleField("Categories", coerce=int, choices=[])
    password = PasswordField("Your password (to deactivate a product in shoppers' carts)",
                             validators=[Optional(), Length(max=PASSWORD_MAX_CHARS)])

    def validate_price(self, field: DecimalField) -> None:
        value = field.data
        if value is None or field.errors or not value.is_finite():
            return
        exponent = value.as_tuple().exponent
        if isinstance(exponent, int) and exponent < -2:
            raise ValidationError("Use at most two decimals.")

    def values(self) -> dict[str, object]:
        return {"sku": self.sku.data, "name": self.name.data,
                "description": self.description.data or "", "price": self.price.data,
                "stock": self.stock.data, "active": self.active.data,
                "categories": sorted(set(self.categories.data or []))}


class StockForm(FlaskForm):
    change = IntegerField("Change (e.g. 12 or -1)", validators=[
        DataRequired("Enter a change other than 0."),
        NumberRange(min=-STOCK_MAX, max=STOCK_MAX, message="That change is too large.")])
    reason = StringField("Reason (e.g. received, damaged)", filters=[strip], validators=[
        DataRequired(REQUIRED), Length(max=STOCK_REASON_MAX_CHARS), no_hidden_characters])


class ImportForm(FlaskForm):
    file = FileField("CSV file (sku,name,price,stock,description)",
                     validators=[FileRequired("Choose a CSV file.")])


class ButtonForm(FlaskForm):
    """A button-only POST: the CSRF token alone."""


class OrderStatusForm(FlaskForm):
    """Change an order's status (CONTRACT.md: `status`, `tracking`). `password` is asked for
    only when cancelling an order that is paid."""

    status = SelectField("New status", choices=list(ORDER_STATUSES),
                         validate_choice=True,
                         validators=[DataRequired("Choose a new status.")])
    tracking = StringField("Tracking reference (optional)", filters=[strip], validators=[
        Optional(), Length(max=TRACKING_MAX_CHARS), no_hidden_characters])
    password = PasswordField("Your password (to cancel a paid order)",
                             validators=[Optional(), Length(max=PASSWORD_MAX_CHARS)])

    def validate_tracking(self, field: StringField) -> None:
        if field.data and self.status.data != "shipped":
            raise ValidationError("A tracking reference goes with shipping only.")
