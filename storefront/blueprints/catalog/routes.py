"""Catalog pages: the product grid with search, sorting and filters, a category's page, one
page per product, and the sitemap."""

from flask import Response, abort, render_template, request

from storefront import catalog, categories
from storefront.blueprints.catalog import bp
from storefront.ids import NotAWholeNumber, parse_bounded
from storefront.models import MAX_PAGE


def _page_number(raw: str) -> int:
    """`?page=` as a whole number 1..MAX_PAGE; anything else is a page that does not exist."""
    try:
        return parse_bounded(raw, 1, MAX_PAGE)
    except NotAWholeNumber:
        abort(404)


def _filters(searching: bool) -> catalog.Filters:
    args = request.args
    return catalog.parse_filters(args.get("sort"), args.get("in_stock"), args.get("min"),
                                 args.get("max"), searching=searching)


@bp.get("/")
def index():  # noqa: ANN201
    page = _page_number(request.args.get("page", "1"))
    query = request.args.get("q", "")
    result = catalog.list_products(page, query, _filters(bool(query.strip())))
    return render_template("catalog/index.html", result=result, endpoint="catalog.index",
                           endpoint_args={})


@bp.get("/c/<slug>")
def category(slug: str):  # noqa: ANN201
    node = categories.find_category(slug)
    if node is None:
        abort(404)
    page = _page_number(request.args.get("page", "1"))
    tree = categories.get_tree()
    result = catalog.list_products(page, "", _filters(False), tree.ids_under(node))
    return render_template("catalog/category.html", result=result, category=node,
                           trail=tree.trail(node), endpoint="catalog.category",
                           endpoint_args={"slug": slug})


@bp.get("/products/<slug>")
def product(slug: str):  # noqa: ANN201
    details = catalog.get_product_details(slug)
    tree = categories.get_tree()
    node = tree.by_id.get(details.category_id) if details.category_id else None
    return render_template("catalog/product.html", product=details.product,
                           related=details.related, trail=tree.trail(node) if node else [])


@bp.get("/sitemap.xml")
def sitemap():  # noqa: ANN201
    body = render_template("catalog/sitemap.xml", slugs=catalog.list_product_slugs(),
                           tree=categories.get_tree())
    return Response(body, mimetype="application/xml")
