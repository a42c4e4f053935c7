"""The checkout over HTTP, on SQLite and PostgreSQL: the review, placing (once per key, all
lines or none), every refusal the issue lists (each a 4xx that places nothing), what an order
copies, the statement budget, cancelling, the history, the API, account deletion, the
figures and the invariant check."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from sqlalchemy import func, select, update

from storefront import orders
from storefront.exceptions import ImpossibleTransition
from storefront.extensions import db
from storefront.models import (
    ORDERS_PER_PAGE,
    Address,
    Event,
    Order,
    OrderLine,
    Product,
    User,
    UserCart,
)
from tests.checkout_support import (
    CHANGE,
    LINE,
    ORDER_MARKER,
    SHIPPING_CHOICE,
    add_address,
    buyer,
    key_of,
    place,
    review,
)
from tests.factories import make_product, make_products
from tests.support import PASSWORD, count_rows, field_errors, flashes


@pytest.fixture
def app_config() -> dict[str, object]:
    return {"RATELIMIT_ENABLED": False}


def add(client, product: Product, quantity: int = 1) -> None:  # noqa: ANN001
    response = client.post_form("/cart/add", {"product_id": str(product.id),
                                              "quantity": str(quantity)})
    assert response.status_code == 303


def set_product(product_id: int, **values: object) -> None:
    db.session.execute(update(Product).where(Product.id == product_id).values(**values))
    db.session.commit()


def stock_of(product_id: int) -> int:
    db.session.rollback()
    return db.session.scalar(select(Product.stock).where(Product.id == product_id))


def nothing_placed() -> bool:
    db.session.rollback()
    return count_rows(Order) == 0 and count_rows(OrderLine) == 0


def number_in(location: str) -> str:
    match = re.fullmatch(r"/account/orders/(SF-[A-Z0-9]{4}-[A-Z0-9]{4})", location)
    assert match, location
    return match.group(1)


# The way in and the review -------------------------------------------------------------------

def test_an_anonymous_visitor_signs_in_first_and_comes_back_with_the_cart(client):
    product = make_product(price="12.50")
    add(client, product, 2)
    response = client.get("/checkout")
    assert response.status_code == 302
    assert response.location.startswith("/auth/login?next=/checkout")
    registered = client.register(email="new@example.com", **{}) if False else client.post_form(
        "/auth/register?next=/checkout", {
            "email": "new@example.com", "password": PASSWORD, "confirm_password": PASSWORD,
            "first_name": "New", "last_name": "Shopper"})
    assert registered.status_code == 303 and registered.location == "/checkout"
    page, _key = review(client)
    assert {int(pid): int(qty) for pid, qty in LINE.findall(page)} == {product.id: 2}
    assert 'data-subtotal="25.00"' in page and 'data-shipping="4.90"' in page
    assert 'data-total="29.90"' in page
    assert "Add an address" in page and "Place order" not in page


def test_shipping_is_free_from_the_threshold(client):
    address = buyer(client)
    add(client, make_product(price="50.00"))
    page, _key = review(client)
    assert 'data-shipping="0.00"' in page and 'data-total="50.00"' in page
    assert SHIPPING_CHOICE.findall(page) == [str(address)]


def test_the_default_addresses_are_preselected(client):
    assert client.register().status_code == 303
    add_address(client, full_name="First Home")
    second = add_address(client, full_name="Second Home", default_shipping="y")
    add(client, make_product())
    page, _key = review(client)
    assert f'id="ship-{second}" name="shipping_address_id" value="{second}" checked' in page
    assert 'id="bill-same" name="billing_address_id" value="" checked' in page


def test_each_review_gives_a_new_key_and_records_a_checkout_view(client):
    buyer(client)
    add(client, make_product())
    _page, first = review(client)
    _page, second = review(client)
    assert first != second
    assert db.session.scalar(select(func.count()).select_from(Event).where(
        Event.kind == "checkout_view")) == 2


# Placing -------------------------------------------------------------------------------------

def test_placing_copies_the_cart_into_an_order_and_empties_it(client):
    address = buyer(client)
    tea, cup = make_product(name="Tea", price="4.50", stock=10), make_product(
        name="Cup", price="12.00", stock=3)
    add(client, tea, 2)
    add(client, cup, 3)  # exactly the stock: allowed
    response = place(client, address)
    assert response.status_code == 303
    number = number_in(response.location)
    page = client.page(response.location)
    assert ("success", f"Thank you! Your order {number} is placed.") in flashes(page)
    assert ORDER_MARKER.findall(page) == [(number, "placed", "49.90")]
    assert {int(pid): int(qty) for pid, qty in LINE.findall(page)} == {tea.id: 2, cup.id: 3}
    assert "Please transfer €49.90 to Storefront, IBAN" in page
    assert f"with the reference {number}" in page
    assert stock_of(tea.id) == 8 and stock_of(cup.id) == 0
    assert count_rows(UserCart) == 0
    order = db.session.scalar(select(Order))
    assert (order.subtotal, order.shipping, order.total) == (
        Decimal("45.00"), Decimal("4.90"), Decimal("49.90"))
    assert order.ship_name == "Ada Lovelace" and order.bill_postal_code == "SW1A 2AA"
    assert order.ship_phone == "+442079460958" and order.email == "ada@example.com"
    assert db.session.scalar(select(func.count()).select_from(Event).where(
        Event.kind == "order_placed", Event.detail == number)) == 1


def test_cash_on_delivery_has_no_reference(client):
    address = buyer(client)
    add(client, make_product(price="20.00"))
    response = place(client, address, payment_method="cash_on_delivery")
    page = client.page(response.location)
    assert "Please have €24.90 ready in cash for the courier" in page
    assert "data-payment-reference" not in page


def test_a_separate_billing_address_is_copied_too(client):
    shipping = buyer(client)
    billing = add_address(client, full_name="Accounts Dept", line1="1 Bank Street",
                          postal_code="E14 5AB")
    add(client, make_product())
    assert place(client, shipping, billing=billing).status_code == 303
    order = db.session.scalar(select(Order))
    assert (order.ship_name, order.bill_name) == ("Ada Lovelace", "Accounts Dept")
    assert order.bill_line1 == "1 Bank Street"


def test_the_same_key_placed_twice_gives_one_order_and_a_redirect_to_it(client):
    address = buyer(client)
    product = make_product(stock=10)
    add(client, product, 2)
    _page, key = review(client)
    first = place(client, address, key)
    again = place(client, address, key)
    assert first.status_code == again.status_code == 303
    assert again.location == first.location
    assert ("info", f"Your order {number_in(first.location)} was already placed: here it is."
            ) in flashes(client.page(again.location))
    assert count_rows(Order) == 1 and stock_of(product.id) == 8


def test_a_retry_after_the_cart_was_refilled_still_finds_the_first_order(client):
    address = buyer(client)
    product = make_product(stock=10)
    add(client, product)
    _page, key = review(client)
    first = place(client, address, key)
    add(client, product, 5)  # a new cart meanwhile; the retried POST must not place it
    again = place(client, address, key)
    assert again.location == first.location
    assert count_rows(Order) == 1 and stock_of(product.id) == 9


def test_orders_copy_names_prices_and_addresses_that_later_change(client):
    address = buyer(client)
    product = make_product(name="Green Tea", price="8.00", sku="TEA-1")
    add(client, product, 1)
    number = number_in(place(client, address).location)
    set_product(product.id, name="Renamed", price=Decimal("99.00"), sku="OTHER")
    assert client.post_form(f"/account/addresses/{address}/edit", {
        "full_name": "Somebody Else", "line1": "1 New Road", "city": "Leeds",
        "postal_code": "LS1 1AA", "country": "GB"}).status_code == 303
    page = client.page(f"/account/orders/{number}")
    assert "Green Tea" in page and "TEA-1" in page and "€8.00" in page
    assert "Renamed" not in page and "Somebody Else" not in page and "Ada Lovelace" in page


# Refusals: each a 4xx, nothing placed ---------------------------------------------------------

def test_another_accounts_address_is_a_404_for_shipping_and_for_billing(client, make_client):
    other = make_client()
    foreign = buyer(other, "bob@example.com")
    own = buyer(client)
    add(client, make_product())
    assert place(client, foreign).status_code == 404
    assert place(client, own, billing=foreign).status_code == 404
    assert nothing_placed() and count_rows(UserCart) == 1


@pytest.mark.parametrize("bad", ["abc", "1.5", "-", "１"])
def test_an_address_id_that_is_not_a_number_is_a_field_error(client, bad):
    buyer(client)
    add(client, make_product())
    response = place(client, bad)
    assert response.status_code == 422
    assert "shipping_address_id" in field_errors(response.get_data(as_text=True))
    assert nothing_placed()


@pytest.mark.parametrize("bad", ["0", str(2**31), "9" * 30])
def test_an_address_id_out_of_range_is_a_404(client, bad):
    buyer(client)
    add(client, make_product())
    assert place(client, bad).status_code == 404
    assert nothing_placed()


@pytest.mark.parametrize("method", ["paypal", "", "BANK_TRANSFER", "bank_transfer "])
def test_an_unknown_payment_method_is_refused(client, method):
    address = buyer(client)
    add(client, make_product())
    response = place(client, address, payment_method=method)
    assert response.status_code == 422
    assert "payment_method" in field_errors(response.get_data(as_text=True))
    assert nothing_placed()


def test_a_missing_key_is_refused(client):
    address = buyer(client)
    add(client, make_product())
    response = client.post_form("/checkout", {"shipping_address_id": str(address),
                                              "payment_method": "bank_transfer"})
    assert response.status_code == 422
    assert "out of date" in response.get_data(as_text=True)
    assert nothing_placed()


@pytest.mark.parametrize("key", ["made-up-key-that-is-long-enough", "short", "x" * 65,
                                 "bad key with spaces"])
def test_a_key_no_review_gave_is_refused(client, key):
    address = buyer(client)
    add(client, make_product())
    review(client)
    response = place(client, address, key)
    assert response.status_code == 422
    assert nothing_placed()


def test_a_key_of_an_earlier_review_is_refused(client):
    """Two tabs: the first review's key, after a second review, places nothing."""
    address = buyer(client)
    add(client, make_product())
    _page, old = review(client)
    review(client)
    response = place(client, address, old)
    assert response.status_code == 422
    assert "expired" in response.get_data(as_text=True)
    assert nothing_placed()


