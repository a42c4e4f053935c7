"""No page scrolls sideways on a 360 px wide phone, whatever it shows: product names and
descriptions that are one long word, a 200-character search word, a long e-mail address,
field errors, the cart's lines and the sessions table.

Each page is checked at 360×740 twice: the page is no wider than the window
(`scrollWidth <= innerWidth`), and nothing on it pokes out past the right edge except inside
a box that scrolls by itself (a wide table may scroll in its own container, but content that
a clipped page hides does not count as fitting).

The tests share one server: one member (1 registration, 2 more sign-ins from other devices)
whose cookies the signed-in pages reuse, and guests in fresh contexts.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from werkzeug.http import HTTP_STATUS_CODES

from tests.browser.ui import (
    add_from_product_page,
    fill_registration,
    fill_sign_in,
    flash,
    register,
    sign_in,
    unique_email,
)
from tests.factories import make_product
from tests.support import app_on

pytestmark = pytest.mark.browser

VIEWPORT = {"width": 360, "height": 740}
# One word each, no spaces or hyphens where a browser could break the line.
LONG_NAME = "Pneumonoultramicroscopicsilicovolcanoconiosis" * 3
LONG_DESCRIPTION = "Handmade" + "Extraordinarilylongdescriptionword" * 12 + " and more words."
LONG_SKU = "SKU" + "0123456789ABCDEF" * 3 + "XYZXYZXYZ"
SEARCH_WORD = ("Supercalifragilisticexpialidocious" * 6)[:200]  # SEARCH_MAX_CHARS
MISSING_WORD = ("Antidisestablishmentarianism" * 8)[:200]
SHORT_NAME = "Green Tea"
# With a unique tail, a 61-character local part (64 is the most an address may have).
LONG_LOCAL = ("firstname.middlename.lastname.department.team" + "x" * 64)[:50]
LONG_DOMAIN = "mail.averyveryverylongcompanynameincorporated-international.example.com"
LONG_USER_AGENTS = [
    "Mozilla/5.0 (Linux; Android 14; SM-S918B Build/UP1A.231005.007; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/126.0.6478.122 Mobile Safari/537.36 "
    "[FB_IAB/FB4A;FBAV/470.0.0.40.77;]" + "X" * 120,
    "SomeEmbeddedKioskBrowserWithAnExceptionallyLongNameAndNoSpacesAnywhereInItsUserAgent"
    "StringAtAll/1.2.3.4.5.6.7.8.9" + "Z" * 150,
]

SIDEWAYS = """() => {
  const width = window.innerWidth;
  const scrollsByItself = element => {
    for (let box = element.parentElement; box && box !== document.body; box = box.parentElement) {
      const overflow = getComputedStyle(box).overflowX;
      if (overflow === 'auto' || overflow === 'scroll') return true;
    }
    return false;
  };
  const out = [...document.body.querySelectorAll('*')].filter(element => {
    const box = element.getBoundingClientRect();
    return box.width > 0 && box.height > 0 && box.right > width + 0.5
      && !scrollsByItself(element);
  });
  return {
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: width,
    out: out.slice(0, 8).map(element =>
      `${Math.round(element.getBoundingClientRect().right)}px: `
      + element.outerHTML.slice(0, 140)),
  };
}"""


def assert_no_sideways_scroll(page: Page, what: str) -> None:
    expect(page.locator("main h1")).to_be_visible()
    expect(page.locator("header")).to_be_visible()
    seen = page.evaluate(SIDEWAYS)
    assert seen["innerWidth"] == VIEWPORT["width"]
    assert seen["scrollWidth"] <= seen["innerWidth"], (
        f"{what} ({page.url}) scrolls sideways: {seen['scrollWidth']} px wide in a "
        f"{seen['innerWidth']} px window; past the edge:\n" + "\n".join(seen["out"]))
    assert not seen["out"], (
        f"{what} ({page.url}) has content past the right edge:\n" + "\n".join(seen["out"]))


@pytest.fixture(scope="module")
def products(shared_shop) -> dict[str, str]:  # noqa: ANN001
    """The products' slugs by name: long unbroken names, a long description and SKU."""
    with app_on(shared_shop.database_url):
        made = [
            make_product(name=SHORT_NAME, stock=20),
            make_product(name=LONG_NAME, sku=LONG_SKU, description=LONG_DESCRIPTION, stock=3),
            make_product(name=SEARCH_WORD, stock=0),
            make_product(name=SEARCH_WORD[:120] + "Deluxe", stock=20),
        ]
        return {product.name: product.slug for product in made}


