"""Template filters and globals shared by every page."""

from __future__ import annotations

from decimal import Decimal

from flask import Flask

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
    app.context_processor(_header_context)


def _header_context() -> dict[str, object]:
    # The cart and accounts issues fill these in; until then the header shows an empty cart.
    return {"cart_count": 0, "auth_enabled": False}
