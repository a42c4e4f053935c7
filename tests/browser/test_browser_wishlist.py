"""The wishlist and the profile picture in Chromium against gunicorn: a guest presses the
heart, signs in, finds the product on the wishlist and moves it to the cart with its
quantity; a shopper uploads a picture, sees it in the header, and removes it."""

from __future__ import annotations

import io
import re

import pytest
from PIL import Image
from playwright.sync_api import expect

from tests.browser.ui import (
    cart_count,
    flash,
    open_account_page,
    open_catalog,
    register,
    seed_products,
    sign_out,
    unique_email,
)

pytestmark = pytest.mark.browser


def test_guest_wishes_signs_in_and_moves_to_the_cart_with_the_quantity(shop, new_page):  # noqa: ANN001
    page = new_page()
    ids = seed_products(shop.database_url, Green_Tea=20)
    page.goto(shop.url)
    email = unique_email("wisher")
    register(page, email)
    sign_out(page)

    open_catalog(page)
    page.get_by_role("link", name="Green Tea", exact=True).click()
    page.get_by_label("Quantity").fill("3")
    page.get_by_role("button", name="Add to wishlist").click()
    page.wait_for_url(re.compile(r"/auth/login\?next=/account/wishlist"))
    expect(flash(page, "info")).to_contain_text("Sign in to keep Green Tea on your wishlist")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill("correct horse battery staple")
    page.get_by_role("button", name="Sign in", exact=True).click()

    page.wait_for_url("**/account/wishlist")
    expect(flash(page, "success").last).to_contain_text("Added Green Tea to your wishlist")
    item = page.locator(f'.wish-item[data-product-id="{ids["Green Tea"]}"]')
    expect(item).to_have_attribute("data-quantity", "3")
    item.get_by_role("button", name="Move to cart").click()
    expect(flash(page, "success")).to_have_text("Green Tea: 3 moved to your cart.")
    expect(page.locator(".wish-item")).to_have_count(0)
    expect(cart_count(page)).to_have_attribute("data-cart-count", "3")


def picture() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (400, 300), (30, 120, 200)).save(out, format="PNG")
    return out.getvalue()


def test_avatar_upload_shows_in_the_header_then_goes(shop, new_page):  # noqa: ANN001
    page = new_page()
    page.goto(shop.url)
    register(page, unique_email("face"))
    open_account_page(page, "Picture")
    page.get_by_label(re.compile("^Picture")).set_input_files(
        {"name": "me.png", "mimeType": "image/png", "buffer": picture()})
    page.get_by_role("button", name="Upload").click()
    expect(flash(page, "success")).to_have_text("Your picture was saved.")
    header_avatar = page.locator("header img[data-avatar]")
    expect(header_avatar).to_be_visible()
    assert page.evaluate("img => img.naturalWidth", header_avatar.element_handle()) == 64
    page.get_by_role("button", name="Remove my picture").click()
    expect(flash(page, "success")).to_have_text("Your picture was removed.")
    expect(header_avatar).to_have_count(0)


def test_a_shared_wishlist_opens_in_another_browser(shop, new_page):  # noqa: ANN001
    page = new_page()
    seed_products(shop.database_url, Black_Tea=5)
    page.goto(shop.url)
    register(page, unique_email("sharer"), first="Grace", last="Hopper")
    open_catalog(page)
    page.get_by_role("button", name="Add to wishlist Black Tea").click()
    page.wait_for_url("**/account/wishlist")
    page.get_by_label("Share my wishlist with a link").check()
    page.get_by_role("button", name="Save").click()
    link = page.locator("[data-share-url]").inner_text()
    other = new_page()
    other.goto(link)
    expect(other.get_by_role("heading", name="Grace’s wishlist")).to_be_visible()
    expect(other.locator(".wish-item")).to_have_count(1)
    expect(other.get_by_text("Hopper")).to_have_count(0)

