"""Browsing (issue 16): categories, sorting and filters, ranked search, page numbers,
pictures, add-to-cart's way back, product page details, sitemap, import and demo."""

from __future__ import annotations

import io
import json
import re

import pytest
from PIL import Image

from storefront import catalog, categories
from storefront.extensions import db
from storefront.models import PRODUCTS_PER_PAGE, Category, Product, ProductCategory
from tests.factories import make_product, make_products
from tests.support import csrf_token_of, flashes

PRODUCT_IDS = re.compile(r'data-product-id="(\d+)"')
PRICES = re.compile(r'data-price="([0-9.]+)"')


def card_ids(body: str) -> list[int]:
    return [int(i) for i in PRODUCT_IDS.findall(body)]


def shelf(app):  # noqa: ANN001, ANN201
    """Coffee (with a Beans sub-category) and Tea, each with products."""
    csv = ("sku,name,price,stock,description,categories\n"
           "B-1,Espresso Beans,12.00,5,Dark roast,Coffee > Beans\n"
           "B-2,Filter Beans,8.50,0,Light roast,Coffee > Beans\n"
           "C-1,Coffee Scoop,3.00,9,A scoop,Coffee\n"
           "T-1,Green Tea,6.00,4,Sencha leaves,Tea\n")
    catalog.import_products(csv.encode())
    return {product.sku: product for product in db.session.scalars(db.select(Product))}


def test_category_page_lists_its_products_and_its_sub_categories(client, app):
    products = shelf(app)
    body = client.page("/c/coffee")
    assert sorted(card_ids(body)) == sorted(products[s].id for s in ("B-1", "B-2", "C-1"))
    assert 'href="/c/coffee-beans"' in body
    beans = client.page("/c/coffee-beans")
    assert sorted(card_ids(beans)) == sorted(products[s].id for s in ("B-1", "B-2"))
    assert 'aria-label="Breadcrumb"' in beans and 'href="/c/coffee"' in beans


def test_header_menu_follows_the_category_tree(client, app):
    """The header's category navs are rendered once per tree: a category added or renamed
    (the tree read again) shows in the next page's header, in both navs."""
    shelf(app)
    body = client.page("/")
    assert body.count('href="/c/coffee-beans"') == 1  # a child: in the phone menu only
    assert body.count('href="/c/tea"') == 2  # a root: in the bar and in the menu
    db.session.execute(db.update(Category).where(Category.slug == "tea")
                       .values(name="Loose Tea"))
    db.session.add(Category(name="Gifts", slug="gifts"))
    db.session.commit()
    assert ">Loose Tea<" not in client.page("/")  # this worker's tree, kept for a while
    categories.forget_tree()
    body = client.page("/products/" + db.session.scalar(db.select(Product.slug).limit(1)))
    assert body.count(">Loose Tea<") == 2 and body.count('href="/c/gifts"') == 2
    assert client.page("/cart").count('href="/c/gifts"') == 0  # no menu off the shop pages


@pytest.mark.parametrize("slug", ["nope", "COFFEE", "coffee-", "%00", "a" * 300])
def test_unknown_category_is_404(client, app, slug):
    shelf(app)
    assert client.get(f"/c/{slug}").status_code == (400 if slug == "%00" else 404)


def test_category_page_costs_one_statement_with_every_filter(client, app, count_queries):
    shelf(app)
    client.get("/c/coffee")  # the worker's category tree
    for query in ("", "?sort=price_desc&in_stock=1&min=1&max=50&page=1", "?sort=name"):
        with count_queries() as statements:
            response = client.get(f"/c/coffee{query}")
        assert response.status_code == 200
        assert len(statements) == 1, statements


@pytest.mark.parametrize(("sort", "expected"), [
    ("price_asc", ["3.00", "6.00", "8.50", "12.00"]),
    ("price_desc", ["12.00", "8.50", "6.00", "3.00"]),
])
def test_sorting_by_price(client, app, sort, expected):
    shelf(app)
    assert PRICES.findall(client.page(f"/?sort={sort}")) == expected


def test_sorting_by_name(client, app):
    shelf(app)
    body = client.page("/?sort=name")
    names = re.findall(r'class="card-name"><a href="[^"]+">([^<]+)</a>', body)
    assert names == sorted(names)


def test_filters_in_stock_and_price_range(client, app):
    products = shelf(app)
    assert products["B-2"].id not in card_ids(client.page("/?in_stock=1"))
    assert PRICES.findall(client.page("/?min=5&max=9&sort=price_asc")) == ["6.00", "8.50"]
    # min above max: swapped, not an error
    assert PRICES.findall(client.page("/?min=9&max=5&sort=price_asc")) == ["6.00", "8.50"]


