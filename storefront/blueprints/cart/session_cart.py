"""`current_cart()`: one interface over the guest cart (session cookie) and the saved cart
(`user_carts`), so views never ask who is signed in. The only code that touches
`session["cart"]`."""

from __future__ import annotations

import secrets

from flask import flash, g, session
from flask_login import current_user

from storefront import carts
from storefront.exceptions import CartFull, NotInCart
from storefront.models import (
    CART_MAX_LINES,
    GUEST_TOKEN_MAX_CHARS,
    LINE_MAX_QUANTITY,
    PRODUCT_ID_MAX,
)

SESSION_KEY = "cart"
GUEST_TOKEN_BYTES = 16


def read_guest_cart() -> carts.GuestCart | None:
    """The guest cart in the session, re-checked: anything malformed is left out."""
    raw = session.get(SESSION_KEY)
    if not isinstance(raw, dict):
        return None
    token, raw_lines = raw.get("token"), raw.get("lines")
    if not isinstance(token, str) or not 0 < len(token) <= GUEST_TOKEN_MAX_CHARS:
        return None
    lines: dict[int, int] = {}
    if isinstance(raw_lines, dict):
        for key, quantity in list(raw_lines.items())[:CART_MAX_LINES]:
            if (isinstance(key, str) and key.isascii() and key.isdigit()
                    and 1 <= int(key) <= PRODUCT_ID_MAX
                    and type(quantity) is int and 1 <= quantity <= LINE_MAX_QUANTITY):
                lines[int(key)] = quantity
    return carts.GuestCart(token, lines)


def keep_guest_cart(guest: carts.GuestCart) -> None:
    """Put guest lines (back) into the session, e.g. after a merge that failed."""
    session[SESSION_KEY] = {
        "token": guest.token, "lines": {str(pid): qty for pid, qty in guest.lines.items()}
    }


def drop_guest_cart() -> None:
    session.pop(SESSION_KEY, None)


class GuestSessionCart:
    """The cart of a visitor who is not signed in, kept in the signed session cookie."""

    def __init__(self) -> None:
        self._guest = read_guest_cart()
        self._view: carts.CartView | None = None

    def _lines(self) -> dict[int, int]:
        return dict(self._guest.lines) if self._guest else {}

    def _save(self, lines: dict[int, int]) -> None:
        token = self._guest.token if self._guest else secrets.token_urlsafe(GUEST_TOKEN_BYTES)
        self._guest = carts.GuestCart(token, lines)
        self._view = None
        keep_guest_cart(self._guest)

    def view(self) -> carts.CartView:
        if self._view is None:
            self._view = carts.view_of(self._lines())
        return self._view

    def count(self) -> int:
        if self._view is not None:
            return self._view.count
        return carts.count_of(self._lines())

    def add(self, product_id: int, quantity: int) -> carts.AddResult:
        product = carts.get_purchasable_product(product_id)
        lines = self._lines()
        existing = lines.get(product_id, 0)
        if not existing and len(lines) >= CART_MAX_LINES:
            raise CartFull(CART_MAX_LINES)
        wanted = existing + quantity
        lines[product_id] = carts.cap_quantity(wanted, product.stock)
        self._save(lines)
        return carts.AddResult(product, lines[product_id], capped=lines[product_id] < wanted)

    def set(self, product_id: int, quantity: int) -> carts.AddResult | None:
        lines = self._lines()
        if quantity == 0:
            if product_id not in lines:
                raise NotInCart(carts.get_active_product(product_id).name)
            del lines[product_id]
            self._save(lines)
            return None
        product = carts.get_purchasable_product(product_id)
        if product_id not in lines:
            raise NotInCart(product.name)
        lines[product_id] = carts.cap_quantity(quantity, product.stock)
        self._save(lines)
        return carts.AddResult(product, lines[product_id], capped=lines[product_id] < quantity)

    def remove(self, product_id: int) -> bool:
        lines = self._lines()
        if lines.pop(product_id, None) is None:
            return False
        self._save(lines)
        return True

    def clear(self) -> None:
        lines = self._lines()
        if lines:
            self._save({})


class SavedCart:
    """The cart of a signed-in shopper: rows in `user_carts`, changed in SQL only."""

    def __init__(self, user_id: int) -> None:
        self.user_id = user_id
        self._view: carts.CartView | None = None

    def view(self) -> carts.CartView:
        if self._view is None:
            self._view = carts.get_saved_cart(self.user_id)
        return self._view

    def count(self) -> int:
        if self._view is not None:
            return self._view.count
        return carts.count_saved_cart(self.user_id)

    def add(self, product_id: int, quantity: int) -> carts.AddResult:
        self._view = None
        return carts.add_to_saved_cart(self.user_id, product_id, quantity)

    def set(self, product_id: int, quantity: int) -> carts.AddResult | None:
        self._view = None
        return carts.set_saved_quantity(self.user_id, product_id, quantity)

    def remove(self, product_id: int) -> bool:
        self._view = None
        return carts.remove_from_saved_cart(self.user_id, product_id)

    def clear(self) -> None:
        self._view = None
        carts.clear_saved_cart(self.user_id)


def current_cart() -> GuestSessionCart | SavedCart:
    """The cart of whoever is making this request (one object per request)."""
    if "cart" not in g:
        g.cart = SavedCart(current_user.id) if current_user.is_authenticated else GuestSessionCart()
    return g.cart


def flash_merge_receipt(result: carts.MergeResult) -> None:
    """One flash naming every line the merge summed, capped or dropped (the "receipt")."""
    if result.notes:
        flash(
            "Your cart from this visit was merged into your saved cart: "
            + "; ".join(note.text for note in result.notes) + ".",
            "warning" if result.has_warnings else "info",
        )
    elif result.merged and result.lines_kept:
        flash("Your cart from this visit was added to your saved cart.", "info")


def settle_guest_cart(guest: carts.GuestCart | None, result: carts.MergeResult) -> None:
    """After a sign-in has started its fresh session: keep the guest lines if their merge
    failed (it is retried on the next request), else show the receipt."""
    if result.failed and guest is not None:
        keep_guest_cart(guest)
        return
    flash_merge_receipt(result)


def retry_pending_merge() -> None:
    """A signed-in shopper with guest lines still in the session: their merge failed at
    sign-in. Try again; on success (or if it was merged meanwhile) the lines leave the cookie."""
    if SESSION_KEY not in session or not current_user.is_authenticated:
        return
    guest = read_guest_cart()
    if guest is None or not guest.lines:
        drop_guest_cart()
        return
    result = carts.retry_merge(current_user.id, guest)
    if not result.failed:
        drop_guest_cart()
        flash_merge_receipt(result)
