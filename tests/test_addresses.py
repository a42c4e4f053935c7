"""The address book over HTTP and in its service, on SQLite and PostgreSQL: per-country rules
whose messages name the rule, phones in E.164, the 20-address limit, one default of each kind
(the database's unique indexes), and another account's address a 404 everywhere."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from storefront import addresses
from storefront.exceptions import AddressInvalid
from storefront.extensions import db
from storefront.models import ADDRESSES_MAX, Address
from tests.checkout_support import GB_ADDRESS, add_address
from tests.factories import make_user
from tests.support import PASSWORD, count_rows, flashes

ADDRESS_MARKER = re.compile(r'<li class="address" data-address-id="(\d+)"([^>]*)>')
ERRORS = re.compile(r'<ul class="field-errors" id="([a-z_0-9]+)-error">\s*<li>([^<]*)</li>')


@pytest.fixture
def app_config() -> dict[str, object]:
    return {"RATELIMIT_ENABLED": False}


def book(client) -> dict[int, set[str]]:  # noqa: ANN001
    """The address book page: each address's id and its default markers."""
    page = client.page("/account/addresses")
    return {int(aid): set(re.findall(r"data-(default-\w+)", rest))
            for aid, rest in ADDRESS_MARKER.findall(page)}


def errors_of(response) -> dict[str, str]:  # noqa: ANN001
    return dict(ERRORS.findall(response.get_data(as_text=True)))


def test_the_address_book_needs_a_login(client):
    for path in ("/account/addresses", "/account/addresses/new", "/account/addresses/1/edit"):
        response = client.get(path)
        assert response.status_code == 302 and "/auth/login" in response.location
    assert client.post_form("/account/addresses/new", GB_ADDRESS).status_code == 302
    assert count_rows(Address) == 0


def test_an_address_is_added_with_its_phone_in_e164(client):
    assert client.register().status_code == 303
    response = client.post_form("/account/addresses/new", {**GB_ADDRESS, "postal_code": "sw1a 2aa"})
    assert response.status_code == 303 and response.location == "/account/addresses"
    assert ("success", "The address was saved.") in flashes(client.page("/account/addresses"))
    address = db.session.scalar(select(Address))
    assert (address.phone, address.postal_code, address.country) == (
        "+442079460958", "SW1A 2AA", "GB")
    assert book(client) == {address.id: set()}


@pytest.mark.parametrize(("fields", "field", "message"), [
    ({"postal_code": "12345"}, "postal_code", "Enter a UK postcode such as SW1A 1AA."),
    ({"country": "US", "postal_code": "ABC", "region": "CA"}, "postal_code",
     "Enter a US ZIP code such as 95014."),
    ({"country": "US", "postal_code": "94043", "region": "Narnia"}, "region",
     "Enter a state of United States (for example AL, AK, AS)."),
    ({"country": "US", "postal_code": "94043", "region": ""}, "region",
     "Enter the state: addresses in United States need one."),
    ({"country": "DE", "postal_code": "1234", "phone": ""}, "postal_code",
     "Enter a postal code for Germany such as 26133."),
    ({"phone": "12"}, "phone", "Enter a phone number valid in United Kingdom, such as "
     "+44 121 234 5678, or one starting with + and its country code."),
    ({"country": "XX"}, "country", "Choose a country from the list."),
    ({"country": ""}, "country", "Choose a country from the list."),
    ({"line1": "   "}, "line1", "This field is required."),
    ({"city": ""}, "city", "This field is required."),
    ({"full_name": "a\x7fb"}, "full_name", "Please remove the control characters."),
    ({"line1": "x" * 201}, "line1", "Field cannot be longer than 200 characters."),
])
def test_an_address_breaking_its_countrys_rules_names_the_rule(client, fields, field, message):
    assert client.register().status_code == 303
    response = client.post_form("/account/addresses/new", {**GB_ADDRESS, **fields})
    assert response.status_code == 422
    assert errors_of(response).get(field) == message, errors_of(response)
    assert count_rows(Address) == 0


def test_a_us_address_keeps_its_state_code(client):
    assert client.register().status_code == 303
    add_address(client, country="US", region="california", postal_code="94043",
                city="Mountain View", phone="+1 650 253 0000")
    address = db.session.scalar(select(Address))
    assert (address.region, address.phone) == ("CA", "+16502530000")


