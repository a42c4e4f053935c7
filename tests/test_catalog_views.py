"""Catalog pages over HTTP: markers, pagination, search, bad input, query budget."""

import re
from decimal import Decimal

import pytest

from storefront import templating
from storefront.extensions import db
from storefront.models import PRODUCTS_PER_PAGE
from tests.factories import make_product, make_products
from tests.support import csrf_token_of

PRODUCT_IDS = re.compile(r'data-product-id="(\d+)"')


def card_ids(response) -> list[int]:
    return [int(i) for i in PRODUCT_IDS.findall(response.get_data(as_text=True))]


def test_catalog_lists_active_products_with_markers(client):
    tea = make_product(name="Green Tea", stock=7)
    make_product(name="Retired", active=False)
    response = client.get("/")
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert card_ids(response) == [tea.id]
    assert f'data-product-id="{tea.id}" data-stock="7"' in body
    assert "Green Tea" in body and "Retired" not in body
    assert 'data-cart-count="0"' in body


def test_catalog_second_page_and_links_keep_the_query(client):
    make_products(PRODUCTS_PER_PAGE + 1, name="Mug")
    response = client.get("/?q=mug&page=2")
    assert len(card_ids(response)) == 1
    assert 'href="/?page=1&amp;q=mug"' in response.get_data(as_text=True)


@pytest.mark.parametrize("page", ["0", "-1", "abc", "2", "1.5", "99999999999999999999", "", "²"])
def test_bad_or_missing_page_is_404(client, page):
    make_product()
    assert client.get("/", query_string={"page": page}).status_code == 404


def test_huge_search_query_is_answered(client):
    make_product(name="Kettle")
    response = client.get("/", query_string={"q": "k" * 10_000})
    assert response.status_code == 200
    assert card_ids(response) == []


def test_search_wildcards_are_no_wildcards_and_the_query_is_escaped_in_the_page(client):
    make_product(name="100% Arabica")
    make_product(name="Arabica 100")
    make_product(name="Robusta")
    response = client.get("/", query_string={"q": "100%"})
    assert len(card_ids(response)) == 2  # `%` separates words: both hold the word 100
    response = client.get("/", query_string={"q": "%%%"})
    assert card_ids(response) == [] and "No products match your search." in response.text
    response = client.get("/", query_string={"q": "<script>x</script>"})
    body = response.get_data(as_text=True)
    assert "<script>x" not in body and "&lt;script&gt;x" in body


@pytest.mark.parametrize(
    ("stock", "text"), [(30, "In stock"), (3, "Only 3 left"), (0, "Sold out")]
)
def test_product_page_shows_price_stock_and_add_form(client, stock, text):
    product = make_product(name="French Press", price="32.00", stock=stock, description="Glass.")
    response = client.get(f"/products/{product.slug}")
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "€32.00" in body and text in body and "Glass." in body
    assert f'data-product-id="{product.id}" data-stock="{stock}"' in body
    assert ('action="/cart/add"' in body) is (stock > 0)


def test_unknown_or_inactive_product_is_404(client):
    hidden = make_product(active=False)
    assert client.get(f"/products/{hidden.slug}").status_code == 404
    assert client.get("/products/no-such-thing").status_code == 404


def test_markup_in_product_name_is_escaped(client):
    product = make_product(name='<img src=x onerror="alert(1)">')
    body = client.get(f"/products/{product.slug}").get_data(as_text=True)
    assert "<img src=x" not in body and "&lt;img src=x" in body


@pytest.mark.parametrize("count", [1, PRODUCTS_PER_PAGE + 5])
def test_catalog_page_costs_one_query_however_many_products(client, count_queries, count):
    """The page and its total in one statement (a window count), on both databases."""
    make_products(count)
    client.get("/")  # the worker reads the category tree once a minute, not per page
    with count_queries() as statements:
        response = client.get("/")
    assert response.status_code == 200
    assert len(card_ids(response)) == min(count, PRODUCTS_PER_PAGE)
    assert len(statements) == 1, statements


def test_search_page_costs_one_query(client, count_queries):
    make_products(3, name="Mug")
    client.get("/")  # the worker's category tree
    with count_queries() as statements:
        response = client.get("/?q=mug&page=1")
    assert response.status_code == 200
    assert len(card_ids(response)) == 3
    assert len(statements) == 1, statements


def test_product_page_costs_one_query(client, count_queries):
    product = make_product()
    client.get("/")  # the worker's category tree
    with count_queries() as statements:
        response = client.get(f"/products/{product.slug}")
    assert response.status_code == 200
    assert f'data-product-id="{product.id}"' in response.get_data(as_text=True)
    assert len(statements) == 1, statements


def test_a_changed_product_shows_on_the_next_catalog_page(client):
    """Cards are rendered once per product state and kept: any change is a new card."""
    product = make_product(name="Old Name", price="4.00", stock=30)
    assert "Old Name" in client.page("/")
    for change, shown in ((dict(name="New Name"), "New Name"), (dict(price=Decimal("5.50")), "€5.50"),
                          (dict(stock=3), "Only 3 left"), (dict(stock=0), "Sold out"),
                          (dict(slug="renamed-slug"), 'href="/products/renamed-slug"')):
        for key, value in change.items():
            setattr(product, key, value)
        db.session.commit()
        body = client.page("/")
        assert shown in body, change
        assert f'data-stock="{product.stock}"' in body
    assert 'action="/cart/add"' not in body  # sold out: no add form, cached or not


def test_each_card_carries_this_visitors_csrf_token(app, make_client):
    make_product()
    pages = [make_client().page("/") for _ in range(2)]
    tokens = [csrf_token_of(page) for page in pages]
    assert tokens[0] != tokens[1]
    for page, token in zip(pages, tokens, strict=True):
        assert f'name="csrf_token" value="{token}"' in page


def test_the_card_cache_stays_bounded(client, monkeypatch):
    monkeypatch.setattr(templating, "CARD_CACHE_MAX", 5)
    monkeypatch.setattr(templating, "_cards", {})
    make_products(12)
    assert client.get("/").status_code == 200
    assert len(templating._cards) <= 5
