"""Checkout under real concurrency: gunicorn with 2 workers on PostgreSQL, real HTTP clients.
20 shoppers racing for the last 5 units, one shopper submitting the same checkout 10 times at
once, and two cancels of one order at once."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from storefront.extensions import db
from storefront.models import Order, OrderLine, Product
from tests.checkout_support import GB_ADDRESS, KEY
from tests.factories import make_product
from tests.support import LiveShopper, all_at_once, app_on

pytestmark = pytest.mark.live

CHANGE = re.compile(r'<li class="change">([^<]*)</li>')


@pytest.fixture
def server(start_live_server):  # noqa: ANN001, ANN201
    return start_live_server("postgresql", workers=2, TRUST_PROXY_HOPS="1",
                             RATELIMIT_ENABLED="0")


class Buyer(LiveShopper):
    def ready(self, email: str, product_id: int, quantity: int = 1) -> dict[str, str]:
        """Registered, with an address and the product in the cart: the checkout form's
        fields as the review page gives them."""
        assert self.register(email).status_code == 303
        assert self.post("/account/addresses/new", GB_ADDRESS).status_code == 303
        assert self.post("/cart/add", {"product_id": str(product_id),
                                       "quantity": str(quantity)}).status_code == 303
        page = self.http.get(self.base_url + "/checkout", timeout=10).text
        address = re.search(r'name="shipping_address_id" value="(\d+)"', page).group(1)
        return {"shipping_address_id": address, "billing_address_id": "",
                "payment_method": "bank_transfer", "idempotency_key": KEY.search(page).group(1)}


def figures(database_url: str, product_id: int) -> tuple[int, int, int]:
    """(orders, units ordered, stock left)."""
    with app_on(database_url):
        return (db.session.scalar(select(func.count()).select_from(Order)),
                db.session.scalar(select(func.coalesce(func.sum(OrderLine.quantity), 0))),
                db.session.scalar(select(Product.stock).where(Product.id == product_id)))


def test_20_shoppers_racing_for_the_last_5_units_make_exactly_5_orders(server):
    with app_on(server.database_url):
        product_id = make_product(name="Last Tea", stock=5).id
    buyers = [Buyer(server.url, f"10.40.0.{n + 1}") for n in range(20)]
    forms = [buyer.ready(f"racer{n}@example.com", product_id) for n, buyer in enumerate(buyers)]
    tokens = [buyer.csrf() for buyer in buyers]
    responses = all_at_once([
        (lambda n=n: buyers[n].post("/checkout", forms[n], tokens[n])) for n in range(20)])
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [303] * 5 + [422] * 15, statuses
    for response in responses:
        if response.status_code == 422:
            assert CHANGE.findall(response.text) == [
                "Last Tea is sold out: remove it from your cart."]
    assert figures(server.database_url, product_id) == (5, 5, 0)
    assert "Traceback" not in server.log()


def test_a_shopper_submitting_one_checkout_10_times_at_once_gets_one_order(server):
    with app_on(server.database_url):
        product_id = make_product(stock=50).id
    buyer = Buyer(server.url, "10.41.0.1")
    form = buyer.ready("double@example.com", product_id, quantity=3)
    token = buyer.csrf()
    tabs = [buyer.clone() for _ in range(10)]
    responses = all_at_once([(lambda tab=tab: tab.post("/checkout", form, token))
                             for tab in tabs])
    assert {response.status_code for response in responses} == {303}
    assert len({response.headers["Location"] for response in responses}) == 1
    assert figures(server.database_url, product_id) == (1, 3, 47)


def test_two_cancels_at_once_put_the_stock_back_once(server):
    with app_on(server.database_url):
        product_id = make_product(stock=10).id
    buyer = Buyer(server.url, "10.42.0.1")
    form = buyer.ready("cancel@example.com", product_id, quantity=4)
    placed = buyer.post("/checkout", form)
    assert placed.status_code == 303
    number = placed.headers["Location"].rsplit("/", 1)[1]
    assert figures(server.database_url, product_id)[2] == 6
    token = buyer.csrf()
    tabs = [buyer.clone(), buyer.clone()]
    responses = all_at_once([
        (lambda tab=tab: tab.post(f"/account/orders/{number}/cancel", {}, token))
        for tab in tabs])
    assert sorted(response.status_code for response in responses) == [303, 409]
    assert figures(server.database_url, product_id)[2] == 10
    with app_on(server.database_url):
        assert db.session.scalar(select(Order.status)) == "cancelled"
