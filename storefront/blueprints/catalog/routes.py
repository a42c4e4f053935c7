"""Catalog pages: the product grid with search, and one page per product."""

from flask import abort, render_template, request

from storefront import catalog
from storefront.blueprints.catalog import bp
from storefront.ids import NotAWholeNumber, parse_bounded
from storefront.models import MAX_PAGE


def _page_number(raw: str) -> int:
    """`?page=` as a whole number 1..MAX_PAGE; anything else is a page that does not exist."""
    try:
        return parse_bounded(raw, 1, MAX_PAGE)
    except NotAWholeNumber:
        abort(404)


@bp.get("/")
def index():  # noqa: ANN201
    page = _page_number(request.args.get("page", "1"))
    result = catalog.list_products(page, request.args.get("q", ""))
    return render_template("catalog/index.html", result=result)


@bp.get("/products/<slug>")
def product(slug: str):  # noqa: ANN201
    return render_template("catalog/product.html", product=catalog.get_product_by_slug(slug))
