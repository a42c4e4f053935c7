"""What a shopper does with the visible UI (links, labels, buttons), shared by the browser
tests. Every step waits on something the page shows, never on time."""

from __future__ import annotations

import os
import re
from urllib.parse import urlsplit

from playwright.sync_api import Locator, Page, expect

from tests.factories import make_product
from tests.support import PASSWORD, app_on


def unique_email(label: str) -> str:
    return f"{label}-{os.urandom(4).hex()}@example.com"


def seed_products(database_url: str, **stocks: int) -> dict[str, int]:
    """Products named after the keywords (`Green_Tea=20` is "Green Tea"); their ids by name."""
    ids = {}
    with app_on(database_url):
        for key, stock in stocks.items():
            name = key.replace("_", " ")
            ids[name] = make_product(name=name, stock=stock).id
    return ids


def cart_count(page: Page) -> Locator:
    return page.locator("header [data-cart-count]")


def flash(page: Page, category: str) -> Locator:
    return page.locator(f".flash[data-category={category}]")


def cart_lines(page: Page) -> dict[int, int]:
    """{product id: quantity} as the cart page lists it (the page must be the cart)."""
    expect(page.get_by_role("heading", name="Your cart")).to_be_visible()
    return {
        int(line.get_attribute("data-product-id")): int(line.get_attribute("data-quantity"))
        for line in page.locator("[data-product-id][data-quantity]").all()
    }


def open_catalog(page: Page) -> None:
    page.get_by_role("link", name="Storefront", exact=True).click()
    expect(page.get_by_role("heading", name="Catalog", level=1)).to_be_visible()


def open_cart(page: Page) -> None:
    page.locator("header").get_by_role("link", name=re.compile(r"^Cart\b")).click()
    page.wait_for_url("**/cart")


def add_from_product_page(page: Page, name: str, quantity: int = 1) -> None:
    """Catalog → the product's page → quantity → "Add to cart": the page stays and its
    mini-cart says what was added (static/shop.js) → "View cart"."""
    open_catalog(page)
    page.get_by_role("link", name=name, exact=True).click()
    expect(page.get_by_role("heading", name=name, level=1)).to_be_visible()
    page.get_by_label("Quantity").fill(str(quantity))
    page.get_by_role("button", name="Add to cart").click()
    panel = page.locator("#mini-cart .mini-cart-panel")
    expect(panel).to_contain_text(f"Added {quantity} × {name}")
    panel.get_by_role("link", name="View cart").click()
    page.wait_for_url("**/cart")


def fill_registration(page: Page, email: str, password: str = PASSWORD, confirm: str | None = None,
                      first: str = "Ada", last: str = "Lovelace") -> None:
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_label("Confirm password").fill(password if confirm is None else confirm)
    page.get_by_label("First name").fill(first)
    page.get_by_label("Last name").fill(last)
    page.get_by_role("button", name="Create account").click()


def back_after_signing_in(page: Page) -> str:
    """Where the header's sign-in and register links bring the shopper back to: this page
    (/account when the page is itself a sign-in or sign-up page)."""
    here = urlsplit(page.url)
    if here.path.startswith("/auth/"):
        return "**/account"
    return page.url


def register(page: Page, email: str, first: str = "Ada", last: str = "Lovelace") -> None:
    """Register through the header link and the form, as a shopper does; comes back to the
    page it started from."""
    back = back_after_signing_in(page)
    page.locator("header").get_by_role("link", name="Register", exact=True).click()
    fill_registration(page, email, first=first, last=last)
    page.wait_for_url(back)
    expect(page.locator(f'header [data-user-email="{email}"]')).to_be_visible()


def fill_sign_in(page: Page, email: str, password: str = PASSWORD) -> None:
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()


def sign_in(page: Page, email: str, password: str = PASSWORD) -> None:
    """Sign in through the header link; the shop comes back to the page it started from."""
    back = back_after_signing_in(page)
    page.locator("header").get_by_role("link", name="Sign in", exact=True).click()
    fill_sign_in(page, email, password)
    page.wait_for_url(back)
    expect(page.locator(f'header [data-user-email="{email}"]')).to_be_visible()


def sign_out(page: Page) -> None:
    page.locator("header").get_by_role("button", name="Sign out", exact=True).click()
    expect(flash(page, "info")).to_have_text("You have signed out.")
    expect(page.locator("header [data-user-email]")).to_have_count(0)


def open_account(page: Page) -> None:
    """The header's "Account" link: the account overview."""
    page.locator("header").get_by_role("link", name="Account", exact=True).click()
    page.wait_for_url("**/account")


def open_account_page(page: Page, link: str) -> None:
    """Header "Account" link, then the account area's own navigation ("Profile", ...)."""
    open_account(page)
    nav = page.get_by_role("navigation", name="Your account")
    nav.get_by_role("link", name=link, exact=True).click()
    expect(nav.get_by_role("link", name=link, exact=True)).to_have_attribute("aria-current", "page")
