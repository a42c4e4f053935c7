"""Catalog pages: the product grid with search, and one page per product."""

from flask import abort, render_template, request

from storefront import catalog
from storefront.blueprints.catalog import bp
from storefront.exceptions import NotFound


def _page_number(raw: str) -> int:
    """`?page=` as a positive integer; anything else is a page that does not exist."""
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 6:
        abort(404)
    return int(raw)


@bp.get("/")
def index():  # noqa: ANN201
    page = _page_number(request.args.get("page", "1"))
    try:
        result = catalog.list_products(page, request.args.get("q", ""))
    except NotFound:
        abort(404)
    return render_template("catalog/index.html", result=result)


@bp.get("/products/<slug>")
def product(slug: str):  # noqa: ANN201
    try:
        item = catalog.get_product_by_slug(slug)
    except NotFound:
        abort(404)
    return render_template("catalog/product.html", product=item)
