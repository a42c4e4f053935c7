"""The cart's inputs. CONTRACT.md: `quantity` absent means 1; empty, not an integer or out of
range is refused (422); a `product_id` that is not an integer is refused (422), one that no
row can have names nothing (404, from `ids.parse_id`)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import StringField

from storefront.exceptions import NotFound
from storefront.ids import NotAWholeNumber, parse_bounded, parse_id
from storefront.models import LINE_MAX_QUANTITY


class CartInputError(ValueError):
    """Input the cart refuses; the message is for the shopper, the form keeps what was typed."""

    def __init__(self, message: str, form: CartLineForm) -> None:
        super().__init__(message)
        self.form = form


class CartLineForm(FlaskForm):
    """`product_id` and `quantity` for add, update and remove (CSRF checked app-wide)."""

    class Meta:
        csrf = False  # security.protect_forms has already checked the token for every POST

    product_id = StringField()
    quantity = StringField()
    # Where an add goes back to (the catalog page it was sent from); same-site paths only.
    next = StringField()

    def parsed_product_id(self) -> int:
        try:
            return parse_id(self.product_id.data)
        except NotAWholeNumber:
            raise CartInputError("That is not a product we know.", self) from None

    def parsed_quantity(self, minimum: int) -> int:
        raw = self.quantity.data
        if raw is None:
            return 1
        try:
            return parse_bounded(raw, minimum, LINE_MAX_QUANTITY)
        except (NotAWholeNumber, NotFound):
            raise CartInputError(
                f"Quantity must be a whole number from {minimum} to {LINE_MAX_QUANTITY}.", self
            ) from None

    def parsed_line(self, minimum_quantity: int) -> tuple[int, int]:
        """The product id and the quantity, each checked (CartInputError names the first wrong)."""
        return self.parsed_product_id(), self.parsed_quantity(minimum=minimum_quantity)
