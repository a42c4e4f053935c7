"""Shoppers' journeys in Chromium against gunicorn: real clicks and typing on the visible UI.

Each test has a server of its own (fresh database, fresh memory rate limiter) and opens as
many browser contexts (separate cookie jars: another browser, another device) as it needs.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.ui import (
    add_from_product_page,
    cart_count,
    cart_lines,
    fill_sign_in,
    flash,
    open_account,
    open_account_page,
    open_cart,
    register,
    seed_products,
    sign_in,
    sign_out,
    unique_email,
)
from tests.support import PASSWORD

pytestmark = pytest.mark.browser

NEW_PASSWORD = "a brand new passphrase 42"


def guest_fills_cart_and_registers(page: Page, shop, email: str) -> dict[int, int]:  # noqa: ANN001
    """Journey (a): two products from their pages, then an account; returns the cart."""
    ids = seed_products(shop.database_url, Green_Tea=20, Stoneware_Mug=20)
    page.goto(shop.url)
    add_from_product_page(page, "Green Tea", 2)
    add_from_product_page(page, "Stoneware Mug", 1)
    expect(cart_count(page)).to_have_attribute("data-cart-count", "3")
    guest_cart = cart_lines(page)
    assert guest_cart == {ids["Green Tea"]: 2, ids["Stoneware Mug"]: 1}

    register(page, email)
    return guest_cart


def test_guest_cart_follows_the_shopper_into_a_new_account(shop, new_page) -> None:  # noqa: ANN001
    page = new_page()
    guest_cart = guest_fills_cart_and_registers(page, shop, unique_email("ada"))

    # The header of the page registration lands on already counts the saved cart.
    expect(cart_count(page)).to_have_attribute("data-cart-count", "3")
    open_cart(page)
    assert cart_lines(page) == guest_cart
    expect(cart_count(page)).to_have_attribute("data-cart-count", "3")


def test_signing_out_empties_the_cart_and_another_browser_signs_into_the_saved_cart(
    shop, new_page,  # noqa: ANN001
) -> None:
    email = unique_email("ada")
    first = new_page()
    saved = guest_fills_cart_and_registers(first, shop, email)

    sign_out(first)
    expect(cart_count(first)).to_have_attribute("data-cart-count", "0")
    open_cart(first)
    expect(first.locator("[data-cart-empty]")).to_be_visible()
    assert cart_lines(first) == {}

    # Another browser: nothing in its cookie jar, the cart comes from the account.
    second = new_page()
    second.goto(shop.url)
    expect(cart_count(second)).to_have_attribute("data-cart-count", "0")
    sign_in(second, email)
    expect(cart_count(second)).to_have_attribute("data-cart-count", "3")
    open_cart(second)
    assert cart_lines(second) == saved


def test_signing_in_merges_a_guest_cart_with_a_receipt_naming_summed_and_capped_lines(
    shop, new_page,  # noqa: ANN001
) -> None:
    # The lamp's low stock makes the sum (2 saved + 2 from this visit) cap at 3.
    ids = seed_products(shop.database_url, Green_Tea=20, Brass_Lamp=3, Stoneware_Mug=20)
    email = unique_email("merge")
    first = new_page()
    first.goto(shop.url)
    add_from_product_page(first, "Green Tea", 2)
    add_from_product_page(first, "Brass Lamp", 2)
    register(first, email)

    third = new_page()
    third.goto(shop.url)
    add_from_product_page(third, "Green Tea", 1)
    add_from_product_page(third, "Brass Lamp", 2)
    add_from_product_page(third, "Stoneware Mug", 1)
    sign_in(third, email)

    receipt = flash(third, "warning")
    expect(receipt).to_have_count(1)  # one receipt for the whole merge, not one per line
    expect(receipt).to_contain_text(re.compile(r"Green Tea: 2 saved \+ 1 [^;]*= 3"))
    expect(receipt).to_contain_text("Brass Lamp: 4 wanted, set to 3 (only 3 in stock)")
    expect(receipt).not_to_contain_text("Stoneware Mug")  # a new line is neither summed nor capped
    expect(cart_count(third)).to_have_attribute("data-cart-count", "7")
    open_cart(third)
    assert cart_lines(third) == {ids["Green Tea"]: 3, ids["Brass Lamp"]: 3, ids["Stoneware Mug"]: 1}


def test_profile_changes_persist_across_sign_out_and_sign_in(shop, new_page) -> None:  # noqa: ANN001
    email = unique_email("grace")
    page = new_page()
    page.goto(shop.url)
    register(page, email)

    open_account_page(page, "Profile")
    page.get_by_label("First name").fill("Grace")
    page.get_by_label("Last name").fill("Hopper")
    page.get_by_label("Phone (optional)").fill("+1 555 0100")
    page.get_by_label("Send me news and offers by email").check()
    page.get_by_role("button", name="Save profile").click()
    expect(flash(page, "success")).to_have_text("Your profile was saved.")

    sign_out(page)
    sign_in(page, email)
    open_account(page)
    expect(page.locator("[data-profile-name]")).to_have_text("Grace Hopper")
    open_account_page(page, "Profile")
    expect(page.get_by_label("First name")).to_have_value("Grace")
    expect(page.get_by_label("Last name")).to_have_value("Hopper")
    expect(page.get_by_label("Phone (optional)")).to_have_value("+1 555 0100")
    expect(page.get_by_label("Send me news and offers by email")).to_be_checked()


def test_changing_the_password_signs_out_the_other_browser(shop, new_page) -> None:  # noqa: ANN001
    email = unique_email("two-devices")
    laptop = new_page()
    laptop.goto(shop.url)
    register(laptop, email)
    phone = new_page()
    phone.goto(shop.url)
    sign_in(phone, email)

    open_account_page(laptop, "Password")
    laptop.get_by_label("Current password").fill(PASSWORD)
    laptop.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    laptop.get_by_label("Confirm new password").fill(NEW_PASSWORD)
    laptop.get_by_role("button", name="Change password").click()
    laptop.wait_for_url("**/account")
    expect(flash(laptop, "success")).to_contain_text("Your password was changed")
    # The device that changed it stays signed in (with a new session token).
    laptop.reload()
    expect(laptop.locator(f'header [data-user-email="{email}"]')).to_be_visible()

    phone.reload()
    expect(phone.locator("header [data-user-email]")).to_have_count(0)
    expect(phone.locator("header").get_by_role("link", name="Sign in", exact=True)).to_be_visible()
    phone.goto(shop.url + "/account")
    phone.wait_for_url(re.compile(r"/auth/login\?next="))
    fill_sign_in(phone, email, NEW_PASSWORD)
    phone.wait_for_url("**/account")
    expect(phone.locator(f'header [data-user-email="{email}"]')).to_be_visible()
