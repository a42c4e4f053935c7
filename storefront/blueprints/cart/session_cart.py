"""`current_cart()`: one interface over the guest cart (session cookie) and the saved cart
(`user_carts`), so views never ask who is signed in. The only code that touches
`session["cart"]`; the rules both carts follow are in `storefront.carts`.

The cookie holds `{"token": ..., "lines": [[product_id, quantity], ...]}`: a list, not an
object, because the session serializer sorts object keys and the lines must keep the order
the shopper added them in.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable

from flask import flash, g, request, session
from flask_login import current_user

from storefront import carts
from storefront.carts import MergeOutcome, MergeStatus
from storefront.exceptions import NotFound
from storefront.ids import fits
from storefront.models import CART_MAX_LINES, GUEST_TOKEN_MAX_CHARS, LINE_MAX_QUANTITY

SESSION_KEY = "cart"
GUEST_TOKEN_BYTES = 16
# The receipt travels in the session cookie (a flash), which browsers drop past 4 KB: it
# names lines while it stays under this many bytes (as the cookie's JSON spells them), then
# sums up the rest.
RECEIPT_MAX_BYTES = 1200
RECEIPT_NAME_MAX_CHARS = 60


def read_guest_cart() -> carts.GuestCart | None:
    """The guest cart in the session, re-checked: anything malformed is left out."""
    raw = session.get(SESSION_KEY)
    if not isinstance(raw, dict):
        return None
    token, raw_lines = raw.get("token"), raw.get("lines")
    if not isinstance(token, str) or not 0 < len(token) <= GUEST_TOKEN_MAX_CHARS:
        return None
    lines: dict[int, int] = {}
    if isinstance(raw_lines, list):
        for pair in raw_lines[:CART_MAX_LINES]:
            if (isinstance(pair, list) and len(pair) == 2
                    and type(pair[0]) is int and fits(pair[0])
                    and type(pair[1]) is int and 1 <= pair[1] <= LINE_MAX_QUANTITY):
                lines.setdefault(pair[0], pair[1])
    return carts.GuestCart(token, lines)


def keep_guest_cart(guest: carts.GuestCart) -> None:
    """Put guest lines (back) into the session, e.g. after a merge that failed."""
    session[SESSION_KEY] = {
        "token": guest.token, "lines": [[pid, qty] for pid, qty in guest.lines.items()]
    }


def drop_guest_cart() -> None:
    session.pop(SESSION_KEY, None)


class GuestSessionCart:
    """The cart of a visitor who is not signed in, kept in the signed session cookie."""

    def __init__(self) -> None:
        self._guest = read_guest_cart()
        self._view: carts.CartView | None = None
        self._later_count: Callable[[], int] | None = None

    def _lines(self) -> dict[int, int]:
        return dict(self._guest.lines) if self._guest else {}

    def _save(self, lines: dict[int, int]) -> None:
        token = self._guest.token if self._guest else secrets.token_urlsafe(GUEST_TOKEN_BYTES)
        self._guest = carts.GuestCart(token, lines)
        self._view = self._later_count = None
        keep_guest_cart(self._guest)

    def view(self) -> carts.CartView:
        if self._view is None:
            self._view = carts.view_of(self._lines())
        return self._view

    def count(self) -> int:
        if self._view is not None:
            return self._view.count
        if self._later_count is not None:
            return self._later_count()
        return carts.count_of(self._lines())

    def count_with_next_statement(self) -> None:
        """Read the header's count in the round trip of the page's own query."""
        self._later_count = carts.count_of_later(self._lines())

    def add(self, product_id: int, quantity: int) -> carts.AddResult:
        lines, result = carts.add_to_guest_lines(self._lines(), product_id, quantity)
        self._save(lines)
        return result

    def set(self, product_id: int, quantity: int) -> carts.AddResult | None:
        lines, result = carts.set_guest_quantity(self._lines(), product_id, quantity)
        self._save(lines)
        return result

    def remove(self, product_id: int) -> None:
        self._save(carts.remove_from_guest_lines(self._lines(), product_id))

    def clear(self) -> None:
        if self._lines():
            self._save({})

    def take_withdrawn(self) -> list[str]:
        """Remove the lines of products no longer sold; their names, for one notice."""
        withdrawn = self.view().withdrawn
        if withdrawn:
            gone = {line.product.id for line in withdrawn}
            self._save({pid: qty for pid, qty in self._lines().items() if pid not in gone})
        return [line.product.name for line in withdrawn]


class SavedCart:
    """The cart of a signed-in shopper: rows in `user_carts`, changed in SQL only."""

    def __init__(self, user_id: int, count: int | None = None) -> None:
        self.user_id = user_id
        self._view: carts.CartView | None = None
        self._count = count  # read with the session, until the cart changes

    def view(self) -> carts.CartView:
        if self._view is None:
            self._view = carts.get_saved_cart(self.user_id)
        return self._view

    def count(self) -> int:
        if self._view is not None:
            return self._view.count
        if self._count is None:
            self._count = carts.count_saved_cart(self.user_id)
        return self._count

    def _changed(self) -> None:
        self._view = self._count = None

    def add(self, product_id: int, quantity: int) -> carts.AddResult:
        self._changed()
        return carts.add_to_saved_cart(self.user_id, product_id, quantity)

    def set(self, product_id: int, quantity: int) -> carts.AddResult | None:
        self._changed()
        return carts.set_saved_quantity(self.user_id, product_id, quantity)

    def remove(self, product_id: int) -> None:
        self._changed()
        carts.remove_from_saved_cart(self.user_id, product_id)

    def clear(self) -> None:
        self._changed()
        carts.clear_saved_cart(self.user_id)

    def take_withdrawn(self) -> list[str]:
        """Remove the lines of products no longer sold; their names, for one notice."""
        withdrawn = self.view().withdrawn
        if withdrawn:
            carts.remove_withdrawn_saved_lines(
                self.user_id, [line.product.id for line in withdrawn]
            )
            self._view = carts.CartView(
                [line for line in self.view().lines if not line.withdrawn]
            )
        return [line.product.name for line in withdrawn]


def current_cart() -> GuestSessionCart | SavedCart:
    """The cart of whoever is making this request (one object per request)."""
    if "cart" not in g:
        g.cart = (SavedCart(current_user.id, current_user.cart_count)
                  if current_user.is_authenticated else GuestSessionCart())
    return g.cart


def cart_count() -> int:
    """The header's `data-cart-count`: what can be bought now, for guests and shoppers."""
    if g.get("plain_page"):  # an error page for hostile input or a database outage
        return 0
    return current_cart().count()