@pytest.mark.parametrize("query", ["sort=bogus", "sort=", "in_stock=yes", "min=-1", "max=abc",
                                   "min=1e9", "max=99999999999", "sort=relevance", "min=%00"])
def test_invalid_filter_values_fall_back_to_the_default(client, app, query):
    shelf(app)
    response = client.get(f"/?{query}")
    assert response.status_code in (200, 400)  # %00 is refused by the request guard
    if response.status_code == 200:
        assert len(card_ids(response.get_data(as_text=True))) == 4


def test_page_links_keep_the_filters_and_show_numbers(client, app):
    make_products(PRODUCTS_PER_PAGE * 3, price="5.00")
    body = client.page("/?sort=price_asc&in_stock=1&page=2")
    assert 'rel="next"' in body and 'rel="prev"' in body
    assert 'href="/?page=3&amp;sort=price_asc&amp;in_stock=1"' in body
    assert 'aria-current="page"' in body and "72 products" in body


def test_search_covers_descriptions_ranks_names_first_and_highlights(client, app):
    named = make_product(name="Walnut Board", description="Solid wood")
    described = make_product(name="Cheese Knife", description="Pairs with a walnut board")
    body = client.page("/?q=walnut")
    assert card_ids(body)[:2] == [named.id, described.id]
    assert "<mark>Walnut</mark> Board" in body


@pytest.mark.parametrize("query", ["%", "_", "10%", "a_b"])
def test_search_wildcards_are_literal(client, app, query):
    make_product(name="Plain Mug")
    assert card_ids(client.page(f"/?q={query}")) == []


def test_empty_search_suggests_categories(client, app):
    shelf(app)
    body = client.page("/?q=zzzz")
    assert "No products match" in body and 'href="/c/tea"' in body


def test_cards_carry_price_and_a_picture_with_srcset(client, app):
    make_product(name="No Picture", price="4.5")
    body = client.page("/")
    assert 'data-price="4.50"' in body
    assert re.search(r'<img class="product-image placeholder"[^>]+srcset="[^"]+"[^>]+width="320" '
                     r'height="320"', body)


def test_add_to_cart_returns_to_a_same_site_next(client, app):
    product = make_product()
    token = csrf_token_of(client.page("/"))
    response = client.post("/cart/add", data={"csrf_token": token, "product_id": product.id,
                                              "next": "/?sort=name"})
    assert response.status_code == 303 and response.headers["Location"] == "/?sort=name"
    assert 'data-cart-count="1"' in client.page("/?sort=name")


def test_the_product_pages_add_returns_to_the_product_page_with_a_flash(client, app):
    product = make_product(name="Walnut Board")
    page = client.page(f"/products/{product.slug}")
    form = re.search(r'<form class="add-to-cart"[^>]*data-add-to-cart>(.*?)</form>', page, re.S)
    assert form and f'name="next" value="/products/{product.slug}"' in form.group(1)
    response = client.post("/cart/add", data={"csrf_token": csrf_token_of(page),
                                              "product_id": product.id, "quantity": "2",
                                              "next": f"/products/{product.slug}"})
    assert response.headers["Location"] == f"/products/{product.slug}"
    back = client.page(response.headers["Location"])
    assert ("success", "Added 2 × Walnut Board to your cart.") in flashes(back)
    assert 'data-cart-count="2"' in back


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil",
                                    "\\\\evil", "javascript:alert(1)", "/\x01x"])
def test_add_to_cart_ignores_an_unsafe_next(client, app, target):
    product = make_product()
    token = csrf_token_of(client.page("/"))
    response = client.post("/cart/add", data={"csrf_token": token, "product_id": product.id,
                                              "next": target})
    assert response.status_code in (303, 400)
    if response.status_code == 303:
        assert response.headers["Location"] == "/cart"


def test_product_page_has_breadcrumb_related_and_structured_data(client, app):
    products = shelf(app)
    client.get("/")
    body = client.page(f"/products/{products['B-1'].slug}")
    assert 'href="/c/coffee-beans"' in body
    assert f'href="/products/{products["B-2"].slug}"' in body  # related, same category
    data = json.loads(re.search(r'<script type="application/ld\+json">(.*?)</script>', body,
                                re.S).group(1))
    assert data["@type"] == "Product" and data["offers"]["price"] == "12.00"
    assert data["offers"]["availability"].endswith("InStock")
    assert '<meta name="description" content="Dark roast">' in body


def test_product_page_with_related_costs_one_statement(client, app, count_queries):
    slug = shelf(app)["B-1"].slug
    client.get("/")
    with count_queries() as statements:
        response = client.get(f"/products/{slug}")
    assert response.status_code == 200 and len(statements) == 1, statements