def test_another_accounts_key_finds_nothing_of_theirs(client, make_client):
    other = make_client()
    bob_address = buyer(other, "bob@example.com")
    add(other, make_product())
    _page, bob_key = review(other)
    bob_order = number_in(place(other, bob_address, bob_key).location)
    address = buyer(client)
    add(client, make_product())
    review(client)
    response = place(client, address, bob_key)
    assert response.status_code == 422
    assert bob_order not in response.get_data(as_text=True)
    assert count_rows(Order) == 1


def test_a_cart_changed_in_another_tab_shows_the_review_again(client):
    address = buyer(client)
    tea, cup = make_products(2)
    add(client, tea)
    _page, key = review(client)
    add(client, cup, 2)  # the other tab
    response = place(client, address, key)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert CHANGE.findall(page) == [f"{cup.name} was added to your cart since the review."]
    assert {int(pid): int(qty) for pid, qty in LINE.findall(page)} == {tea.id: 1, cup.id: 2}
    assert nothing_placed()
    # The review it shows is a fresh one: placing from it works.
    assert place(client, address, key_of(page)).status_code == 303


def test_a_quantity_changed_in_another_tab_is_named(client):
    address = buyer(client)
    tea = make_product(name="Tea")
    add(client, tea)
    _page, key = review(client)
    add(client, tea, 2)
    response = place(client, address, key)
    assert response.status_code == 422
    assert CHANGE.findall(response.get_data(as_text=True)) == [
        "Tea: the quantity in your cart changed from 1 to 3."]
    assert nothing_placed()


