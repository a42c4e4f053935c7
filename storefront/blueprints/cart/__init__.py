from flask import Blueprint

bp = Blueprint("cart", __name__, url_prefix="/cart")

from storefront.blueprints.cart import routes  # noqa: E402, F401  (registers the views)
from storefront.blueprints.cart.session_cart import (  # noqa: E402
    cart_count,
    count_guest_cart_with_the_page,
    retry_pending_merge,
)

bp.before_app_request(retry_pending_merge)
bp.before_app_request(count_guest_cart_with_the_page)


@bp.app_context_processor
def _header_cart() -> dict[str, object]:
    """Every page's header shows the cart's count (`data-cart-count`)."""
    return {"cart_count": cart_count()}
