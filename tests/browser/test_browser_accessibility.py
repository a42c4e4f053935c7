"""Accessibility: axe-core on every kind of page, labels, errors tied to their fields, a
visible focus, and a shop that works with the keyboard alone.

The tests share one server: a member registered once (1 registration) whose cookies the
account pages reuse, and guests in fresh contexts.
"""

from __future__ import annotations

import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Locator, Page, expect

from tests.browser.ui import (
    add_from_product_page,
    cart_count,
    cart_lines,
    fill_registration,
    register,
    seed_products,
    unique_email,
)

pytestmark = pytest.mark.browser

BLOCKING_IMPACTS = {"serious", "critical"}
# A tab stop is found within this many presses on this shop's pages, or never.
MAX_TABS = 60


@pytest.fixture(scope="module")
def products(shared_shop) -> dict[str, int]:  # noqa: ANN001
    # One of each stock state, so the catalog shows "In stock", "Only N left" and "Sold out".
    return seed_products(shared_shop.database_url, Green_Tea=20, Brass_Lamp=3, Old_Kettle=0)


@pytest.fixture(scope="module")
def member(shared_shop, products, browser) -> dict:  # noqa: ANN001
    """A signed-in member with a saved cart line: the cookies of their browser."""
    context = browser.new_context()
    page = context.new_page()
    page.goto(shared_shop.url)
    add_from_product_page(page, "Green Tea", 2)
    register(page, unique_email("member"))
    state = context.storage_state()
    context.close()
    return state


@pytest.fixture
def member_page(new_context, member, shared_shop) -> Page:  # noqa: ANN001
    page = new_context(storage_state=member).new_page()
    page.goto(shared_shop.url)
    return page


@pytest.fixture
def guest_page(new_page, shared_shop, products) -> Page:  # noqa: ANN001
    page = new_page()
    page.goto(shared_shop.url)
    return page


def blocking_violations(page: Page) -> list[dict]:
    violations = Axe().run(page).response["violations"]
    if violations:  # all of them, minor ones too, in the output pytest shows on failure
        print(f"axe on {page.url}:\n{describe(violations)}")
    return [v for v in violations if v["impact"] in BLOCKING_IMPACTS]


def describe(violations: list[dict]) -> str:
    lines = []
    for violation in violations:
        lines.append(f"{violation['id']} ({violation['impact']}): {violation['help']}")
        lines.extend(f"    {node['target']}: {node['html'][:160]}" for node in violation["nodes"])
    return "\n".join(lines)


# Each page is opened by its address and checked once its own heading shows.
GUEST_PAGES = {
    "catalog": ("/", "Catalog"),
    "product": ("/products/{slug}", "Brass Lamp"),
    "register": ("/auth/register", "Create an account"),
    "sign-in": ("/auth/login", "Sign in"),
    "forgot password": ("/auth/forgot", "Forgot your password?"),
    "link not valid": ("/auth/verify/" + "x" * 43, "This link cannot be used"),
}
MEMBER_PAGES = {
    "cart": ("/cart", "Your cart"),
    "account": ("/account", "Your account"),
    "profile": ("/account/profile", "Your profile"),
    "password": ("/account/password", "Change your password"),
    "sessions": ("/account/sessions", "Where you are signed in"),
    "e-mail change": ("/account/email", "Change your e-mail address"),
    "addresses": ("/account/addresses", "Your addresses"),
    "new address": ("/account/addresses/new", "Add an address"),
    "checkout": ("/checkout", "Checkout"),
    "orders": ("/account/orders", "Your orders"),
}


def product_slug(page: Page, name: str) -> str:
    href = page.get_by_role("link", name=name, exact=True).get_attribute("href")
    return href.rsplit("/", 1)[-1]


@pytest.mark.parametrize("name", [*GUEST_PAGES, *MEMBER_PAGES])
def test_page_has_no_serious_or_critical_axe_violations(
    name: str, request: pytest.FixtureRequest, shared_shop,  # noqa: ANN001
) -> None:
    if name in GUEST_PAGES:
        page, (path, heading) = request.getfixturevalue("guest_page"), GUEST_PAGES[name]
        path = path.format(slug=product_slug(page, "Brass Lamp"))
    else:
        page, (path, heading) = request.getfixturevalue("member_page"), MEMBER_PAGES[name]
    page.goto(shared_shop.url + path)
    expect(page.get_by_role("heading", name=heading, level=1)).to_be_visible()
    if name == "cart":
        assert cart_lines(page), "the cart page is checked with lines in it"

    violations = blocking_violations(page)
    assert not violations, f"axe on {name} ({page.url}):\n{describe(violations)}"


def test_pages_with_errors_and_flashes_have_no_serious_or_critical_axe_violations(
    guest_page: Page,
) -> None:
    # Error states add markup (field errors, alerts, aria-invalid) the clean pages lack.
    page = guest_page
    page.locator("header").get_by_role("link", name="Register", exact=True).click()
    page.get_by_role("button", name="Create account").click()
    expect(page.locator(".field-errors").first).to_be_visible()
    violations = blocking_violations(page)
    assert not violations, f"axe on the failed register form:\n{describe(violations)}"

    add_from_product_page(page, "Green Tea", 1)
    page.get_by_label("Quantity of Green Tea").fill("150")
    page.get_by_role("button", name="Update Green Tea").click()
    expect(page.locator(".flash[data-category=error]")).to_be_visible()
    violations = blocking_violations(page)
    assert not violations, f"axe on the cart with a refused quantity:\n{describe(violations)}"


