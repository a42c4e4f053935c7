"""Template filters and globals shared by every page."""

from __future__ import annotations

from decimal import Decimal

from flask import Flask

from storefront.blueprints.redirects import return_path
from storefront.models import (
    LINE_MAX_QUANTITY,
    LOW_STOCK_THRESHOLD,
    PASSWORD_MAX_CHARS,
    PASSWORD_MIN_CHARS,
    SEARCH_MAX_CHARS,
)

CURRENCY_SYMBOL = "€"
# The limits pages show or put in `max`/`maxlength`, from their one home.
TEMPLATE_CONSTANTS = {
    "LINE_MAX_QUANTITY": LINE_MAX_QUANTITY,
    "LOW_STOCK_THRESHOLD": LOW_STOCK_THRESHOLD,
    "PASSWORD_MAX_CHARS": PASSWORD_MAX_CHARS,
    "PASSWORD_MIN_CHARS": PASSWORD_MIN_CHARS,
    "SEARCH_MAX_CHARS": SEARCH_MAX_CHARS,
}


def money(value: Decimal | int | float | None) -> str:
    """`Decimal("14.5")` → `€14.50`: two decimals, always."""
    return f"{CURRENCY_SYMBOL}{Decimal(value or 0):,.2f}"


def plain_money(value: Decimal | int | float | None) -> str:
    """`Decimal("14.5")` → `14.50`, the form used in markers and JSON."""
    return f"{Decimal(value or 0):.2f}"


def register(app: Flask) -> None:
    app.add_template_filter(money, "money")
    app.add_template_filter(plain_money, "plain_money")
    app.add_template_filter(device, "device")
    app.jinja_env.globals.update(TEMPLATE_CONSTANTS, return_path=return_path)


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
