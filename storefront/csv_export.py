"""CSV for spreadsheets: every cell that a spreadsheet would read as a formula is made inert.

A cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return is prefixed with `'`
(OWASP "CSV Injection"), so `=HYPERLINK(...)` in a product name is shown, never run. Used by
the staff area's exports (the order export, issue 15)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: object) -> str:
    """The cell's text, prefixed with `'` when it starts like a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def to_csv(header: Iterable[str], rows: Iterable[Iterable[object]]) -> str:
    """A CSV document (CRLF lines, minimal quoting) with every cell neutralised."""
    return rows_to_csv([header]) + rows_to_csv(rows)


def rows_to_csv(rows: Iterable[Iterable[object]]) -> str:
    """CSV lines without a header (a streamed export's later chunks), cells neutralised."""
    out = io.StringIO()
    writer = csv.writer(out)
    for row in rows:
        writer.writerow([neutralise(cell) for cell in row])
    return out.getvalue()
