"""The catalog service: listing, search, slugs and the all-or-nothing CSV import."""

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from storefront import catalog
from storefront.exceptions import CatalogImportError, NotFound
from storefront.extensions import db
from storefront.models import PRODUCTS_PER_PAGE, Product
from tests.factories import make_product, make_products

HEADER = "sku,name,price,stock,description\n"


def product_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Product))


def test_list_is_newest_first_and_paginated(app):
    products = make_products(PRODUCTS_PER_PAGE + 3)
    first = catalog.list_products(1)
    second = catalog.list_products(2)
    assert [p.id for p in first.products] == [p.id for p in reversed(products)][:PRODUCTS_PER_PAGE]
    assert [p.id for p in second.products] == [p.id for p in reversed(products)][PRODUCTS_PER_PAGE:]
    assert (first.pages, first.total, second.has_next, first.has_next) == (2, 27, False, True)


def test_page_past_the_end_is_not_found(app):
    make_products(2)
    with pytest.raises(NotFound):
        catalog.list_products(2)


def test_empty_catalog_still_has_page_one(app):
    result = catalog.list_products(1)
    assert (result.products, result.pages, result.total) == ([], 1, 0)


def test_inactive_products_are_hidden(app):
    make_product(name="Visible")
    hidden = make_product(name="Hidden", active=False)
    assert [p.name for p in catalog.list_products().products] == ["Visible"]
    with pytest.raises(NotFound):
        catalog.get_product_by_slug(hidden.slug)


def test_search_matches_name_or_sku_case_insensitively(app):
    make_product(name="Blue Mug", sku="MUG-1")
    make_product(name="Teapot", sku="pot-7")
    make_product(name="Spoon", sku="SP-1")
    assert [p.name for p in catalog.list_products(query="blue").products] == ["Blue Mug"]
    assert [p.name for p in catalog.list_products(query="POT-7").products] == ["Teapot"]


@pytest.mark.parametrize("query", ["50%", "a_b", "discount%", "sale\\", "%50"])
def test_wildcards_in_a_search_separate_words_and_match_nothing_themselves(app, query):
    make_product(name="Plain name b")
    make_product(name="Discount 50% a_b \\ sale")
    names = [p.name for p in catalog.list_products(query=query).products]
    assert names == ["Discount 50% a_b \\ sale"], names


@pytest.mark.parametrize("query", ["%", "_", "\\", "%" * 200, "_%_%", " - . "])
def test_a_search_of_punctuation_alone_finds_nothing_without_a_query(app, count_queries, query):
    make_product(name="Discount 50% a_b \\ sale")
    with count_queries() as statements:
        result = catalog.list_products(query=query)
    assert (result.products, result.total, statements) == ([], 0, [])
    with pytest.raises(NotFound):
        catalog.list_products(2, query=query)


def test_search_matches_word_prefixes_of_name_and_sku(app):
    coffee = make_product(name="Smoky Coffee Blend", sku="SKU-00012")
    make_product(name="Teapot", sku="POT-7")
    assert [p.id for p in catalog.list_products(query="cof").products] == [coffee.id]
    assert [p.id for p in catalog.list_products(query="00012").products] == [coffee.id]
    assert [p.id for p in catalog.list_products(query="BLEND smo").products] == [coffee.id]
    assert catalog.list_products(query="offee").products == []  # a word's middle is no prefix
    assert catalog.list_products(query="coffee teapot").products == []  # every word must match


def test_search_sees_renamed_and_new_products_at_once(app):
    product = make_product(name="Old Name")
    product.name = "Fresh Name"
    db.session.commit()
    assert [p.id for p in catalog.list_products(query="fresh").products] == [product.id]
    assert catalog.list_products(query="old").products == []
    catalog.import_products(b"sku,name,price,stock\nNEW-1,Imported Kettle,5.00,3\n")
    assert [p.name for p in catalog.list_products(query="kettle").products] == ["Imported Kettle"]


def test_search_words_are_letters_and_digits_lower_cased_and_few(app):
    assert catalog.parse_search("Café-Crème, 50%!").words == ("café", "crème", "50")
    assert catalog.parse_search("a_b a").words == ("a", "b")
    assert len(catalog.parse_search(" ".join(f"w{n}" for n in range(50))).words) == 8
    assert catalog.parse_search("-crab").words == ()  # nothing to look for


def test_search_reads_phrases_or_and_exclusions_and_only_the_last_word_as_a_prefix(app):
    """Web-search syntax (PostgreSQL's websearch_to_tsquery), the same on both databases."""
    green_tea = make_product(name="Green Tea Leaves")
    tea_green = make_product(name="Tea Cup Green")
    mug = make_product(name="Green Mug")

    def found(query: str) -> set[int]:
        return {p.id for p in catalog.list_products(query=query).products}

    assert found('"green tea"') == {green_tea.id}  # a phrase: the words in a row
    assert found("green tea") == {green_tea.id, tea_green.id}
    assert found("green -tea") == {mug.id}
    assert found('green -"tea cup"') == {green_tea.id, mug.id}
    assert found("leaves or mug") == {green_tea.id, mug.id}
    assert found("gre") == {green_tea.id, tea_green.id, mug.id}  # typing the last word
    assert found("gre tea") == set()  # an earlier word is a whole word
    assert found('"gre"') == set()  # a quoted word too


