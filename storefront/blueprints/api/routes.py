"""JSON for scripts: the signed-in shopper and their profile. Errors are JSON too."""

from __future__ import annotations

from flask import abort, jsonify, request
from flask_login import current_user, login_required
from werkzeug.datastructures import MultiDict

from storefront import accounts
from storefront.auth_setup import SIGN_IN_FIRST
from storefront.blueprints.account.forms import ProfileForm
from storefront.blueprints.api import bp, openapi
from storefront.blueprints.cart.session_cart import current_cart
from storefront.extensions import csrf
from storefront.models import Profile
from storefront.security import CSRF_CHECKED_METHODS
from storefront.templating import plain_money

STRING_FIELDS = ("first_name", "last_name", "phone")


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
    return jsonify(id=current_user.id, email=current_user.email, profile=profile_json(profile))


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


@bp.get("/openapi.json")
def openapi_document():  # noqa: ANN201
    """This API described as OpenAPI 3.1 (openapi.py): public, like the shop's pages."""
    return jsonify(openapi.DOCUMENT)