def test_a_foreign_phone_with_its_country_code_is_accepted(client):
    assert client.register().status_code == 303
    add_address(client, phone="+49 30 1234567")
    assert db.session.scalar(select(Address.phone)) == "+49301234567"


def test_hostile_text_is_shown_escaped(client):
    assert client.register().status_code == 303
    add_address(client, full_name="<script>alert(1)</script>", line2="\u202eevil")
    page = client.page("/account/addresses")
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)" in page


def test_one_default_of_each_kind_moves_with_the_checkboxes(client):
    assert client.register().status_code == 303
    first = add_address(client, default_shipping="y", default_billing="y")
    second = add_address(client, full_name="Second", default_shipping="y")
    assert book(client) == {second: {"default-shipping"}, first: {"default-billing"}}
    assert client.post_form(f"/account/addresses/{first}/edit", {
        **GB_ADDRESS, "default_shipping": "y"}).status_code == 303
    assert book(client) == {first: {"default-shipping"}, second: set()}


def test_the_database_refuses_a_second_default(app):
    user = make_user()
    for _ in range(2):
        db.session.add(Address(user_id=user.id, full_name="A", line1="1", city="C",
                               country="GB", default_shipping=True))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_an_address_book_holds_at_most_twenty(client):
    assert client.register().status_code == 303
    for _ in range(ADDRESSES_MAX):
        add_address(client)
    response = client.post_form("/account/addresses/new", GB_ADDRESS)
    assert response.status_code == 422
    assert ("error", f"Your address book is full: it holds at most {ADDRESSES_MAX} addresses. "
            "Delete one to add another.") in flashes(response.get_data(as_text=True))
    assert count_rows(Address) == ADDRESSES_MAX


def test_editing_and_deleting(client):
    assert client.register().status_code == 303
    address = add_address(client)
    page = client.page(f"/account/addresses/{address}/edit")
    assert 'value="10 Downing Street"' in page
    assert client.post_form(f"/account/addresses/{address}/edit", {
        **GB_ADDRESS, "city": "Manchester", "postal_code": "M1 1AE"}).status_code == 303
    assert db.session.scalar(select(Address.city)) == "Manchester"
    response = client.post_form(f"/account/addresses/{address}/delete")
    assert response.status_code == 303
    assert count_rows(Address) == 0


def test_another_accounts_address_is_a_404_on_every_route(client, make_client):
    other = make_client()
    assert other.register("bob@example.com").status_code == 303
    foreign = add_address(other)
    assert client.register().status_code == 303
    assert client.get(f"/account/addresses/{foreign}/edit").status_code == 404
    assert client.post_form(f"/account/addresses/{foreign}/edit", GB_ADDRESS).status_code == 404
    assert client.post_form(f"/account/addresses/{foreign}/delete").status_code == 404
    assert foreign not in book(client)
    db.session.rollback()
    assert db.session.scalar(select(Address.line1)) == "10 Downing Street"
    assert count_rows(Address) == 1


@pytest.mark.parametrize("path", ["/account/addresses/0/edit", f"/account/addresses/{2**31}/edit",
                                  "/account/addresses/abc/edit", "/account/addresses/-1/edit"])
def test_impossible_address_ids_are_404(client, path):
    assert client.register().status_code == 303
    assert client.get(path).status_code == 404


def test_a_new_address_from_the_checkout_goes_back_there(client):
    assert client.register().status_code == 303
    response = client.post_form("/account/addresses/new?next=/checkout", GB_ADDRESS)
    assert response.status_code == 303 and response.location == "/checkout"
    unsafe = client.post_form("/account/addresses/new?next=//evil.example", GB_ADDRESS)
    assert unsafe.location == "/account/addresses"


def test_the_service_refuses_an_unknown_country():
    with pytest.raises(AddressInvalid) as refused:
        addresses.validate(addresses.AddressData("A", "1", "", "C", "", "", "QQ", None))
    assert refused.value.errors == {"country": ["Choose a country from the list."]}


def test_deleting_the_account_deletes_its_addresses(client):
    assert client.register().status_code == 303
    add_address(client)
    assert client.post_form("/account/delete", {"password": PASSWORD}).status_code == 303
    assert count_rows(Address) == 0