def test_totals_are_counted_up_to_the_cap(app, monkeypatch):
    monkeypatch.setattr(catalog, "TOTAL_COUNT_CAP", 5)
    make_products(8, name="Capped Mug")
    result = catalog.list_products(query="mug")
    assert (result.total, result.total_capped, result.pages, result.has_next) == (5, True, None, False)
    monkeypatch.setattr(catalog, "TOTAL_COUNT_CAP", 8)
    result = catalog.list_products(query="mug")
    assert (result.total, result.total_capped, result.pages) == (8, False, 1)


@pytest.mark.parametrize(
    ("name", "slug"),
    [("Café Crème Blend", "cafe-creme-blend"), ("  Tea & Biscuits!! ", "tea-biscuits"),
     ("日本茶", "product"), ("Über-Größe 2000", "uber-groe-2000")],
)
def test_slugify(name, slug):
    assert catalog.slugify(name) == slug


def test_import_creates_then_updates_keeping_slugs(app):
    csv1 = HEADER + "C1,Café Crème Blend,14.50,10,Smooth\nC2,Café Crème Blend,9,0,\n"
    assert catalog.import_products(csv1.encode()) == catalog.ImportResult(created=2, updated=0)
    slugs = dict(db.session.execute(select(Product.sku, Product.slug)).all())
    assert slugs == {"C1": "cafe-creme-blend", "C2": "cafe-creme-blend-2"}

    csv2 = HEADER + "C1,Renamed Blend,15.00,3,New text\n"
    assert catalog.import_products(csv2.encode()) == catalog.ImportResult(created=0, updated=1)
    product = db.session.scalar(select(Product).where(Product.sku == "C1"))
    db.session.refresh(product)
    assert (product.slug, product.name, product.price, product.stock) == (
        "cafe-creme-blend", "Renamed Blend", Decimal("15.00"), 3)
    assert product_count() == 2


def test_import_accepts_a_byte_order_mark(app):
    data = "\ufeff".encode() + (HEADER + "B1,Bom Tea,1.5,1,x\n").encode()
    catalog.import_products(data)
    assert db.session.scalar(select(Product.price).where(Product.sku == "B1")) == Decimal("1.50")


@pytest.mark.parametrize(
    ("body", "line", "reason"),
    [
        ("A1,Tea,abc,1,\n", 2, "price"),
        ("A1,Tea,1.234,1,\n", 2, "price"),
        ("A1,Tea,-1,1,\n", 2, "price"),
        ("A1,Tea,1,-4,\n", 2, "stock"),
        ("A1,Tea,1,2.5,\n", 2, "stock"),
        (",Tea,1,1,\n", 2, "sku is empty"),
        ("A1,,1,1,\n", 2, "name"),
        ("A1," + "n" * 201 + ",1,1,\n", 2, "name"),
        ("A1,Tea,1,1,\nA2,Tea,1,1,\na1,Other,2,2,\n", 4, "duplicate sku"),
        ("A1,Tea,\u0663,1,\n", 2, "price"),
        ("A1,Tea,1,\uff13,\n", 2, "stock"),
        ("A1,T\u202eea,1,1,\n", 2, "control or bidirectional-override character"),
        ("A1,T\x00ea,1,1,\n", 2, "control or bidirectional-override character"),
    ],
)
def test_import_refuses_bad_rows_and_writes_nothing(app, body, line, reason):
    with pytest.raises(CatalogImportError) as caught:
        catalog.import_products((HEADER + "OK1,Fine,1,1,\n" + body).encode())
    problems = caught.value.problems
    assert any(n == line + 1 and reason in text for n, text in problems), problems
    assert product_count() == 0


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"sku,name,price\nA,B,1\n", "missing column(s): stock"),
        (b"sku,name,price,stock, Stock\nA,B,1,1,2\n", "repeated column(s): stock"),
        (b"sku,name,price,stock\n", "no products"),
        (HEADER.encode() + "A,Caf\u00e9,1,1,\n".encode("latin-1"), "not UTF-8"),
    ],
)
def test_import_refuses_bad_files(app, data, reason):
    with pytest.raises(CatalogImportError) as caught:
        catalog.import_products(data)
    assert reason in caught.value.problems[0][1]
    assert product_count() == 0


def test_demo_catalog_loads_once(app):
    first = catalog.load_demo_catalog()
    again = catalog.load_demo_catalog()
    assert first.created >= 30 and first.updated == 0
    assert again == catalog.ImportResult(created=0, updated=first.created)
    assert product_count() == first.created
