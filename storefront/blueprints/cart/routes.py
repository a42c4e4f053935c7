"""The cart page and its actions (post/redirect/get with a flash), for guests and shoppers
alike through `current_cart()`. An unknown product is a 404 (the app's `NotFound` page); what
the cart refuses (bad input, sold out, not in the cart, full) is answered by this blueprint's
error handlers, so each view reads as its success path."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import flash, redirect, render_template, request, url_for

from storefront import carts
from storefront.blueprints.cart import bp
from storefront.blueprints.cart.forms import CartInputError, CartLineForm
from storefront.blueprints.cart.session_cart import current_cart
from storefront.blueprints.redirects import safe_next
from storefront.exceptions import CartFull, NotInCart, SoldOut
from storefront.models import CART_MAX_LINES, LINE_MAX_QUANTITY

NOT_IN_CART = "That product is not in your cart."
LINE_REMOVED = "The line was removed from your cart."


def _cart_page(status: int = 200, refused_line: CartLineForm | None = None):  # noqa: ANN202
    cart = current_cart()
    withdrawn = cart.take_withdrawn()
    if withdrawn:
        flash("No longer sold, so removed from your cart: " + ", ".join(withdrawn) + ".",
              "warning")
    return render_template("cart/view.html", cart=cart.view(), refused_line=refused_line,
                           continue_path=_continue_path()), status


def _continue_path() -> str:
    """Where "Continue shopping" goes: the shop page the shopper came from (same site, not
    the cart itself), else the catalog."""
    referrer = urlsplit(request.referrer or "")
    if referrer.netloc == request.host and not referrer.path.startswith(url_for("cart.view")):
        back = safe_next(referrer.path + (f"?{referrer.query}" if referrer.query else ""))
        if back:
            return back
    return url_for("catalog.index")


def _back_to_cart():  # noqa: ANN202
    return redirect(url_for("cart.view"), 303)


@bp.errorhandler(CartInputError)
def refused(error: CartInputError):  # noqa: ANN201
    """422 with a flash; a refused line keeps what the shopper typed, tied to the message."""
    flash(str(error), "error")
    return _cart_page(422, refused_line=error.form if request.endpoint == "cart.update" else None)


def _flash_saved(result: carts.AddResult, done: str) -> None:
    """`done` when the line holds what was asked; otherwise which cap held it back."""
    if not result.capped:
        flash(done, "success")
        return
    if result.quantity == LINE_MAX_QUANTITY < result.product.stock:
        limit = f"At most {LINE_MAX_QUANTITY} of {result.product.name} fit in one cart line"
    else:
        limit = f"Only {result.product.stock} of {result.product.name} can be ordered"
    flash(f"{limit}: your cart now has {result.quantity}.", "warning")


@bp.errorhandler(SoldOut)
def sold_out(error: SoldOut):  # noqa: ANN201
    flash(f"Sorry, {error.product_name} is sold out.", "warning")
    return _back_to_cart()


@bp.errorhandler(NotInCart)
def not_in_cart(_error: NotInCart):  # noqa: ANN201
    flash(NOT_IN_CART, "warning")
    return _back_to_cart()


@bp.errorhandler(CartFull)
def cart_full(_error: CartFull):  # noqa: ANN201
    flash(f"Your cart is full: it holds at most {CART_MAX_LINES} different products.", "warning")
    return _back_to_cart()


@bp.get("")
def view():  # noqa: ANN201
    return _cart_page()


@bp.post("/add")
def add():  # noqa: ANN201
    form = CartLineForm()
    product_id, quantity = form.parsed_line(minimum_quantity=1)
    result = current_cart().add(product_id, quantity)
    _flash_saved(result, f"Added {quantity} × {result.product.name} to your cart.")
    back = safe_next(form.next.data)
    return redirect(back, 303) if back else _back_to_cart()


@bp.post("/update")
def update():  # noqa: ANN201
    product_id, quantity = CartLineForm().parsed_line(minimum_quantity=0)
    result = current_cart().set(product_id, quantity)
    if result is None:
        flash(LINE_REMOVED, "success")
    else:
        _flash_saved(result, f"{result.product.name}: quantity set to {result.quantity}.")
    return _back_to_cart()


@bp.post("/remove")
def remove():  # noqa: ANN201
    product_id = CartLineForm().parsed_product_id()
    current_cart().remove(product_id)
    flash(LINE_REMOVED, "success")
    return _back_to_cart()


@bp.post("/clear")
def clear():  # noqa: ANN201
    current_cart().clear()
    flash("Your cart is empty.", "success")
    return _back_to_cart()
