"""The floor for `make bench`: the least a page can cost on this machine and stack.

A bare Flask app (no storefront code) that answers `/` with an HTML page of
`FLOOR_PAGE_BYTES` bytes (the catalog page's size) after one `SELECT 1` on `DATABASE_URL`,
served by the same gunicorn settings as the shop: `gunicorn 'bench.floor_app:create_app()'`.
"""

from __future__ import annotations

import os

import sqlalchemy as sa
from flask import Flask

HEAD = (
    "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
    "<title>Floor</title></head><body>\n"
)
TAIL = "</body></html>\n"
FILLER = "<p>The floor: one page of the catalog's size and one query, nothing else.</p>\n"


def page_of(size: int) -> str:
    """An ASCII HTML page of exactly `size` bytes (or the bare skeleton if that is larger)."""
    room = max(0, size - len(HEAD) - len(TAIL))
    return HEAD + FILLER * (room // len(FILLER)) + " " * (room % len(FILLER)) + TAIL


def create_app() -> Flask:
    # Each gunicorn worker calls this after the fork, so each has a pool of its own.
    engine = sa.create_engine(os.environ["DATABASE_URL"])
    body = page_of(int(os.environ["FLOOR_PAGE_BYTES"]))
    app = Flask(__name__)

    @app.get("/")
    def index() -> str:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
        return body

    return app
