"""Whole numbers from outside (ids in paths and forms, page numbers): one set of rules.

A number that does not fit its column names nothing, so it is answered like an unknown one
(404) before any SQL sees it; text that is not a whole number at all is a form error (422).
"""

from __future__ import annotations

import re

from werkzeug.routing import BaseConverter, ValidationError

from storefront.exceptions import NotFound
from storefront.models import ID_MAX

WHOLE_NUMBER = re.compile(r"[+-]?[0-9]+")
# More digits than ID_MAX has cannot fit, and converting them would only cost time.
ID_MAX_DIGITS = len(str(ID_MAX))


class NotAWholeNumber(ValueError):
    """The text is not a whole number (a form error, not a missing object)."""


def fits(value: int, low: int = 1, high: int = ID_MAX) -> bool:
    return low <= value <= high


def require_id(value: int) -> int:
    """`value` if it can name a row (1..ID_MAX), else `NotFound`: no query needed to know."""
    if not fits(value):
        raise NotFound(f"id {value}")
    return value


def parse_bounded(text: str | None, low: int = 1, high: int = ID_MAX) -> int:
    """A whole number typed into a form or a query string, within `low..high`.

    Raises `NotAWholeNumber` for text that is not one, `NotFound` for one outside the range.
    """
    if text is None or not WHOLE_NUMBER.fullmatch(text):
        raise NotAWholeNumber(text)
    digits = text.lstrip("+-").lstrip("0")
    if len(digits) > len(str(max(abs(low), abs(high)))):
        raise NotFound(text)
    value = int(text)
    if not fits(value, low, high):
        raise NotFound(text)
    return value


def parse_id(text: str | None) -> int:
    """A row id from a form field: `NotAWholeNumber` (422) or `NotFound` (404) otherwise."""
    return parse_bounded(text, 1, ID_MAX)


class IdConverter(BaseConverter):
    """`<id:name>` in a route: 1..ID_MAX, at most as many digits as ID_MAX; else a 404."""

    regex = rf"[0-9]{{1,{ID_MAX_DIGITS}}}"

    def to_python(self, value: str) -> int:
        number = int(value)
        if not fits(number):
            raise ValidationError
        return number

    def to_url(self, value: int) -> str:
        return str(int(value))
