"""The cart's inputs. CONTRACT.md: `quantity` absent means 1; empty, not an integer or out of
range is refused (422); a `product_id` that is not an integer is refused (422)."""

from __future__ import annotations

import re

from flask_wtf import FlaskForm
from wtforms import StringField

from storefront.models import LINE_MAX_QUANTITY

INTEGER = re.compile(r"[+-]?[0-9]{1,30}")
QUANTITY = re.compile(r"[0-9]{1,3}")


class CartInputError(ValueError):
    """Input the cart refuses; the message is for the shopper."""


class CartLineForm(FlaskForm):
    """`product_id` and `quantity` for add, update and remove (CSRF checked app-wide)."""

    class Meta:
        csrf = False  # CSRFProtect has already checked the token for every POST

    product_id = StringField()
    quantity = StringField()

    def parsed_product_id(self) -> int:
        raw = self.product_id.data
        if raw is None or not INTEGER.fullmatch(raw):
            raise CartInputError("That is not a product we know.")
        return int(raw)

    def parsed_quantity(self, minimum: int) -> int:
        raw = self.quantity.data
        if raw is None:
            return 1
        if not QUANTITY.fullmatch(raw) or not minimum <= int(raw) <= LINE_MAX_QUANTITY:
            raise CartInputError(
                f"Quantity must be a whole number from {minimum} to {LINE_MAX_QUANTITY}."
            )
        return int(raw)
