from flask import Blueprint

bp = Blueprint("auth", __name__, url_prefix="/auth")

from storefront.blueprints.auth import oidc_routes, passkey_routes, routes  # noqa: E402, F401  (registers the views)
