"""Money as shoppers read it, in the shop's one currency (the `CURRENCY` setting), by Babel."""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache

from babel.numbers import format_currency
from flask import current_app, has_app_context

DEFAULT_CURRENCY = "EUR"
LOCALE = "en"


def currency() -> str:
    return current_app.config.get("CURRENCY", DEFAULT_CURRENCY) if has_app_context() \
        else DEFAULT_CURRENCY


def format_money(amount: Decimal | int | float | None, code: str | None = None) -> str:
    """`Decimal("1234.5")` → `€1,234.50`: two decimals, the currency's symbol."""
    return _formatted(Decimal(amount or 0), code or currency())


# Babel formats a price in about 30 µs, and a page shows the same few prices again and again.
@lru_cache(maxsize=4096)
def _formatted(amount: Decimal, code: str) -> str:
    return format_currency(amount, code, locale=LOCALE)


def plain_money(amount: Decimal | int | float | None) -> str:
    """`Decimal("14.5")` → `14.50`, the form used in markers and JSON."""
    return f"{Decimal(amount or 0):.2f}"