def test_sitemap_lists_products_and_categories(client, app):
    products = shelf(app)
    inactive = make_product(active=False)
    response = client.get("/sitemap.xml")
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and response.mimetype == "application/xml"
    assert f"/products/{products['T-1'].slug}</loc>" in body and "/c/coffee-beans</loc>" in body
    assert inactive.slug not in body


def test_import_sets_categories_and_a_picture(app, tmp_path):
    picture = tmp_path / "mug.png"
    Image.new("RGB", (50, 40), "red").save(picture)
    csv = "sku,name,price,stock,image,categories\nM-1,Mug,5,1,mug.png,Cups > Mugs|Gifts\n"
    catalog.import_products(csv.encode(), image_root=tmp_path)
    product = db.session.scalar(db.select(Product).where(Product.sku == "M-1"))
    assert product.image_key
    names = set(db.session.scalars(
        db.select(Category.slug).join(ProductCategory).where(
            ProductCategory.product_id == product.id)))
    assert names == {"cups-mugs", "gifts"}


@pytest.mark.parametrize(("cell", "problem"), [("A > B > C", "more than two levels"),
                                                ("A > ", "1..100")])
def test_import_refuses_bad_categories(app, cell, problem):
    with pytest.raises(catalog.CatalogImportError) as error:
        catalog.import_products(f"sku,name,price,stock,categories\nX,Y,1,1,{cell}\n".encode())
    assert problem in error.value.problems[0][1]
    assert db.session.scalar(db.select(db.func.count()).select_from(Category)) == 0


def test_import_refuses_a_missing_or_bad_picture(app, tmp_path):
    (tmp_path / "bad.png").write_bytes(b"not a picture")
    for name in ("missing.png", "bad.png"):
        with pytest.raises(catalog.CatalogImportError):
            catalog.import_products(f"sku,name,price,stock,image\nX,Y,1,1,{name}\n".encode(),
                                    image_root=tmp_path)
    assert db.session.scalar(db.select(db.func.count()).select_from(Product)) == 0


def test_demo_catalog_has_pictures_and_categories_and_is_idempotent(client, app):
    catalog.load_demo_catalog()
    keys = dict(db.session.execute(db.select(Product.sku, Product.image_key)).all())
    assert all(keys.values())
    catalog.load_demo_catalog()
    assert dict(db.session.execute(db.select(Product.sku, Product.image_key)).all()) == keys
    categories.forget_tree()
    body = client.page("/c/coffee")
    assert "/media/" in body and 'srcset="' in body
    image = client.get(re.search(r'src="(/media/[^"]+)"', body).group(1))
    assert image.status_code == 200 and Image.open(io.BytesIO(image.data)).format == "WEBP"


def test_cart_continue_shopping_goes_back_to_the_shop_page(client, app):
    make_product()
    assert 'href="/">← Continue shopping' in client.page("/cart")
    response = client.get("/cart", headers={"Referer": "http://localhost/c/tea?sort=name"})
    assert 'href="/c/tea?sort=name">← Continue shopping' in response.get_data(as_text=True)
    response = client.get("/cart", headers={"Referer": "https://evil.example/x"})
    assert 'href="/">← Continue shopping' in response.get_data(as_text=True)


def test_staff_product_form_sets_and_changes_categories(app, make_client):
    from tests.staff_support import staff_client

    shelf(app)
    tree = {node.slug: node.id for node in db.session.execute(
        db.select(Category.slug, Category.id)).all()}
    staff = staff_client(make_client)
    form = staff.page("/admin/products/new")
    assert 'name="categories"' in form and "Coffee › Beans" in form
    response = staff.post_form("/admin/products/new", {
        "sku": "NEW-1", "name": "New Tea", "price": "4.00", "stock": "3", "active": "y",
        "categories": [str(tree["tea"]), str(tree["coffee-beans"])]})
    assert response.status_code == 303
    product_id = db.session.scalar(db.select(Product.id).where(Product.sku == "NEW-1"))
    assert sorted(categories.get_product_category_ids(product_id)) == sorted(
        [tree["tea"], tree["coffee-beans"]])
    response = staff.post_form(f"/admin/products/{product_id}/edit", {
        "sku": "NEW-1", "name": "New Tea", "price": "4.00", "stock": "3", "stock_seen": "3",
        "active": "y", "categories": [str(tree["tea"])]})
    assert response.status_code == 303
    assert categories.get_product_category_ids(product_id) == [tree["tea"]]
    bad = staff.post_form(f"/admin/products/{product_id}/edit", {
        "sku": "NEW-1", "name": "New Tea", "price": "4.00", "stock": "3", "stock_seen": "3",
        "active": "y", "categories": ["999999"]})
    assert bad.status_code == 422
    assert categories.get_product_category_ids(product_id) == [tree["tea"]]
