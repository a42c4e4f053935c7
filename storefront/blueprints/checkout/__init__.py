from flask import Blueprint

# The checkout and what it leads to: the address book (/account/addresses), the checkout
# (/checkout) and the order history (/account/orders). Every page needs a signed-in shopper.
bp = Blueprint("checkout", __name__)

from storefront.blueprints.checkout import routes  # noqa: E402, F401  (registers the views)
