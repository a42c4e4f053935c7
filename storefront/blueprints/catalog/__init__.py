from flask import Blueprint

bp = Blueprint("catalog", __name__)

from storefront.blueprints.catalog import routes  # noqa: E402, F401  (registers the views)