FIELDS = "input:not([type=hidden]):not([type=submit]), select, textarea"
UNLABELLED_FIELDS = f"""() => [...document.querySelectorAll('{FIELDS}')]
  .filter(field => ![...field.labels].some(label => label.textContent.trim())
                   && !(field.getAttribute('aria-label') || '').trim()
                   && !field.getAttribute('aria-labelledby'))
  .map(field => field.outerHTML)"""


def test_every_form_field_has_a_label(guest_page: Page, member_page: Page, shared_shop) -> None:  # noqa: ANN001
    forms = [
        (guest_page, "/", 1),  # the header search
        (guest_page, "/products/" + product_slug(guest_page, "Green Tea"), 2),
        (guest_page, "/auth/register", 6),
        (guest_page, "/auth/login", 4),
        (member_page, "/cart", 2),
        (member_page, "/account", 2),
        (member_page, "/account/profile", 5),
        (member_page, "/account/password", 4),
        (guest_page, "/auth/forgot", 2),
        (member_page, "/account/email", 3),
        (member_page, "/account/addresses/new", 10),
    ]
    for page, path, fields in forms:
        page.goto(shared_shop.url + path)
        expect(page.locator("main h1")).to_be_visible()
        # At least the fields we know of, so a page that lost its form does not pass.
        assert page.locator(FIELDS).count() >= fields, f"fields missing on {path}"
        assert page.evaluate(UNLABELLED_FIELDS) == [], f"fields without a label on {path}"


def test_register_errors_are_tied_to_their_fields(guest_page: Page) -> None:
    page = guest_page
    page.locator("header").get_by_role("link", name="Register", exact=True).click()
    fill_registration(page, "not-an-email", password="short", confirm="different",
                      first="Ada", last="")

    expected = {
        "Email": "Enter a valid email address.",
        "Password": "Use 8 to 128 characters.",
        "Confirm password": "The passwords do not match.",
        "Last name": "This field is required.",
    }
    for label, message in expected.items():
        field = page.get_by_label(label, exact=True)
        expect(field).to_have_attribute("aria-invalid", "true")
        error_id = field.get_attribute("id") + "-error"
        expect(page.locator(f"#{error_id}")).to_have_text(message)
        expect(field).to_have_attribute("aria-describedby", re.compile(rf"(^| ){error_id}( |$)"))
        # What a screen reader announces with the field: its errors (and any hint).
        expect(field).to_have_accessible_description(re.compile(re.escape(message)))
    first_name = page.get_by_label("First name", exact=True)
    expect(first_name).not_to_have_attribute("aria-invalid", "true")
    expect(first_name).to_have_accessible_description("")


FOCUS_RING = """() => {
  const element = document.activeElement;
  if (!element || element === document.body) return null;
  const style = getComputedStyle(element), box = element.getBoundingClientRect();
  return {html: element.outerHTML.slice(0, 120), outline: style.outlineStyle,
          width: parseFloat(style.outlineWidth), onScreen: box.right > 0 && box.bottom > 0};
}"""


def test_keyboard_focus_is_always_visible(guest_page: Page, shared_shop) -> None:  # noqa: ANN001
    page = guest_page
    for path in ("/", "/auth/register"):
        page.goto(shared_shop.url + path)
        # Every tab stop of the page, until the focus leaves the document.
        seen: list[str] = []
        for _ in range(MAX_TABS):
            page.keyboard.press("Tab")
            ring = page.evaluate(FOCUS_RING)
            if ring is None:
                break
            seen.append(ring["html"])
            assert ring["outline"] != "none" and ring["width"] > 0, f"no focus ring on {ring}"
            assert ring["onScreen"], f"focused element is off screen: {ring}"
        else:
            pytest.fail(f"the focus never left {path} in {MAX_TABS} presses of Tab")
        assert len(seen) >= 8, f"only {len(seen)} tab stops on {path}: {seen}"


def tab_to(page: Page, target: Locator) -> None:
    """Press Tab until `target` has the focus, as a keyboard user would."""
    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        if target.evaluate("element => element === document.activeElement"):
            return
    pytest.fail(f"{target} never got the focus in {MAX_TABS} presses of Tab")


def test_the_shop_works_with_the_keyboard_alone(guest_page: Page, products) -> None:  # noqa: ANN001
    page = guest_page
    add = page.locator(f'[data-product-id="{products["Green Tea"]}"]').get_by_role(
        "button", name="Add to cart")
    tab_to(page, add)
    page.keyboard.press("Enter")
    # static/shop.js adds in place: the page stays, the mini-cart says what happened.
    expect(page.locator("#mini-cart .mini-cart-panel")).to_contain_text("Green Tea")
    expect(cart_count(page)).to_have_attribute("data-cart-count", "1")

    # Back to the catalog and on to the cart through the header, still by keyboard.
    tab_to(page, page.get_by_role("link", name="Storefront", exact=True))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Catalog", level=1)).to_be_visible()
    tab_to(page, page.locator("header").get_by_role("link", name=re.compile(r"^Cart\b")))
    page.keyboard.press("Enter")
    page.wait_for_url("**/cart")
    assert cart_lines(page) == {products["Green Tea"]: 1}
