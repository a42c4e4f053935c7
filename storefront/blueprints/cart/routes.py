"""The cart page and its actions (post/redirect/get with a flash), for guests and shoppers
alike through `current_cart()`."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for

from storefront import carts
from storefront.blueprints.cart import bp
from storefront.blueprints.cart.forms import CartInputError, CartLineForm
from storefront.blueprints.cart.session_cart import current_cart
from storefront.exceptions import CartFull, NotFound, NotInCart, SoldOut
from storefront.models import CART_MAX_LINES


def _cart_page(status: int = 200, refused_line: CartLineForm | None = None):  # noqa: ANN202
    return render_template(
        "cart/view.html", cart=current_cart().view(), refused_line=refused_line
    ), status


def _back_to_cart():  # noqa: ANN202
    return redirect(url_for("cart.view"), 303)


def _refused(error: CartInputError, form: CartLineForm):  # noqa: ANN202
    """422 with a flash; a refused line keeps what the shopper typed, tied to the message."""
    flash(str(error), "error")
    return _cart_page(422, refused_line=form if request.endpoint == "cart.update" else None)


def _flash_capped(result: carts.AddResult) -> None:
    flash(
        f"Only {result.product.stock} of {result.product.name} can be ordered: "
        f"your cart now has {result.quantity}.",
        "warning",
    )


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
    except NotFound:
        abort(404)
    except SoldOut as error:
        flash(f"Sorry, {error.product_name} is sold out.", "warning")
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
    except NotFound:
        abort(404)
    except NotInCart:
        flash("That product is not in your cart.", "warning")
    except SoldOut as error:
        flash(f"Sorry, {error.product_name} is sold out.", "warning")
    else:
        if result is None:
            flash("The line was removed from your cart.", "success")
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
    cart = current_cart()
    if cart.remove(product_id):
        flash("The line was removed from your cart.", "success")
        return _back_to_cart()
    try:
        carts.get_active_product(product_id)
    except NotFound:
        abort(404)
    flash("That product is not in your cart.", "warning")
    return _back_to_cart()


@bp.post("/clear")
def clear():  # noqa: ANN201
    current_cart().clear()
    flash("Your cart is empty.", "success")
    return _back_to_cart()
