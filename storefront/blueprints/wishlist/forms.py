"""The wishlist's inputs: `product_id` (an id, else 422; one that no row can have is 404),
`quantity` for add (absent means 1; 1..99, else 422), `shared` (a checkbox)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, StringField

from storefront.exceptions import NotFound
from storefront.ids import NotAWholeNumber, parse_bounded, parse_id
from storefront.models import LINE_MAX_QUANTITY


class WishInputError(ValueError):
    """Input the wishlist refuses; the message is for the shopper."""


class WishForm(FlaskForm):
    class Meta:
        csrf = False  # security.protect_forms has already checked the token for every POST

    product_id = StringField()
    quantity = StringField()

    def parsed_product_id(self) -> int:
        try:
            return parse_id(self.product_id.data)
        except NotAWholeNumber:
            raise WishInputError("That is not a product we know.") from None

    def parsed_quantity(self) -> int:
        if self.quantity.data is None:
            return 1
        try:
            return parse_bounded(self.quantity.data, 1, LINE_MAX_QUANTITY)
        except (NotAWholeNumber, NotFound):
            raise WishInputError(
                f"Quantity must be a whole number from 1 to {LINE_MAX_QUANTITY}.") from None


class ShareForm(FlaskForm):
    shared = BooleanField("Share my wishlist with a link")


class MoveAllForm(FlaskForm):
    """A button: move every item that can go to the cart."""