def test_a_line_removed_in_another_tab_is_named(client):
    address = buyer(client)
    tea, cup = make_product(name="Tea"), make_product(name="Cup")
    add(client, tea)
    add(client, cup)
    _page, key = review(client)
    client.post_form("/cart/remove", {"product_id": str(cup.id)})
    response = place(client, address, key)
    assert response.status_code == 422
    assert CHANGE.findall(response.get_data(as_text=True)) == [
        "Cup was removed from your cart since the review."]
    assert nothing_placed()


def test_a_product_made_inactive_meanwhile_is_refused(client):
    address = buyer(client)
    tea = make_product(name="Tea")
    add(client, tea)
    _page, key = review(client)
    set_product(tea.id, active=False)
    response = place(client, address, key)
    assert response.status_code == 422
    assert "Tea is no longer sold: remove it from your cart." in CHANGE.findall(
        response.get_data(as_text=True))
    assert nothing_placed() and stock_of(tea.id) == 20


def test_a_product_sold_out_meanwhile_is_refused(client):
    address = buyer(client)
    tea = make_product(name="Tea", stock=5)
    add(client, tea, 2)
    _page, key = review(client)
    set_product(tea.id, stock=0)
    response = place(client, address, key)
    assert response.status_code == 422
    assert CHANGE.findall(response.get_data(as_text=True)) == [
        "Tea is sold out: remove it from your cart."]
    assert nothing_placed() and stock_of(tea.id) == 0


