"""Every form shows its errors and keeps what was typed, except passwords, which are never
re-filled. The forms carry `novalidate`, so Chromium submits what was typed and the shop's own
messages are what the shopper sees.

The tests share one server (each with accounts of its own): 3 registrations in all.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.ui import (
    add_from_product_page,
    cart_count,
    cart_lines,
    fill_registration,
    fill_sign_in,
    flash,
    open_account,
    open_account_page,
    register,
    seed_products,
    unique_email,
)
from tests.support import PASSWORD

pytestmark = pytest.mark.browser

NEW_PASSWORD = "a brand new passphrase 42"


@pytest.fixture(scope="module")
def products(shared_shop) -> dict[str, int]:  # noqa: ANN001
    return seed_products(shared_shop.database_url, Green_Tea=20)


@pytest.fixture
def shop(shared_shop):  # noqa: ANN001, ANN201
    """The module's one server: each test here keeps to an account of its own."""
    return shared_shop


def test_register_form_shows_field_errors_and_keeps_typed_values_but_not_passwords(
    shop, new_page,  # noqa: ANN001
) -> None:
    page = new_page()
    page.goto(shop.url + "/auth/register")
    fill_registration(page, "not-an-email", password="short", confirm="different", first="Ada",
                      last="")
    expect(page.locator("#email-error")).to_have_text("Enter a valid email address.")
    expect(page.locator("#password-error")).to_have_text("Use 8 to 128 characters.")
    expect(page.locator("#confirm_password-error")).to_have_text("The passwords do not match.")
    expect(page.locator("#last_name-error")).to_have_text("This field is required.")

    expect(page.get_by_label("Email")).to_have_value("not-an-email")
    expect(page.get_by_label("First name")).to_have_value("Ada")
    expect(page.get_by_label("Password", exact=True)).to_have_value("")
    expect(page.get_by_label("Confirm password")).to_have_value("")
    expect(page.locator("header [data-user-email]")).to_have_count(0)


def test_sign_in_form_shows_errors_and_keeps_the_email_but_not_the_password(
    shop, new_page,  # noqa: ANN001
) -> None:
    page = new_page()
    page.goto(shop.url + "/auth/login")
    fill_sign_in(page, "", "some password")
    expect(page.locator("#email-error")).to_have_text("This field is required.")
    expect(page.get_by_label("Password", exact=True)).to_have_value("")

    fill_sign_in(page, "nobody@example.com", "wrong password")
    expect(page.get_by_role("alert")).to_have_text("The email or password is incorrect.")
    expect(page.get_by_label("Email")).to_have_value("nobody@example.com")
    expect(page.get_by_label("Password", exact=True)).to_have_value("")


def test_profile_form_shows_field_errors_and_keeps_typed_values(shop, new_page) -> None:  # noqa: ANN001
    page = new_page()
    page.goto(shop.url)
    register(page, unique_email("profile"))
    open_account_page(page, "Profile")

    page.get_by_label("First name").fill("Grace")
    page.get_by_label("Last name").fill("   ")
    page.get_by_label("Phone (optional)").fill("call me maybe")
    page.get_by_label("Send me news and offers by email").check()
    page.get_by_role("button", name="Save profile").click()

    expect(page.locator("#last_name-error")).to_have_text("This field is required.")
    expect(page.locator("#phone-error")).to_contain_text("Enter a phone number")
    expect(page.get_by_label("First name")).to_have_value("Grace")
    expect(page.get_by_label("Phone (optional)")).to_have_value("call me maybe")
    expect(page.get_by_label("Send me news and offers by email")).to_be_checked()
    # Nothing was written: the overview still has the name from registration.
    open_account_page(page, "Overview")
    expect(page.locator("[data-profile-name]")).to_have_text("Ada Lovelace")


def test_password_form_shows_field_errors_and_never_refills_passwords(shop, new_page) -> None:  # noqa: ANN001
    page = new_page()
    page.goto(shop.url)
    register(page, unique_email("password"))
    open_account_page(page, "Password")
    current, new, confirm = (page.get_by_label("Current password"),
                             page.get_by_label("New password", exact=True),
                             page.get_by_label("Confirm new password"))

    current.fill(PASSWORD)
    new.fill("short")
    confirm.fill("other")
    page.get_by_role("button", name="Change password").click()
    expect(page.locator("#new_password-error")).to_have_text("Use 8 to 128 characters.")
    expect(page.locator("#confirm_password-error")).to_have_text("The passwords do not match.")
    for field in (current, new, confirm):
        expect(field).to_have_value("")

    current.fill("not my password at all")
    new.fill(NEW_PASSWORD)
    confirm.fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect(page.locator("#current_password-error")).to_have_text("That is not your current password.")
    for field in (current, new, confirm):
        expect(field).to_have_value("")


def test_delete_account_form_shows_its_error_and_keeps_the_account(shop, new_page) -> None:  # noqa: ANN001
    email = unique_email("delete")
    page = new_page()
    page.goto(shop.url)
    register(page, email)
    open_account(page)
    password = page.get_by_label("Password", exact=True)

    page.get_by_role("button", name="Delete my account").click()
    expect(page.locator("#password-error")).to_have_text("This field is required.")

    password.fill("not my password at all")
    page.get_by_role("button", name="Delete my account").click()
    expect(page.locator("#password-error")).to_have_text("That is not your current password.")
    expect(password).to_have_value("")
    expect(page.locator(f'header [data-user-email="{email}"]')).to_be_visible()


def test_cart_quantity_refusal_shows_a_flash_and_keeps_the_typed_quantity(
    shop, products, new_page,  # noqa: ANN001
) -> None:
    page = new_page()
    page.goto(shop.url)
    add_from_product_page(page, "Green Tea", 2)
    quantity = page.get_by_label("Quantity of Green Tea")

    quantity.fill("150")
    page.get_by_role("button", name="Update Green Tea").click()
    page.wait_for_url("**/cart/update")
    message = "Quantity must be a whole number from 0 to 99."
    expect(flash(page, "error")).to_have_text(message)
    expect(quantity).to_have_value("150")
    # The refused field points at the message, so a screen reader reads it with the field.
    expect(quantity).to_have_attribute("aria-invalid", "true")
    expect(quantity).to_have_accessible_description(message)
    # Nothing was written.
    assert cart_lines(page) == {products["Green Tea"]: 2}
    expect(cart_count(page)).to_have_attribute("data-cart-count", "2")
