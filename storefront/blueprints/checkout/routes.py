"""The address book, the checkout and the order history. Every object is reached through
current_user.id; another account's address or order is a 404."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required

from storefront import addresses, orders
from storefront.blueprints.checkout import bp
from storefront.blueprints.checkout.forms import RELOAD, AddressForm, ButtonForm, CheckoutForm
from storefront.blueprints.redirects import safe_next
from storefront.exceptions import (
    AddressInvalid,
    CheckoutChanged,
    ImpossibleTransition,
    NotFound,
    TooManyAddresses,
    UnknownPaymentMethod,
)
from storefront.ids import NotAWholeNumber, parse_bounded, parse_id
from storefront.models import ADDRESSES_MAX, MAX_PAGE

# The review the checkout page showed: its idempotency key and (product id, quantity, unit
# price) per line. Only this module touches it.
CHECKOUT_KEY = "checkout"
STATUS_WORDS = {"placed": "Awaiting payment", "paid": "Paid", "shipped": "Shipped",
                "delivered": "Delivered", "cancelled": "Cancelled"}


@bp.before_request
@login_required
def require_login() -> None:
    """Every page here needs a signed-in shopper; anonymous visitors go to sign in (and come
    back, their guest cart merged)."""


@bp.app_context_processor
def _words() -> dict[str, object]:
    return {"STATUS_WORDS": STATUS_WORDS}


# The address book ------------------------------------------------------------------------------

def _after_address():  # noqa: ANN202
    return redirect(safe_next(request.args.get("next")) or url_for("checkout.addresses"), 303)


def _address_form_page(form: AddressForm, address_id: int | None, status: int):  # noqa: ANN202
    return render_template("checkout/address_form.html", form=form, address_id=address_id,
                           next_url=safe_next(request.args.get("next"))), status


def _save_address(form: AddressForm, address_id: int | None):  # noqa: ANN202
    """Validate and save; 422 with the field errors the country's rules gave."""
    if form.validate_on_submit():
        try:
            if address_id is None:
                addresses.add_address(current_user.id, form.address_data())
            else:
                addresses.update_address(current_user.id, address_id, form.address_data())
        except AddressInvalid as error:
            for name, messages in error.errors.items():
                getattr(form, name).errors = [*getattr(form, name).errors, *messages]
        except TooManyAddresses:
            flash(f"Your address book is full: it holds at most {ADDRESSES_MAX} addresses. "
                  "Delete one to add another.", "error")
        else:
            flash("The address was saved.", "success")
            return _after_address()
    return _address_form_page(form, address_id, 422 if form.is_submitted() else 200)


@bp.get("/account/addresses", endpoint="addresses")
def addresses_page():  # noqa: ANN201
    return render_template("checkout/addresses.html",
                           addresses=addresses.list_addresses(current_user.id),
                           button=ButtonForm(), ADDRESSES_MAX=ADDRESSES_MAX,
                           one_line=addresses.one_line)


@bp.route("/account/addresses/new", methods=["GET", "POST"])
def new_address():  # noqa: ANN201
    return _save_address(AddressForm(), None)


@bp.route("/account/addresses/<id:address_id>/edit", methods=["GET", "POST"])
def edit_address(address_id: int):  # noqa: ANN201
    current = addresses.get_address(current_user.id, address_id)
    return _save_address(AddressForm(obj=current), address_id)


@bp.post("/account/addresses/<id:address_id>/delete")
def delete_address(address_id: int):  # noqa: ANN201
    addresses.delete_address(current_user.id, address_id)
    flash("The address was deleted. Orders keep their own copy.", "success")
    return redirect(url_for("checkout.addresses"), 303)


# The checkout ---------------------------------------------------------------------------------

