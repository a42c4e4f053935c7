"""The cart page and its actions (post/redirect/get with a flash), for guests and shoppers
alike through `current_cart()`. An unknown product is a 404 (the app's `NotFound` page)."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for

from storefront import carts
from storefront.blueprints.cart import bp
from storefront.blueprints.cart.forms import CartInputError, CartLineForm
from storefront.blueprints.cart.session_cart import current_cart
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
    return render_template("cart/view.html", cart=cart.view(), refused_line=refused_line), status


def _back_to_cart():  # noqa: ANN202
    return redirect(url_for("cart.view"), 303)


def _refused(error: CartInputError, form: CartLineForm):  # noqa: ANN202
    """422 with a flash; a refused line keeps what the shopper typed, tied to the message."""
    flash(str(error), "error")
    return _cart_page(422, refused_line=form if request.endpoint == "cart.update" else None)


def _flash_capped(result: carts.AddResult) -> None:
    if result.quantity == LINE_MAX_QUANTITY < result.product.stock:
        limit = f"At most {LINE_MAX_QUANTITY} of {result.product.name} fit in one cart line"
    else:
        limit = f"Only {result.product.stock} of {result.product.name} can be ordered"
    flash(f"{limit}: your cart now has {result.quantity}.", "warning")


def _flash_sold_out(error: SoldOut) -> None:
    flash(f"Sorry, {error.product_name} is sold out.", "warning")


@bp.get("")
def view():  # noqa: ANN201
    return _cart_page()


@bp.post("/add")
def add():  # noqa: ANN201
    form = CartLineForm()
    try:
        product_id, quantity = form.parsed_product_id(), form.parsed_quantity(minimum=1)
    except CartInputError as error:
        return _refused(error, form)
    try:
        result = current_cart().add(product_id, quantity)
    except SoldOut as error:
        _flash_sold_out(error)
    except CartFull:
        flash(f"Your cart is full: it holds at most {CART_MAX_LINES} different products.",
              "warning")
    else:
        if result.capped:
            _flash_capped(result)
        else:
            flash(f"Added {quantity} × {result.product.name} to your cart.", "success")
    return _back_to_cart()


@bp.post("/update")
def update():  # noqa: ANN201
    form = CartLineForm()
    try:
        product_id, quantity = form.parsed_product_id(), form.parsed_quantity(minimum=0)
    except CartInputError as error:
        return _refused(error, form)
    try:
        result = current_cart().set(product_id, quantity)
    except NotInCart:
        flash(NOT_IN_CART, "warning")
    except SoldOut as error:
        _flash_sold_out(error)
    else:
        if result is None:
            flash(LINE_REMOVED, "success")
        elif result.capped:
            _flash_capped(result)
        else:
            flash(f"{result.product.name}: quantity set to {result.quantity}.", "success")
    return _back_to_cart()


@bp.post("/remove")
def remove():  # noqa: ANN201
    form = CartLineForm()
    try:
        product_id = form.parsed_product_id()
    except CartInputError as error:
        return _refused(error, form)
    try:
        current_cart().remove(product_id)
    except NotInCart:
        flash(NOT_IN_CART, "warning")
    else:
        flash(LINE_REMOVED, "success")
    return _back_to_cart()


@bp.post("/clear")
def clear():  # noqa: ANN201
    current_cart().clear()
    flash("Your cart is empty.", "success")
    return _back_to_cart()
