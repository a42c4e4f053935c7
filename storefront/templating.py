"""Template filters and globals shared by every page."""

from __future__ import annotations

from decimal import Decimal

from flask import Flask, g

from storefront.blueprints.cart.session_cart import current_cart

CURRENCY_SYMBOL = "€"


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
    app.context_processor(_header_context)


def _header_context() -> dict[str, object]:
    if g.get("database_unavailable"):  # the 503 page must not query the database
        return {"cart_count": 0}
    return {"cart_count": current_cart().count()}


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
