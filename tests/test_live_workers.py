"""Under real concurrency: gunicorn with 2 workers on PostgreSQL, real HTTP clients and cookies."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from storefront.extensions import db
from storefront.models import CartMerge, Profile, User, UserCart
from tests.factories import make_product, make_products
from tests.support import PASSWORD, all_at_once, app_on
from tests.support import LiveShopper as Shopper

pytestmark = pytest.mark.live



@pytest.fixture
def server(start_live_server):  # noqa: ANN001, ANN201
    # One proxy hop is trusted so each simulated shopper has an address of its own.
    return start_live_server("postgresql", workers=2, TRUST_PROXY_HOPS="1")


def count_rows(database_url: str, model) -> int:  # noqa: ANN001
    with app_on(database_url):
        return db.session.scalar(select(func.count()).select_from(model))


def test_40_simultaneous_adds_of_one_unit_give_40(server):
    with app_on(server.database_url):
        product_id = make_product(stock=100).id
    shopper = Shopper(server.url, "10.20.0.1")
    assert shopper.register("adds@example.com").status_code == 303
    token = shopper.csrf()
    tabs = [shopper.clone() for _ in range(40)]
    responses = all_at_once([
        (lambda tab=tab: tab.post("/cart/add", {"product_id": str(product_id), "quantity": "1"}, token))
        for tab in tabs
    ])
    assert {response.status_code for response in responses} == {303}
    assert shopper.cart() == {product_id: 40}


def test_two_simultaneous_registrations_of_one_email_make_one_account(server):
    first, second = Shopper(server.url, "10.21.0.1"), Shopper(server.url, "10.21.0.2")
    tokens = [first.csrf(), second.csrf()]
    form = {"password": PASSWORD, "confirm_password": PASSWORD,
            "first_name": "Twin", "last_name": "Racer"}
    responses = all_at_once([
        lambda: first.post("/auth/register", {**form, "email": "twin@example.com"}, tokens[0]),
        lambda: second.post("/auth/register", {**form, "email": "TWIN@example.com"}, tokens[1]),
    ])
    assert sorted(response.status_code for response in responses) == [303, 422]
    assert count_rows(server.database_url, User) == 1
    assert count_rows(server.database_url, Profile) == 1


def test_the_same_guest_cookie_signing_in_twice_at_once_merges_once(server):
    with app_on(server.database_url):
        products = [product.id for product in make_products(3, stock=50)]
    owner = Shopper(server.url, "10.22.0.1")
    assert owner.register("merge@example.com").status_code == 303
    guest = Shopper(server.url, "10.22.0.2")
    for product_id in products:
        guest.post("/cart/add", {"product_id": str(product_id), "quantity": "2"})
    token = guest.csrf()
    tabs = [guest.clone(), guest.clone()]
    responses = all_at_once([
        (lambda tab=tab: tab.post("/auth/login", {"email": "merge@example.com", "password": PASSWORD}, token))
        for tab in tabs
    ])
    assert [response.status_code for response in responses] == [303, 303]
    assert tabs[0].cart() == {product_id: 2 for product_id in products}
    assert count_rows(server.database_url, CartMerge) == 1


def test_20_shoppers_in_parallel_each_see_only_their_own_lines(server):
    with app_on(server.database_url):
        products = [product.id for product in make_products(20, stock=500)]
    shoppers = [Shopper(server.url, f"10.23.0.{n + 1}") for n in range(20)]

    def shop(number: int) -> dict[int, int]:
        shopper = shoppers[number]
        if number % 2:  # half of them signed in, half guests
            assert shopper.register(f"parallel{number}@example.com").status_code == 303
        for offset in range(3):
            product_id = products[(number + offset) % 20]
            response = shopper.post("/cart/add", {"product_id": str(product_id),
                                                  "quantity": str(number + 1)})
            assert response.status_code == 303
        return shopper.cart()

    carts = all_at_once([(lambda n=n: shop(n)) for n in range(20)])
    for number, cart in enumerate(carts):
        expected = {products[(number + offset) % 20]: number + 1 for offset in range(3)}
        assert cart == expected
    with app_on(server.database_url):
        saved_users = db.session.scalar(select(func.count(func.distinct(UserCart.user_id))))
    assert saved_users == 10
