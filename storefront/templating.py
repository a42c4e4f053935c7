"""Template filters and globals shared by every page."""

from __future__ import annotations

from decimal import Decimal

from flask import Flask, render_template, request
from markupsafe import Markup, escape

from storefront.blueprints.redirects import return_path
from storefront.media import IMAGE_WIDTHS
from storefront.models import (
    LINE_MAX_QUANTITY,
    LOW_STOCK_THRESHOLD,
    PASSWORD_MAX_CHARS,
    PASSWORD_MIN_CHARS,
    SEARCH_MAX_CHARS,
    Product,
)
from storefront.money import format_money, plain_money

# The limits pages show or put in `max`/`maxlength`, from their one home.
TEMPLATE_CONSTANTS = {
    "LINE_MAX_QUANTITY": LINE_MAX_QUANTITY,
    "LOW_STOCK_THRESHOLD": LOW_STOCK_THRESHOLD,
    "PASSWORD_MAX_CHARS": PASSWORD_MAX_CHARS,
    "PASSWORD_MIN_CHARS": PASSWORD_MIN_CHARS,
    "SEARCH_MAX_CHARS": SEARCH_MAX_CHARS,
    "IMAGE_WIDTHS": IMAGE_WIDTHS,
}


def money(value: Decimal | int | float | None, currency: str | None = None) -> str:
    """`Decimal("14.5")` → `€14.50`: two decimals, always, in the `CURRENCY` setting's
    currency (or the one an order was placed in), by Babel."""
    return format_money(value, currency)


# A catalog card is the same for every visitor but for the form's CSRF token: rendered once
# per product state, kept in this worker (bounded; losing it costs only a re-render), and
# keyed by everything it shows, so a product changed in any way is seen on the next request.
CARD_CACHE_MAX = 4096
TOKEN_SLOT = "\x00token\x00"  # noqa: S105 - a placeholder, not a secret
_cards: dict[tuple, tuple[str, ...]] = {}


def catalog_card(product: Product, token: str) -> Markup:
    """The product's catalog card with this page's CSRF token in its add form."""
    key = (request.script_root, product.id, product.slug, product.name, product.price,
           product.stock, product.image_key)
    parts = _cards.get(key)
    if parts is None:
        if len(_cards) >= CARD_CACHE_MAX:
            _cards.clear()
        html = render_template("catalog/_card.html", product=product, token=TOKEN_SLOT)
        parts = _cards[key] = tuple(html.split(TOKEN_SLOT))
    # The parts were rendered by autoescaping Jinja and the token is escaped here.
    return Markup(str(escape(token)).join(parts))  # noqa: S704  # nosec B704


def register(app: Flask) -> None:
    app.add_template_filter(money, "money")
    app.add_template_filter(plain_money, "plain_money")
    app.add_template_filter(device, "device")
    app.jinja_env.globals.update(TEMPLATE_CONSTANTS, return_path=return_path,
                                 catalog_card=catalog_card)


BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"),
            ("Chrome/", "Chrome"), ("Chromium/", "Chromium"), ("Safari/", "Safari"))
SYSTEMS = (("Android", "Android"), ("iPhone", "iPhone"), ("iPad", "iPad"),
           ("Windows", "Windows"), ("Mac OS X", "macOS"), ("CrOS", "ChromeOS"),
           ("Linux", "Linux"))


def device(user_agent: str) -> str:
    """`Mozilla/5.0 (Windows NT 10.0…) … Firefox/128.0` → `Firefox on Windows`."""
    browser = next((name for marker, name in BROWSERS if marker in user_agent), None)
    system = next((name for marker, name in SYSTEMS if marker in user_agent), None)
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or "Unknown device"
