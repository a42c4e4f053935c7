"""A guest who presses the heart is asked to sign in; the wished product waits in the session
and is added right after the sign-in (or registration) that follows."""

from __future__ import annotations

from flask import flash, session

from storefront import wishlist
from storefront.exceptions import NotFound, WishlistFull
from storefront.ids import fits
from storefront.models import LINE_MAX_QUANTITY, WISHLIST_MAX_ITEMS

PENDING_KEY = "wish"


def keep_pending_wish(product_id: int, quantity: int) -> None:
    session[PENDING_KEY] = [product_id, quantity]


def read_pending_wish() -> tuple[int, int] | None:
    """The product waiting to be wished for, re-checked (anything malformed is ignored)."""
    raw = session.get(PENDING_KEY)
    if (isinstance(raw, list) and len(raw) == 2 and type(raw[0]) is int and fits(raw[0])
            and type(raw[1]) is int and 1 <= raw[1] <= LINE_MAX_QUANTITY):
        return raw[0], raw[1]
    return None


def settle_pending_wish(user_id: int, pending: tuple[int, int] | None) -> None:
    """Add the waiting product after a sign-in (its own transaction: the sign-in stands
    whatever happens here) and say so."""
    if pending is None:
        return
    session.pop(PENDING_KEY, None)
    try:
        added = wishlist.add_item(user_id, *pending)
    except NotFound:
        flash("The product you wished for is no longer sold.", "warning")
    except WishlistFull:
        flash(f"Your wishlist is full: it holds at most {WISHLIST_MAX_ITEMS} products.",
              "warning")
    else:
        flash(f"Added {added.product.name} to your wishlist.", "success")