def test_a_line_over_the_stock_left_names_the_new_limit(client):
    address = buyer(client)
    tea, cup = make_product(name="Tea", stock=5), make_product(name="Cup", stock=5)
    add(client, cup, 1)
    add(client, tea, 4)
    _page, key = review(client)
    set_product(tea.id, stock=3)
    response = place(client, address, key)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert CHANGE.findall(page) == [
        "Only 3 of Tea left: lower the quantity in your cart to 3 or less."]
    assert "Place order" not in page  # the review says what to change first
    assert nothing_placed() and stock_of(tea.id) == 3 and stock_of(cup.id) == 5


def test_a_price_changed_meanwhile_is_refused_with_both_prices(client):
    address = buyer(client)
    tea = make_product(name="Tea", price="10.00")
    add(client, tea)
    _page, key = review(client)
    set_product(tea.id, price=Decimal("12.00"))
    response = place(client, address, key)
    assert response.status_code == 422
    assert CHANGE.findall(response.get_data(as_text=True)) == [
        "Tea: the price changed from €10.00 to €12.00."]
    assert nothing_placed()


def test_an_edited_price_field_is_ignored(client):
    address = buyer(client)
    add(client, make_product(price="10.00"))
    assert place(client, address, price="0.01", unit_price="0.01", total="0.01").status_code == 303
    assert db.session.scalar(select(Order.total)) == Decimal("14.90")


def test_an_empty_cart_places_nothing(client):
    address = buyer(client)
    page, key = review(client)
    assert "Your cart is empty" in page
    assert place(client, address, key).status_code == 422
    assert nothing_placed()


def test_the_stock_guard_refuses_what_the_locked_read_let_through(app, client, monkeypatch):
    """The guarded UPDATE is a second wall: if it matches fewer rows than lines (the check
    before it skipped), everything rolls back."""
    address = buyer(client)
    tea, cup = make_product(stock=5), make_product(stock=5)
    add(client, tea, 2)
    add(client, cup, 2)
    _page, key = review(client)
    set_product(cup.id, stock=1)
    monkeypatch.setattr(orders, "line_problem", lambda product, quantity: None)
    response = place(client, address, key)
    assert response.status_code == 422
    assert "The stock changed while your order was being placed" in response.get_data(
        as_text=True)
    assert nothing_placed() and stock_of(tea.id) == 5 and stock_of(cup.id) == 1


# The statement budget ---------------------------------------------------------------------------

def test_placing_costs_the_same_statements_for_1_and_10_lines(client, count_queries):
    address = buyer(client)
    counts = []
    for size in (1, 10):
        for product in make_products(size, stock=50):
            add(client, product, 2)
        _page, key = review(client)
        with count_queries() as statements:
            assert place(client, address, key).status_code == 303
        counts.append(len(statements))
    assert counts[0] == counts[1] <= 25, counts


def test_the_history_and_order_pages_cost_the_same_for_1_and_10_lines(client, count_queries):
    address = buyer(client)
    counts = []
    for size in (1, 10):
        for product in make_products(size, stock=50):
            add(client, product)
        location = place(client, address).location
        with count_queries() as statements:
            assert client.get(location).status_code == 200
            assert client.get("/account/orders").status_code == 200
        counts.append(len(statements))
    assert counts[0] == counts[1], counts


