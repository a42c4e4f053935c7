"""The checkout journey in Chromium against gunicorn: a guest fills a cart, registers at the
checkout, adds an address on the way, places the order, finds it in the history and cancels
it."""

from __future__ import annotations

import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from tests.browser.ui import (
    add_from_product_page,
    cart_count,
    fill_registration,
    flash,
    open_account_page,
    open_cart,
    seed_products,
    unique_email,
)

pytestmark = pytest.mark.browser
BLOCKING_IMPACTS = {"serious", "critical"}


def assert_accessible(page: Page) -> None:
    """No serious or critical axe violation on the page as it stands."""
    violations = [violation for violation in Axe().run(page).response["violations"]
                  if violation["impact"] in BLOCKING_IMPACTS]
    assert not violations, [(v["id"], [n["target"] for n in v["nodes"]]) for v in violations]


def test_guest_registers_at_checkout_places_an_order_and_cancels_it(shop, new_page) -> None:  # noqa: ANN001
    page = new_page()
    ids = seed_products(shop.database_url, Green_Tea=20)
    page.goto(shop.url)
    add_from_product_page(page, "Green Tea", 2)
    open_cart(page)
    page.get_by_role("link", name="Check out").click()

    # Not signed in: the sign-in page, which leads to registration and back to the checkout.
    page.wait_for_url(re.compile(r"/auth/login\?next=/checkout"))
    page.get_by_role("link", name="Create an account").click()
    email = unique_email("buyer")
    fill_registration(page, email)
    page.wait_for_url("**/checkout")
    expect(page.get_by_role("heading", name="Checkout", level=1)).to_be_visible()
    expect(page.locator(f'[data-product-id="{ids["Green Tea"]}"]')).to_have_attribute(
        "data-quantity", "2")
    expect(page.locator("[data-total]")).to_have_attribute("data-total", "24.90")

    # An address on the way.
    page.get_by_role("link", name="Add an address").click()
    page.get_by_label("Full name").fill("Ada Lovelace")
    page.get_by_label("Address line 1").fill("10 Downing Street")
    page.get_by_label("City or town").fill("London")
    page.get_by_label("Postal code").fill("NOT A CODE")
    page.get_by_label("Country").select_option("GB")
    page.get_by_role("button", name="Save address").click()
    expect(page.locator("#postal_code-error")).to_have_text("Enter a UK postcode such as SW1A 1AA.")
    assert_accessible(page)
    page.get_by_label("Postal code").fill("SW1A 2AA")
    page.get_by_label("Use as my default shipping address").check()
    page.get_by_role("button", name="Save address").click()
    page.wait_for_url("**/checkout")
    ship_to = page.get_by_role("group", name="Ship to")
    expect(ship_to.get_by_label(re.compile(r"^Ada Lovelace, 10 Downing Street"))).to_be_checked()
    expect(page.get_by_role("group", name="Bill to").get_by_label(
        "The same as the shipping address")).to_be_checked()

    assert_accessible(page)  # the checkout form, addresses and payment methods
    page.get_by_label("Cash on delivery").check()
    page.get_by_role("button", name="Place order").click()
    page.wait_for_url(re.compile(r"/account/orders/SF-"))
    expect(flash(page, "success")).to_contain_text("Thank you! Your order SF-")
    order = page.locator("[data-order-number]").first
    number = order.get_attribute("data-order-number")
    expect(order).to_have_attribute("data-order-status", "placed")
    expect(order).to_have_attribute("data-order-total", "24.90")
    expect(cart_count(page)).to_have_attribute("data-cart-count", "0")
    assert_accessible(page)  # the order page

    # The history lists it; its page cancels it.
    open_account_page(page, "Orders")
    listed = page.locator(f'[data-order-number="{number}"]')
    expect(listed).to_have_attribute("data-order-status", "placed")
    listed.get_by_role("link", name=f"Order {number}").click()
    page.get_by_role("button", name=f"Cancel order {number}").click()
    expect(flash(page, "success")).to_have_text(f"Your order {number} is cancelled.")
    expect(page.locator(f'[data-order-number="{number}"]')).to_have_attribute(
        "data-order-status", "cancelled")
    expect(page.get_by_role("button", name=re.compile("Cancel order"))).to_have_count(0)
