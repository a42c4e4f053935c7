"""The staff area in a browser: a staff member signs in, adds a product with an image and
sees it in the catalog; axe finds no serious or critical violation on any staff page."""

from __future__ import annotations

import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from storefront import staff
from tests.browser.ui import add_from_product_page, open_catalog, register, sign_in
from tests.factories import make_product, make_user
from tests.staff_support import image_bytes
from tests.support import app_on

pytestmark = pytest.mark.browser

STAFF_EMAIL = "staff@example.com"
BLOCKING_IMPACTS = {"serious", "critical"}


@pytest.fixture
def staff_shop(start_live_server, tmp_path):  # noqa: ANN001, ANN201
    server = start_live_server(MEDIA_ROOT=str(tmp_path / "media"))
    with app_on(server.database_url):
        make_user(STAFF_EMAIL, first_name="Sam", last_name="Staff")
        staff.set_staff(STAFF_EMAIL, True)
    return server


def test_staff_adds_a_product_with_an_image_and_it_shows_in_the_catalog(staff_shop, new_page,
                                                                         tmp_path):
    photo = tmp_path / "teapot.jpg"
    photo.write_bytes(image_bytes("JPEG", (1400, 1000)))
    page = new_page()
    page.goto(staff_shop.url)
    sign_in(page, STAFF_EMAIL)
    page.locator("header").get_by_role("link", name="Staff", exact=True).click()
    expect(page.get_by_role("heading", name="Staff dashboard")).to_be_visible()
    page.get_by_role("navigation", name="Staff area").get_by_role("link", name="Products").click()
    page.get_by_role("link", name="Add a product").click()
    page.get_by_label("SKU").fill("TEA-POT-1")
    page.get_by_label("Name").fill("Cast iron teapot")
    page.get_by_label("Description").fill("Keeps tea hot.")
    page.get_by_label("Price").fill("39.90")
    page.get_by_label("Stock").fill("6")
    page.get_by_label("Image (JPEG, PNG or WebP, at most 5 MB)").set_input_files(str(photo))
    page.get_by_role("button", name="Add product").click()
    expect(page.locator(".flash[data-category=success]")).to_have_text(
        "Product Cast iron teapot was added.")

    shopper = new_page()
    shopper.goto(staff_shop.url)
    open_catalog(shopper)
    card = shopper.locator(".product-card", has_text="Cast iron teapot")
    image = card.locator("img")
    expect(image).to_have_attribute("srcset", re.compile(r"-320\.webp 320w, .*-1280\.webp 1280w"))
    expect(image).to_be_visible()
    shopper.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
    add_from_product_page(shopper, "Cast iron teapot", 1)
    register(shopper, "buyer@example.com")


def test_axe_finds_nothing_serious_on_staff_pages(staff_shop, new_page):
    with app_on(staff_shop.database_url):
        product = make_product(name="Low lamp", stock=2)
        make_user("bob@example.com", first_name="Bob", last_name="Buyer")
        from sqlalchemy import select

        from storefront.extensions import db
        from storefront.models import User

        bob = db.session.scalar(select(User.id).where(User.email == "bob@example.com"))
    page = new_page()
    page.goto(staff_shop.url)
    sign_in(page, STAFF_EMAIL)
    paths = ["/admin", "/admin/products", "/admin/products/new",
             f"/admin/products/{product.id}/edit", "/admin/products/import",
             "/admin/customers", f"/admin/customers/{bob}", "/admin/audit"]
    found = {}
    for path in paths:
        page.goto(staff_shop.url + path)
        found[path] = blocking(page)
    # A form shown again with errors.
    page.goto(staff_shop.url + "/admin/products/new")
    page.get_by_role("button", name="Add product").click()
    expect(page.locator(".field-errors").first).to_be_visible()
    found["new product with errors"] = blocking(page)
    assert found == {key: [] for key in found}


def blocking(page: Page) -> list[str]:
    violations = Axe().run(page).response["violations"]
    return [f"{v['id']}: {[n['target'] for n in v['nodes']]}" for v in violations
            if v["impact"] in BLOCKING_IMPACTS]
