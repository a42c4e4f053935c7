"""The staff area in a browser: a staff member signs in, adds a product with an image and
sees it in the catalog; the whole order journey (staff adds a product with an image, a
shopper buys it, staff marks it paid and ships it, the shopper sees the status and gets both
mails from a real SMTP server); axe finds no serious or critical violation on any staff
page."""

from __future__ import annotations

import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from storefront import staff
from tests.browser.test_browser_mail import BASE_URL, run_worker
from tests.browser.ui import (
    add_from_product_page,
    fill_registration,
    flash,
    open_cart,
    open_catalog,
    register,
    sign_in,
    unique_email,
)
from tests.factories import make_product, make_user
from tests.staff_support import image_bytes
from tests.support import Mailbox, app_on

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


def add_teapot(page: Page, tmp_path) -> None:  # noqa: ANN001
    """On the staff dashboard's header link: add "Cast iron teapot" with a photo."""
    photo = tmp_path / "teapot.jpg"
    photo.write_bytes(image_bytes("JPEG", (1400, 1000)))
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


def test_staff_adds_a_product_with_an_image_and_it_shows_in_the_catalog(staff_shop, new_page,
                                                                         tmp_path):
    page = new_page()
    page.goto(staff_shop.url)
    sign_in(page, STAFF_EMAIL)
    add_teapot(page, tmp_path)

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


@pytest.fixture
def staff_mail_shop(start_live_server, tmp_path, mailbox: Mailbox):  # noqa: ANN001, ANN201
    server = start_live_server(MEDIA_ROOT=str(tmp_path / "media"), MAIL_URL=mailbox.url,
                               EXTERNAL_BASE_URL=BASE_URL)
    with app_on(server.database_url):
        make_user(STAFF_EMAIL, first_name="Sam", last_name="Staff")
        staff.set_staff(STAFF_EMAIL, True)
    return server


def staff_sets_status(page: Page, shop, number: str, action: str,  # noqa: ANN001
                      tracking: str = "") -> None:
    page.goto(shop.url + "/admin/orders")
    page.locator(f'tr[data-order-number="{number}"]').get_by_role("link", name=number).click()
    page.get_by_label("New status").select_option(label=action)
    if tracking:
        page.get_by_label("Tracking reference (optional)").fill(tracking)
    page.get_by_role("button", name="Change the status").click()
    expect(flash(page, "success")).to_contain_text(f"Order {number} was")


def test_staff_product_shopper_buys_staff_ships_shopper_sees_and_gets_mail(
        staff_mail_shop, mailbox, new_page, tmp_path) -> None:  # noqa: ANN001
    shop = staff_mail_shop
    staff_page = new_page()
    staff_page.goto(shop.url)
    sign_in(staff_page, STAFF_EMAIL)
    add_teapot(staff_page, tmp_path)

    # A shopper buys it, paying by bank transfer.
    shopper = new_page()
    shopper.goto(shop.url)
    add_from_product_page(shopper, "Cast iron teapot", 1)
    open_cart(shopper)
    shopper.get_by_role("link", name="Check out").click()
    shopper.get_by_role("link", name="Create an account").click()
    email = unique_email("teapot-buyer")
    fill_registration(shopper, email)
    shopper.wait_for_url("**/checkout")
    shopper.get_by_role("link", name="Add an address").click()
    shopper.get_by_label("Full name").fill("Ada Lovelace")
    shopper.get_by_label("Address line 1").fill("10 Downing Street")
    shopper.get_by_label("City or town").fill("London")
    shopper.get_by_label("Postal code").fill("SW1A 2AA")
    shopper.get_by_label("Country").select_option("GB")
    shopper.get_by_role("button", name="Save address").click()
    shopper.wait_for_url("**/checkout")
    shopper.get_by_label(re.compile(r"^Bank transfer")).check()
    shopper.get_by_role("button", name="Place order").click()
    shopper.wait_for_url(re.compile(r"/account/orders/SF-"))
    number = shopper.locator("[data-order-number]").first.get_attribute("data-order-number")

    # Staff take the payment and ship it with a tracking reference.
    staff_sets_status(staff_page, shop, number, "Mark paid")
    expect(staff_page.locator(".admin-order")).to_have_attribute("data-order-status", "paid")
    staff_sets_status(staff_page, shop, number, "Ship", tracking="1Z999AA10123456784")
    expect(staff_page.locator(".admin-order")).to_have_attribute("data-order-status", "shipped")
    expect(staff_page.locator(".order-history li")).to_have_count(3)

    # The shopper sees it shipped, with the tracking reference, and got both notices.
    shopper.reload()
    expect(shopper.locator("[data-order-number]").first).to_have_attribute(
        "data-order-status", "shipped")
    expect(shopper.locator("[data-tracking]")).to_have_text("1Z999AA10123456784")
    run_worker(shop, mailbox)
    subjects = [mail.subject for mail in mailbox.to(email)]
    assert any(subject.startswith(f"Your order {number} is paid") for subject in subjects)
    shipped = [mail for mail in mailbox.to(email)
               if mail.subject.startswith(f"Your order {number} is on its way")]
    assert len(shipped) == 1 and "1Z999AA10123456784" in shipped[0].text


def seed_order(database_url: str) -> str:
    """An order placed as the checkout stores one (for the pages' accessibility checks)."""
    from storefront.extensions import db
    from storefront.models import Order, OrderLine

    with app_on(database_url):
        buyer = make_user("carol@example.com", first_name="Carol", last_name="Buyer")
        product = make_product(name="Tea cup", stock=4)
        address = {f"{kind}_{part}": value for kind in ("ship", "bill") for part, value in (
            ("name", "Carol Buyer"), ("line1", "1 Road"), ("line2", ""), ("city", "London"),
            ("postal_code", "SW1A 1AA"), ("region", ""), ("country", "GB"))}
        order = Order(number="SF-TEST-CUPS", user_id=buyer.id, status="paid", payment_method="bank_transfer", currency="EUR",
                      payment_reference="SF-TEST-CUPS", email="carol@example.com",
                      subtotal=8, shipping=0, total=8, **address)
        db.session.add(order)
        db.session.flush()
        db.session.add(OrderLine(order_id=order.id, product_id=product.id, sku=product.sku,
                                 name="Tea cup", unit_price=8, quantity=1))
        db.session.commit()
        return order.number


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
    number = seed_order(staff_shop.database_url)
    paths = ["/admin", "/admin/products", "/admin/products/new",
             f"/admin/products/{product.id}/edit", "/admin/products/import",
             "/admin/customers", f"/admin/customers/{bob}", "/admin/audit",
             "/admin/orders", f"/admin/orders/{number}"]
    found = {}
    for path in paths:
        page.goto(staff_shop.url + path)
        found[path] = blocking(page)
    # A form shown again with errors.
    page.goto(staff_shop.url + "/admin/products/new")
    page.get_by_role("button", name="Add product").click()
    expect(page.locator(".field-errors").first).to_be_visible()
    found["new product with errors"] = blocking(page)
    # The order's status form shown again with an error (a paid order's cancel, no password).
    page.goto(staff_shop.url + f"/admin/orders/{number}")
    page.get_by_label("New status").select_option("cancelled")
    page.get_by_role("button", name="Change the status").click()
    expect(page.locator("#password-error")).to_be_visible()
    found["order status with errors"] = blocking(page)
    assert found == {key: [] for key in found}


def blocking(page: Page) -> list[str]:
    violations = Axe().run(page).response["violations"]
    return [f"{v['id']}: {[n['target'] for n in v['nodes']]}" for v in violations
            if v["impact"] in BLOCKING_IMPACTS]
