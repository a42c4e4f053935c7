from flask import Blueprint

bp = Blueprint("cart", __name__, url_prefix="/cart")

from storefront.blueprints.cart import routes  # noqa: E402, F401  (registers the views)
from storefront.blueprints.cart.session_cart import retry_pending_merge  # noqa: E402

bp.before_app_request(retry_pending_merge)
