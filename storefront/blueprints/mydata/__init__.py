from flask import Blueprint

bp = Blueprint("mydata", __name__, url_prefix="/account")

from storefront.blueprints.mydata import routes  # noqa: E402, F401  (registers the views)