def _review_page(form: CheckoutForm, status: int = 200, changes: list[str] | None = None):  # noqa: ANN202
    """The review with a fresh idempotency key and the snapshot of what it shows."""
    review = orders.review_checkout(current_user.id)
    key = orders.new_idempotency_key()
    session[CHECKOUT_KEY] = {"key": key, "lines": [list(line) for line in review.snapshot]}
    orders.record_checkout_view(current_user.id)
    if not form.is_submitted():
        form.shipping_address_id.data = str(review.default("shipping") or "")
        default_billing = review.default("billing")
        form.billing_address_id.data = "" if default_billing in (
            None, review.default("shipping")) else str(default_billing)
        form.payment_method.data = form.payment_method.data or "bank_transfer"
    form.idempotency_key.data = key
    return render_template("checkout/review.html", review=review, form=form,
                           changes=changes or [], one_line=addresses.one_line), status


def _reviewed_snapshot(key: str) -> orders.Snapshot | None:
    """The snapshot the review with this key showed (None: another page's key, or none)."""
    state = session.get(CHECKOUT_KEY)
    if not isinstance(state, dict) or state.get("key") != key:
        return None
    try:
        return tuple((int(pid), int(qty), str(price)) for pid, qty, price in state["lines"])
    except (KeyError, TypeError, ValueError):
        return None


def _address_id(field) -> int | None:  # noqa: ANN001
    """The id in a field: None when empty, a field error (ValueError) when not a number, a
    404 (NotFound) when out of range."""
    if not field.data:
        return None
    try:
        return parse_id(field.data)
    except NotAWholeNumber:
        field.errors = [*field.errors, "Choose an address from the list."]
        raise ValueError(field.name) from None


@bp.route("/checkout", methods=["GET", "POST"])
def review():  # noqa: ANN201
    form = CheckoutForm()
    if request.method == "GET":
        return _review_page(form)
    if not form.validate_on_submit():
        return _review_page(form, 422)
    key = form.idempotency_key.data
    if not orders.is_idempotency_key(key):
        return _review_page(form, 422, [RELOAD])
    try:
        shipping_id = _address_id(form.shipping_address_id)
        billing_id = _address_id(form.billing_address_id)
    except ValueError:
        return _review_page(form, 422)
    try:
        placed = orders.place_order(current_user.id, key, _reviewed_snapshot(key),
                                    shipping_id, billing_id, form.payment_method.data)
    except CheckoutChanged as error:
        return _review_page(form, 422, error.changes)
    except UnknownPaymentMethod:
        form.payment_method.errors = ["Choose how you will pay."]
        return _review_page(form, 422)
    session.pop(CHECKOUT_KEY, None)
    if placed.created:
        flash(f"Thank you! Your order {placed.order.number} is placed.", "success")
    else:
        flash(f"Your order {placed.order.number} was already placed: here it is.", "info")
    return redirect(url_for("checkout.order", number=placed.order.number), 303)


# The order history --------------------------------------------------------------------------

def _page_number() -> int:
    raw = request.args.get("page")
    if raw is None:
        return 1
    try:
        return parse_bounded(raw, 1, MAX_PAGE)
    except (NotAWholeNumber, NotFound):
        abort(404)


@bp.get("/account/orders", endpoint="orders")
def orders_page():  # noqa: ANN201
    page = _page_number()
    views, has_next = orders.list_orders(current_user.id, page)
    if page > 1 and not views:
        abort(404)
    return render_template("checkout/orders.html", views=views, page=page, has_next=has_next)


def _order_page(view: orders.OrderView, status: int = 200):  # noqa: ANN202
    return render_template("checkout/order.html", view=view, button=ButtonForm(),
                           instructions=orders.payment_instructions(view.order)), status


@bp.get("/account/orders/<number>")
def order(number: str):  # noqa: ANN201
    return _order_page(orders.get_order(current_user.id, number))


@bp.post("/account/orders/<number>/cancel")
def cancel_order(number: str):  # noqa: ANN201
    try:
        orders.cancel_order(current_user.id, number)
    except ImpossibleTransition as error:
        flash(f"Order {error.number} cannot be cancelled: it is "
              f"{STATUS_WORDS.get(error.current, error.current).lower()}.", "error")
        return _order_page(orders.get_order(current_user.id, number), 409)
    flash(f"Your order {number} is cancelled.", "success")
    return redirect(url_for("checkout.order", number=number), 303)