# Cancelling -----------------------------------------------------------------------------------

def test_cancelling_a_placed_order_puts_the_stock_back(client):
    address = buyer(client)
    tea = make_product(stock=5)
    add(client, tea, 3)
    number = number_in(place(client, address).location)
    assert stock_of(tea.id) == 2
    response = client.post_form(f"/account/orders/{number}/cancel")
    assert response.status_code == 303
    page = client.page(response.location)
    assert ("success", f"Your order {number} is cancelled.") in flashes(page)
    assert ORDER_MARKER.findall(page)[0][1] == "cancelled"
    assert "Cancel order" not in page
    assert stock_of(tea.id) == 5
    assert db.session.scalar(select(func.count()).select_from(Event).where(
        Event.kind == "order_cancelled")) == 1


def test_cancelling_twice_is_a_409_and_the_stock_comes_back_once(client):
    address = buyer(client)
    tea = make_product(stock=5)
    add(client, tea, 3)
    number = number_in(place(client, address).location)
    assert client.post_form(f"/account/orders/{number}/cancel").status_code == 303
    again = client.post_form(f"/account/orders/{number}/cancel")
    assert again.status_code == 409
    assert ("error", f"Order {number} cannot be cancelled: it is cancelled.") in flashes(
        again.get_data(as_text=True))
    assert stock_of(tea.id) == 5


@pytest.mark.parametrize("status", ["paid", "shipped", "delivered"])
def test_an_order_paid_or_shipped_cannot_be_cancelled_by_the_shopper(client, status):
    address = buyer(client)
    tea = make_product(stock=5)
    add(client, tea, 3)
    number = number_in(place(client, address).location)
    db.session.execute(update(Order).values(status=status))
    db.session.commit()
    response = client.post_form(f"/account/orders/{number}/cancel")
    assert response.status_code == 409
    assert stock_of(tea.id) == 2
    assert db.session.scalar(select(Order.status)) == status


def test_another_accounts_order_is_a_404_to_see_and_to_cancel(client, make_client):
    other = make_client()
    bob_address = buyer(other, "bob@example.com")
    add(other, make_product())
    number = number_in(place(other, bob_address).location)
    buyer(client)
    assert client.get(f"/account/orders/{number}").status_code == 404
    assert client.post_form(f"/account/orders/{number}/cancel").status_code == 404
    assert client.get(f"/api/orders/{number}").status_code == 404
    assert db.session.scalar(select(Order.status)) == "placed"


@pytest.mark.parametrize("number", ["SF-0000-0000", "sf-abcd-efgh", "x", "SF-AAAA-AAAA"])
def test_unknown_order_numbers_are_404(client, number):
    buyer(client)
    assert client.get(f"/account/orders/{number}").status_code == 404
    assert client.post_form(f"/account/orders/{number}/cancel").status_code == 404


def test_the_state_machine_refuses_impossible_transitions(app, client):
    address = buyer(client)
    add(client, make_product())
    place(client, address)
    order = db.session.scalar(select(Order))
    with pytest.raises(ImpossibleTransition):
        orders.transition(order, "delivered", by_staff=True)  # placed → delivered
    with pytest.raises(ImpossibleTransition):
        orders.transition(order, "paid")  # a shopper cannot mark it paid
    for status in ("paid", "shipped", "delivered"):
        orders.transition(order, status, by_staff=True)
    with pytest.raises(ImpossibleTransition):
        orders.transition(order, "cancelled", by_staff=True)
    db.session.commit()
    assert db.session.scalar(select(Order.status)) == "delivered"


def test_staff_may_cancel_a_paid_order_and_its_stock_comes_back(app, client):
    address = buyer(client)
    tea = make_product(stock=5)
    add(client, tea, 2)
    place(client, address)
    order = db.session.scalar(select(Order))
    orders.transition(order, "paid", by_staff=True)
    orders.transition(order, "cancelled", by_staff=True)
    db.session.commit()
    assert stock_of(tea.id) == 5