def narrow_context(make: Callable[..., BrowserContext], **options: object) -> BrowserContext:
    return make(viewport=VIEWPORT, **options)


@pytest.fixture(scope="module")
def member_email() -> str:
    email = f"{LONG_LOCAL}.{unique_email('n').split('@')[0]}@{LONG_DOMAIN}"
    assert len(email.split("@")[0]) >= 60
    return email


@pytest.fixture(scope="module")
def member(shared_shop, products, member_email, browser: Browser) -> dict:  # noqa: ANN001
    """A member with a long e-mail address, long-named cart lines and 3 sessions (this
    browser and 2 others with long user agents): the cookies of the first browser."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.goto(shared_shop.url)
    add_from_product_page(page, LONG_NAME, 2)
    register(page, member_email)
    state = context.storage_state()
    for user_agent in LONG_USER_AGENTS:
        other = browser.new_context(viewport=VIEWPORT, user_agent=user_agent)
        other_page = other.new_page()
        other_page.goto(shared_shop.url)
        sign_in(other_page, member_email)
        other.close()
    context.close()
    return state


@pytest.fixture
def guest_page(new_context, shared_shop, products) -> Page:  # noqa: ANN001
    page = narrow_context(new_context).new_page()
    page.goto(shared_shop.url)
    return page


@pytest.fixture
def member_page(new_context, shared_shop, member) -> Page:  # noqa: ANN001
    page = narrow_context(new_context, storage_state=member).new_page()
    page.goto(shared_shop.url)
    return page


# Pages opened by their address: (path, the h1 it shows, or the status an error page shows).
# `{long}` is the long product's slug.
PAGES = {
    "catalog": ("/", "Catalog"),
    "search with results": (f"/?q={SEARCH_WORD}", f"Results for “{SEARCH_WORD}”"),
    "search without results": (f"/?q={MISSING_WORD}", f"Results for “{MISSING_WORD}”"),
    "product": ("/products/{long}", LONG_NAME),
    "cart": ("/cart", "Your cart"),
    "sign-in": ("/auth/login", "Sign in"),
    "register": ("/auth/register", "Create an account"),
    "404": ("/no-such-page/" + MISSING_WORD, 404),
    "404 product": ("/products/" + MISSING_WORD.lower(), 404),
}
# Signed in, the sign-in and register pages send the member on to the account.
MEMBER_PAGES = {
    **{name: page for name, page in PAGES.items() if not name.startswith(("sign-in", "register"))},
    "account": ("/account", "Your account"),
    "profile": ("/account/profile", "Your profile"),
    "password": ("/account/password", "Change your password"),
    "sessions": ("/account/sessions", "Where you are signed in"),
}


def open_path(page: Page, base: str, path: str, shows: str | int,
              products: dict[str, str]) -> None:
    page.goto(base + path.format(long=products[LONG_NAME]))
    if isinstance(shows, int):
        error_page = page.locator(f"main [data-status='{shows}']")
        expect(error_page).to_be_visible()
        expect(error_page.get_by_role("heading", level=1)).to_have_text(HTTP_STATUS_CODES[shows])
    else:
        expect(page.get_by_role("heading", name=shows, level=1, exact=True)).to_be_visible()


@pytest.mark.parametrize("name", PAGES)
def test_guest_pages_fit_a_narrow_screen(name: str, guest_page: Page, shared_shop,  # noqa: ANN001
                                         products: dict[str, str]) -> None:
    path, heading = PAGES[name]
    open_path(guest_page, shared_shop.url, path, heading, products)
    if name == "search with results":
        expect(guest_page.get_by_role("link", name=SEARCH_WORD, exact=True)).to_be_visible()
    elif name == "search without results":
        expect(guest_page.get_by_text("No products match your search.")).to_be_visible()
    elif name == "product":
        expect(guest_page.get_by_text(LONG_SKU)).to_be_visible()
    assert_no_sideways_scroll(guest_page, f"{name} (guest)")


@pytest.mark.parametrize("name", MEMBER_PAGES)
def test_signed_in_pages_fit_a_narrow_screen_with_a_long_email(
    name: str, member_page: Page, shared_shop, products: dict[str, str],  # noqa: ANN001
    member_email: str,
) -> None:
    page = member_page
    path, heading = MEMBER_PAGES[name]
    open_path(page, shared_shop.url, path, heading, products)
    expect(page.locator(f'header [data-user-email="{member_email}"]')).to_be_visible()
    if name == "account":
        expect(page.get_by_text(member_email, exact=True)).to_be_visible()
    elif name == "sessions":
        expect(page.locator("[data-session-id]")).to_have_count(1 + len(LONG_USER_AGENTS))
    elif name == "cart":
        expect(page.get_by_role("link", name=LONG_NAME, exact=True)).to_be_visible()
    assert_no_sideways_scroll(page, f"{name} (signed in)")


def test_guest_cart_with_long_lines_and_a_refused_quantity_fits(guest_page: Page) -> None:
    page = guest_page
    page.locator("header").get_by_role("link", name=re.compile(r"^Cart\b")).click()
    expect(page.locator("[data-cart-empty]")).to_be_visible()
    assert_no_sideways_scroll(page, "the empty cart")

    add_from_product_page(page, LONG_NAME, 1)
    add_from_product_page(page, SEARCH_WORD[:120] + "Deluxe", 2)
    add_from_product_page(page, SHORT_NAME, 1)
    assert_no_sideways_scroll(page, "the cart with long-named lines")

    page.get_by_label(f"Quantity of {LONG_NAME}").fill("150")
    page.get_by_role("button", name=f"Update {LONG_NAME}").click()
    page.wait_for_url("**/cart/update")
    expect(flash(page, "error")).to_be_visible()
    assert_no_sideways_scroll(page, "the cart refusing a quantity (422)")

    page.get_by_label(f"Quantity of {LONG_NAME}").fill("3")
    page.get_by_role("button", name=f"Update {LONG_NAME}").click()
    expect(flash(page, "success")).to_be_visible()
    assert_no_sideways_scroll(page, "the cart after an update")


def test_failed_register_and_sign_in_forms_fit(guest_page: Page, shared_shop,  # noqa: ANN001
                                               member_email: str, member: dict) -> None:
    page = guest_page
    page.goto(shared_shop.url + "/auth/register")
    page.get_by_role("button", name="Create account").click()
    expect(page.locator(".field-errors").first).to_be_visible()
    assert_no_sideways_scroll(page, "the register form with every field missing")

    fill_registration(page, LONG_LOCAL + "@" + LONG_DOMAIN + "@" + MISSING_WORD,
                      password="short", confirm="different", first=LONG_NAME[:100],
                      last=MISSING_WORD[:100])
    expect(page.locator("#email-error")).to_be_visible()
    assert_no_sideways_scroll(page, "the register form with long values and errors")

    page.goto(shared_shop.url + "/auth/login")
    fill_sign_in(page, member_email, password="not the password at all")
    expect(page.locator("#sign-in-error")).to_be_visible()
    expect(page.get_by_label("Email")).to_have_value(member_email)
    assert_no_sideways_scroll(page, "the sign-in form refusing a long address")