# The merge receipt: the service gives facts, these are the words ------------------------------

def _name(line: carts.MergedLine) -> str:
    name = line.product_name or f"Product #{line.product_id}"
    return name if len(name) <= RECEIPT_NAME_MAX_CHARS else name[:RECEIPT_NAME_MAX_CHARS - 1] + "…"


def describe_merged_line(line: carts.MergedLine) -> str:
    """One line of the receipt: `Tea: 6 wanted, set to 4 (only 4 in stock)`."""
    name, outcome = _name(line), line.outcome
    wanted = line.saved + line.guest
    if outcome is MergeOutcome.ADDED:
        return f"{name}: {line.final} added"
    if outcome is MergeOutcome.SUMMED:
        return f"{name}: {line.saved} saved + {line.guest} from this visit = {line.final}"
    if outcome is MergeOutcome.CAPPED_AT_STOCK:
        return f"{name}: {wanted} wanted, set to {line.final} (only {line.stock} in stock)"
    if outcome is MergeOutcome.CAPPED_AT_LINE_MAX:
        return (f"{name}: {wanted} wanted, set to {line.final} "
                f"(at most {LINE_MAX_QUANTITY} per line)")
    if outcome is MergeOutcome.DROPPED_SOLD_OUT:
        return f"{name}: removed, sold out"
    if outcome is MergeOutcome.DROPPED_CART_FULL:
        return f"{name}: removed, a cart holds at most {CART_MAX_LINES} lines"
    return f"{name}: removed, no longer available"


def merge_receipt(result: carts.MergeResult) -> tuple[str, str] | None:
    """The receipt's (text, flash category), or None when there is nothing to say.

    Names every summed, capped or dropped line while the text stays small enough for the
    session cookie, then counts the rest ("and 42 more lines: see your cart").
    """
    if result.status is MergeStatus.ALREADY_MERGED:
        return ("This cart was already added to your account at an earlier sign-in, "
                "so nothing was added again.", "info")
    if result.status is not MergeStatus.MERGED:
        return None
    noted = [line for line in result.lines if line.outcome is not MergeOutcome.ADDED]
    if not noted:
        return ("Your cart from this visit was added to your saved cart.", "info"
                ) if result.lines_kept else None
    intro = "Your cart from this visit was merged into your saved cart: "
    parts: list[str] = []
    size = len(json.dumps(intro))
    for line in noted:
        part = describe_merged_line(line)
        if size + len(json.dumps(part)) > RECEIPT_MAX_BYTES:
            break
        parts.append(part)
        size += len(json.dumps(part))
    rest = len(noted) - len(parts)
    text = intro + "; ".join(parts)
    if rest:
        lines = "line" if rest == 1 else "lines"
        text += f"{'; ' if parts else ''}and {rest} more {lines}: see your cart"
    warning = any(line.outcome.capped or line.outcome.dropped for line in noted)
    return text + ".", "warning" if warning else "info"


def flash_merge_receipt(result: carts.MergeResult) -> None:
    """One flash for the merge: every summed, capped or dropped line (the "receipt")."""
    receipt = merge_receipt(result)
    if receipt:
        flash(*receipt)


def settle_guest_cart(guest: carts.GuestCart | None, result: carts.MergeResult) -> None:
    """After a sign-in has started its fresh session: keep the guest lines if their merge
    failed (it is retried on the next request), else show the receipt."""
    if result.failed and guest is not None:
        keep_guest_cart(guest)
        return
    flash_merge_receipt(result)


# GET pages whose header shows the count and that do not read the cart lines themselves.
COUNT_ELSEWHERE = frozenset({"cart.view", "static"})


def count_guest_cart_with_the_page() -> None:
    """A returning guest's header count rides with the page's own query (one round trip)."""
    if (request.method != "GET" or request.endpoint in COUNT_ELSEWHERE
            or request.endpoint is None or request.path.startswith("/api/")
            or SESSION_KEY not in session or current_user.is_authenticated):
        return
    cart = current_cart()
    if isinstance(cart, GuestSessionCart):
        cart.count_with_next_statement()


def retry_pending_merge() -> None:
    """A signed-in shopper with guest lines still in the session: their merge failed at
    sign-in. Try again; on success (or if it was merged meanwhile) the lines leave the cookie."""
    if SESSION_KEY not in session or not current_user.is_authenticated:
        return
    guest = read_guest_cart()
    if guest is None or not guest.lines:
        drop_guest_cart()
        return
    try:
        result = carts.retry_merge(current_user.id, guest)
    except NotFound:  # the account was deleted meanwhile: nothing to merge into
        drop_guest_cart()
        return
    if not result.failed:
        drop_guest_cart()
        flash_merge_receipt(result)