# The history and the API --------------------------------------------------------------------

def test_the_history_is_newest_first_and_paginated(client):
    address = buyer(client)
    product = make_product(stock=500)
    numbers = []
    for _ in range(ORDERS_PER_PAGE + 1):
        add(client, product)
        numbers.append(number_in(place(client, address).location))
    first = [marker[0] for marker in ORDER_MARKER.findall(client.page("/account/orders"))]
    second = [marker[0] for marker in ORDER_MARKER.findall(
        client.page("/account/orders?page=2"))]
    assert first + second == numbers[::-1]
    assert len(first) == ORDERS_PER_PAGE
    for page in ("3", "0", "-1", "x", str(2**31)):
        assert client.get(f"/account/orders?page={page}").status_code == 404


def test_the_api_lists_the_shoppers_orders_with_their_lines(client, make_client):
    other = make_client()
    bob_address = buyer(other, "bob@example.com")
    add(other, make_product())
    place(other, bob_address)
    address = buyer(client)
    tea = make_product(name="Tea", price="3.25", sku="T-1")
    add(client, tea, 2)
    number = number_in(place(client, address).location)
    listed = client.get("/api/orders").get_json()
    assert [order["number"] for order in listed["orders"]] == [number]
    one = client.get(f"/api/orders/{number}").get_json()
    assert one == listed["orders"][0]
    assert one["status"] == "placed" and one["total"] == "11.40"
    assert one["lines"] == [{"product_id": tea.id, "sku": "T-1", "name": "Tea",
                             "unit_price": "3.25", "quantity": 2, "line_total": "6.50"}]
    assert one["shipping_address"]["postal_code"] == "SW1A 2AA"


def test_the_api_asks_anonymous_callers_to_sign_in(client):
    for path in ("/api/orders", "/api/orders/SF-AAAA-AAAA"):
        response = client.get(path)
        assert response.status_code == 401 and response.is_json


# Accounts, the books and the figures ------------------------------------------------------------

def test_deleting_the_account_keeps_its_orders_detached(client):
    address = buyer(client)
    tea = make_product(price="5.00")
    add(client, tea, 2)
    number = number_in(place(client, address).location)
    assert client.post_form("/account/delete", {"password": PASSWORD}).status_code == 303
    db.session.rollback()
    order = db.session.scalar(select(Order))
    assert order.number == number and order.user_id is None and order.email is None
    assert (order.ship_name, order.ship_line1, order.bill_name, order.ship_phone) == (
        "", "", "", None)
    assert order.ship_country == "GB" and order.total == Decimal("14.90")
    assert count_rows(OrderLine) == 1 and count_rows(Address) == 0 and count_rows(User) == 0


def test_accounts_check_reports_orders_whose_totals_do_not_add_up(client, runner):
    address = buyer(client)
    add(client, make_product(price="5.00"))
    number = number_in(place(client, address).location)
    assert runner.invoke(args=["accounts", "check"]).exit_code == 0
    db.session.execute(update(Order).values(subtotal=Decimal("4.00")))
    db.session.commit()
    result = runner.invoke(args=["accounts", "check"])
    assert result.exit_code == 1
    assert f"order {number}: its totals do not equal its lines" in result.output
    fixed = runner.invoke(args=["accounts", "check", "--fix"])  # reported, never repaired
    assert fixed.exit_code == 1
    assert f"order {number}: its totals do not equal its lines" in fixed.output


def test_the_report_counts_orders_revenue_and_conversion(client, runner):
    address = buyer(client)
    for price in ("10.00", "30.00"):
        add(client, make_product(price=price))
        place(client, address)
    review(client)
    first = db.session.scalar(select(Order.number).order_by(Order.id))
    assert client.post_form(f"/account/orders/{first}/cancel").status_code == 303
    result = runner.invoke(args=["report", "--json"])
    import json

    figures = json.loads(result.output)
    assert figures["orders_placed"] == 2 and figures["orders_cancelled"] == 1
    assert figures["revenue"] == "34.90" and figures["average_order_value"] == "34.90"
    assert figures["checkout_views"] == 3
    assert figures["checkout_conversion_rate"] == round(2 / 3, 4)
    text = runner.invoke(args=["report"]).output
    assert "orders placed                2 (1 cancelled since)" in text


