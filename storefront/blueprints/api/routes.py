"""JSON for scripts: the signed-in shopper and their profile. Errors are JSON too."""

from __future__ import annotations

from flask import abort, jsonify, request, url_for
from flask_login import current_user, login_required
from werkzeug.datastructures import MultiDict

from storefront import accounts, orders
from storefront.auth_setup import SIGN_IN_FIRST
from storefront.blueprints.account.forms import ProfileForm
from storefront.blueprints.api import bp, openapi
from storefront.blueprints.cart.session_cart import current_cart
from storefront.extensions import csrf
from storefront.ids import NotAWholeNumber, parse_bounded
from storefront.models import MAX_PAGE, Order, Profile
from storefront.security import CSRF_CHECKED_METHODS
from storefront.templating import plain_money

STRING_FIELDS = ("first_name", "last_name", "phone")
ORDER_ADDRESS_KEYS = ("name", "line1", "line2", "city", "postal_code", "region", "country",
                      "phone")


def profile_json(profile: Profile) -> dict[str, object]:
    return {
        "first_name": profile.first_name,
        "last_name": profile.last_name,
        "phone": profile.phone,
        "marketing_opt_in": profile.marketing_opt_in,
    }


@bp.before_request
def writes_need_a_session_and_a_token():  # noqa: ANN201
    """A write needs a signed-in shopper (else 401, before anything else is said) and the
    session's CSRF token in `X-CSRFToken` (else 400 naming that header, errors.py)."""
    if request.method in CSRF_CHECKED_METHODS:
        if not current_user.is_authenticated:
            return jsonify(error=SIGN_IN_FIRST), 401
        csrf.protect()
    return None


@bp.get("/me")
@login_required
def me():  # noqa: ANN201
    profile = accounts.get_profile(current_user.id)
    key = current_user.avatar_key
    avatar_url = url_for("media.image", filename=f"{key}-256.webp") if key else None
    return jsonify(id=current_user.id, email=current_user.email, profile=profile_json(profile),
                   avatar_url=avatar_url)


@bp.get("/profile")
@login_required
def get_profile():  # noqa: ANN201
    return jsonify(profile_json(accounts.get_profile(current_user.id)))


def _type_errors(changes: dict[str, object]) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for field in STRING_FIELDS:
        if field in changes and not (
            isinstance(changes[field], str) or (field == "phone" and changes[field] is None)
        ):
            errors[field] = ["Must be a string."]
    if "marketing_opt_in" in changes and not isinstance(changes["marketing_opt_in"], bool):
        errors["marketing_opt_in"] = ["Must be true or false."]
    return errors


@bp.put("/profile")
@login_required
def put_profile():  # noqa: ANN201
    """Partial update: any subset of the profile keys; unknown keys are ignored."""
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict):
        abort(400)
    changes = {key: payload[key] for key in accounts.PROFILE_FIELDS if key in payload}
    errors = _type_errors(changes)
    if errors:
        return jsonify(errors=errors), 422
    merged = {**profile_json(accounts.get_profile(current_user.id)), **changes}
    formdata = MultiDict(
        {key: value for key, value in merged.items() if key != "marketing_opt_in" and value}
    )
    if merged["marketing_opt_in"]:
        formdata["marketing_opt_in"] = "y"
    form = ProfileForm(formdata=formdata, meta={"csrf": False})
    if not form.validate():
        return jsonify(errors={key: form.errors[key] for key in form.errors}), 422
    profile = accounts.update_profile(
        current_user.id, {key: form.data[key] for key in changes}
    )
    return jsonify(profile_json(profile))


@bp.get("/cart")
def cart():  # noqa: ANN201
    """The current cart, guest or saved: prices and names from `products`."""
    view = current_cart().view()
    return jsonify(
        lines=[
            {
                "product_id": line.product.id,
                "name": line.product.name,
                "unit_price": plain_money(line.product.price),
                "quantity": line.quantity,
                "line_total": plain_money(line.line_total),
                "available": line.available,
            }
            for line in view.lines
        ],
        subtotal=plain_money(view.subtotal),
        count=view.count,
    )


def _address_json(order: Order, prefix: str) -> dict[str, object]:
    return {name: getattr(order, f"{prefix}_{name}") for name in ORDER_ADDRESS_KEYS}


def order_json(view: orders.OrderView) -> dict[str, object]:
    order = view.order
    return {
        "number": order.number,
        "status": order.status,
        "placed_at": order.placed_at.isoformat(),
        "currency": order.currency,
        "subtotal": plain_money(order.subtotal),
        "shipping": plain_money(order.shipping),
        "total": plain_money(order.total),
        "payment_method": order.payment_method,
        "payment_reference": order.payment_reference,
        "shipping_address": _address_json(order, "ship"),
        "billing_address": _address_json(order, "bill"),
        "lines": [
            {
                "product_id": line.product_id,
                "sku": line.sku,
                "name": line.name,
                "unit_price": plain_money(line.unit_price),
                "quantity": line.quantity,
                "line_total": plain_money(line.line_total),
            }
            for line in view.lines
        ],
    }


@bp.get("/orders")
@login_required
def list_orders():  # noqa: ANN201
    """The shopper's orders, newest first, `ORDERS_PER_PAGE` a page (`?page=N`; a page past
    the last is empty; not a whole number 1..MAX_PAGE: 404)."""
    raw = request.args.get("page", "1")
    try:
        page = parse_bounded(raw, 1, MAX_PAGE)
    except NotAWholeNumber:
        abort(404)
    views, has_next = orders.list_orders(current_user.id, page)
    return jsonify(orders=[order_json(view) for view in views], page=page, has_next=has_next)


@bp.get("/orders/<number>")
@login_required
def get_order(number: str):  # noqa: ANN201
    return jsonify(order_json(orders.get_order(current_user.id, number)))


@bp.get("/openapi.json")
def openapi_document():  # noqa: ANN201
    """This API described as OpenAPI 3.1 (openapi.py): public, like the shop's pages."""
    return jsonify(openapi.DOCUMENT)
