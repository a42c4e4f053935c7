from flask import Blueprint

bp = Blueprint("wishlist", __name__)

from storefront.blueprints.wishlist import routes  # noqa: E402, F401  (registers the views)