# Settings ------------------------------------------------------------------------------------

def test_money_settings_are_read_and_checked():
    from storefront.config import ConfigError, load_config

    config = load_config("/tmp", {"TESTING": True}, env={
        "CURRENCY": "usd", "SHIPPING_FLAT_RATE": "3.5", "FREE_SHIPPING_OVER": "100"})
    assert (config["CURRENCY"], config["SHIPPING_FLAT_RATE"], config["FREE_SHIPPING_OVER"]) == (
        "USD", Decimal("3.50"), Decimal("100.00"))
    defaults = load_config("/tmp", {"TESTING": True}, env={})
    assert (defaults["CURRENCY"], defaults["SHIPPING_FLAT_RATE"],
            defaults["FREE_SHIPPING_OVER"]) == ("EUR", Decimal("4.90"), Decimal("50.00"))
    for env in ({"CURRENCY": "EURO"}, {"SHIPPING_FLAT_RATE": "-1"},
                {"FREE_SHIPPING_OVER": "ten"}, {"SHIPPING_FLAT_RATE": "4.999"},
                {"SHIPPING_FLAT_RATE": "NaN"}):
        with pytest.raises(ConfigError):
            load_config("/tmp", {"TESTING": True}, env=env)


@pytest.mark.parametrize("app_config", [{"RATELIMIT_ENABLED": False, "CURRENCY": "USD",
                                         "SHIPPING_FLAT_RATE": Decimal("2.00")}])
def test_prices_and_orders_use_the_currency_setting(client):
    address = buyer(client)
    add(client, make_product(price="1234.50"))
    assert "$1,234.50" in client.page("/cart")
    page = client.page(place(client, address, payment_method="cash_on_delivery").location)
    assert "$1,234.50" in page and db.session.scalar(select(Order.currency)) == "USD"


# The mail templates (the outbox queues them at integration) ---------------------------------------

@pytest.mark.parametrize("kind", ["order_placed", "order_cancelled"])
def test_the_order_mail_templates_render_the_order(app, client, kind):
    from flask import render_template

    address = buyer(client)
    add(client, make_product(name="Tea <b>", price="4.50", sku="T-1"), 2)
    place(client, address)
    order = db.session.scalar(select(Order))
    context = orders.order_mail_context(
        order, f"https://shop.example/account/orders/{order.number}")
    view = orders.OrderView(order, context["lines"])
    with app.test_request_context():
        text = render_template(f"mail/{kind}.txt", **context)
        html = render_template(f"mail/{kind}.html", **context)
    assert view.order.number in text and view.order.number in html
    assert "2 x Tea <b> (T-1)" in text and "Tea &lt;b&gt;" in html
    assert context["order_url"] in text and context["order_url"] in html
    if kind == "order_placed":
        assert "Total:    €13.90" in text and "Please transfer €13.90" in text


def test_the_review_of_a_full_cart_keeps_the_cookie_under_4_kb(client):
    from storefront.models import CART_MAX_LINES, LINE_MAX_QUANTITY, PRICE_MAX

    buyer(client)
    for product in make_products(CART_MAX_LINES, price=str(PRICE_MAX), stock=LINE_MAX_QUANTITY):
        add(client, product, LINE_MAX_QUANTITY)
    response = client.get("/checkout")
    assert response.status_code == 200
    cookie = next(header for header in response.headers.getlist("Set-Cookie")
                  if header.startswith("session="))
    assert len(cookie) < 4093, len(cookie)


def test_review_and_order_lines_show_each_products_picture_or_the_placeholder(client):
    address = buyer(client)
    key = "a" * 32
    pictured = make_product(name="Pictured", image_key=key)
    add(client, pictured)
    add(client, make_product(name="Plain"))
    page, _key = review(client)
    location = place(client, address).location
    for shown in (page, client.page(location)):
        assert f"/media/{key}-320.webp 320w" in shown
        assert shown.count('class="product-image placeholder"') == 1
    set_product(pictured.id, image_key=None)  # the picture is the product's as it is now
    assert f"/media/{key}" not in client.page(location)
