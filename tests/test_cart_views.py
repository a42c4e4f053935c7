"""The cart over HTTP: guest and saved carts behind one interface, the merge at sign-in and
at registration, bad input, isolation and the query budget."""

import json
import re

import pytest
from sqlalchemy import func, select, update

from storefront import carts
from storefront.extensions import db
from storefront.models import CartMerge, Event, Product, User, UserCart
from tests.factories import make_product, make_products
from tests.support import PASSWORD, flashes

LINE = re.compile(r'data-product-id="(\d+)" data-quantity="(\d+)"')


def cart_lines(client) -> dict[int, int]:  # noqa: ANN001
    return {int(pid): int(qty) for pid, qty in LINE.findall(client.page("/cart"))}


def header_count(body: str) -> int:
    return int(re.search(r'data-cart-count="(\d+)"', body).group(1))


def add(client, product_id, quantity=None, **extra):  # noqa: ANN001, ANN201
    data = {"product_id": str(product_id), **extra}
    if quantity is not None:
        data["quantity"] = str(quantity)
    return client.post_form("/cart/add", data)


def saved_lines(email: str) -> dict[int, int]:
    user_id = db.session.scalar(select(User.id).where(User.email == email))
    return dict(db.session.execute(
        select(UserCart.product_id, UserCart.quantity).where(UserCart.user_id == user_id)
    ).all())


# The guest cart ------------------------------------------------------------------------------

def test_guest_adds_and_sees_lines_prices_and_subtotal(client):
    tea = make_product(name="Tea", price="4.50", stock=10)
    mug = make_product(name="Mug", price="12.00", stock=10)
    response = add(client, tea.id, 2)
    assert response.status_code == 303 and response.headers["Location"] == "/cart"
    add(client, mug.id)  # quantity absent means 1
    body = client.page("/cart")
    assert cart_lines(client) == {tea.id: 2, mug.id: 1}
    assert 'data-subtotal="21.00"' in body and "€9.00" in body
    assert header_count(body) == 3 and header_count(client.page("/")) == 3


def test_adding_again_sums_and_beyond_stock_is_capped_with_a_warning(client):
    kettle = make_product(name="Kettle", stock=3)
    add(client, kettle.id, 2)
    response = add(client, kettle.id, 2)
    body = client.get(response.headers["Location"]).get_data(as_text=True)
    assert cart_lines(client) == {kettle.id: 3}
    assert ("warning", "Only 3 of Kettle can be ordered: your cart now has 3.") in flashes(body)


def test_prices_come_from_the_products_table_not_the_cookie(client):
    tea = make_product(price="4.50")
    add(client, tea.id, 2)
    db.session.execute(update(Product).where(Product.id == tea.id).values(price=5))
    db.session.commit()
    assert 'data-subtotal="10.00"' in client.page("/cart")


@pytest.mark.parametrize("quantity", ["0", "-1", "1e9", "abc", "", "100", "2.5", " 3", "1\x7f"])
def test_bad_quantity_is_422_with_a_flash_and_changes_nothing(client, quantity):
    tea = make_product()
    add(client, tea.id, 1)
    response = add(client, tea.id, quantity)
    assert response.status_code == 422
    assert any(category == "error" for category, _ in flashes(response.get_data(as_text=True)))
    assert cart_lines(client) == {tea.id: 1}


@pytest.mark.parametrize(("product_id", "status"), [
    ("abc", 422), ("", 422), ("1.5", 422), ("0x1", 422),
    ("999999", 404), ("-1", 404), ("0", 404), ("100000000000000000000000", 404),
])
def test_bad_or_unknown_product_id(client, product_id, status):
    make_product()
    assert add(client, product_id).status_code == status
    assert cart_lines(client) == {}


def test_missing_product_id_is_422(client):
    assert client.post_form("/cart/add", {"quantity": "1"}).status_code == 422


def test_inactive_product_is_404_and_sold_out_is_a_warning(client):
    hidden, empty = make_product(active=False), make_product(name="Gone Tea", stock=0)
    assert add(client, hidden.id).status_code == 404
    response = add(client, empty.id)
    assert response.status_code == 303
    body = client.get("/cart").get_data(as_text=True)
    assert ("warning", "Sorry, Gone Tea is sold out.") in flashes(body)
    assert cart_lines(client) == {}


def test_a_51st_line_is_refused_and_the_cookie_stays_small(client):
    products = make_products(51, stock=500)
    for product in products[:50]:
        assert add(client, product.id, 99).status_code == 303
    response = add(client, products[50].id, 1)
    body = client.get(response.headers["Location"]).get_data(as_text=True)
    assert any("at most 50" in text for _, text in flashes(body))
    assert len(cart_lines(client)) == 50
    assert len(client.get_cookie("session").value) < 4093


def test_update_sets_caps_and_zero_removes(client):
    tea, cup = make_product(stock=5), make_product()
    add(client, tea.id)
    add(client, cup.id)
    client.post_form("/cart/update", {"product_id": tea.id, "quantity": "9"})
    assert cart_lines(client) == {tea.id: 5, cup.id: 1}
    client.post_form("/cart/update", {"product_id": tea.id, "quantity": "0"})
    assert cart_lines(client) == {cup.id: 1}
    assert client.post_form("/cart/update", {"product_id": cup.id, "quantity": "100"}).status_code == 422
    assert client.post_form("/cart/update", {"product_id": "424242", "quantity": "1"}).status_code == 404


def test_remove_and_clear(client):
    tea, cup, other = make_product(), make_product(), make_product()
    add(client, tea.id)
    add(client, cup.id)
    assert client.post_form("/cart/remove", {"product_id": tea.id}).status_code == 303
    assert cart_lines(client) == {cup.id: 1}
    response = client.post_form("/cart/remove", {"product_id": other.id})
    assert response.status_code == 303  # not in the cart: a flash, nothing changes
    assert client.post_form("/cart/remove", {"product_id": "99999"}).status_code == 404
    assert client.post_form("/cart/clear").status_code == 303
    body = client.page("/cart")
    assert cart_lines(client) == {} and "Your cart is empty." in body


def test_cart_posts_need_csrf(client):
    tea = make_product()
    assert client.post("/cart/add", data={"product_id": tea.id}).status_code == 400
    assert cart_lines(client) == {}


def test_stock_falling_below_a_line_shows_a_warning(client):
    tea = make_product(stock=10)
    add(client, tea.id, 6)
    db.session.execute(update(Product).where(Product.id == tea.id).values(stock=2))
    db.session.commit()
    assert "Only 2 left in stock" in client.page("/cart")


@pytest.mark.filterwarnings("ignore:The 'session' cookie is too large")
def test_tampered_or_oversized_cookie_is_an_empty_anonymous_cart(client):
    tea = make_product()
    add(client, tea.id, 3)
    cookie = client.get_cookie("session").value
    client.set_cookie("session", cookie[:-3] + ("A" if cookie[-3] != "A" else "B") + cookie[-2:])
    assert client.get("/cart").status_code == 200
    assert cart_lines(client) == {}
    client.set_cookie("session", "x" * 5000)
    assert client.get("/cart").status_code == 200 and cart_lines(client) == {}


def test_two_guests_never_share_a_cart(make_client):
    tea, mug = make_product(), make_product()
    first, second = make_client(), make_client()
    add(first, tea.id)
    add(second, mug.id, 2)
    assert cart_lines(first) == {tea.id: 1} and cart_lines(second) == {mug.id: 2}


def test_api_cart_for_a_guest(client):
    tea = make_product(name="Tea", price="12.50")
    add(client, tea.id, 2)
    assert client.get("/api/cart").get_json() == {
        "lines": [{"product_id": tea.id, "name": "Tea", "unit_price": "12.50", "quantity": 2,
                   "line_total": "25.00"}],
        "subtotal": "25.00", "count": 2}


# The saved cart -------------------------------------------------------------------------------

def test_signed_in_adds_go_to_the_saved_cart(client):
    client.register()
    tea = make_product(stock=9)
    add(client, tea.id, 4)
    add(client, tea.id, 9)
    assert saved_lines("ada@example.com") == {tea.id: 9}
    assert cart_lines(client) == {tea.id: 9}
    assert client.get("/api/cart").get_json()["count"] == 9


def test_other_user_ids_in_a_post_are_ignored(client, make_client):
    bob = make_client()
    bob.register("bob@example.com")
    client.register("ada@example.com")
    tea = make_product()
    bob_id = db.session.scalar(select(User.id).where(User.email == "bob@example.com"))
    add(client, tea.id, 2, user_id=str(bob_id))
    client.post_form("/cart/clear", {"user_id": str(bob_id)})
    add(bob, tea.id, 1)
    client.post_form("/cart/remove", {"product_id": tea.id, "user_id": str(bob_id)})
    assert saved_lines("bob@example.com") == {tea.id: 1}
    assert saved_lines("ada@example.com") == {}


def test_three_signed_in_shoppers_each_see_only_their_lines(make_client):
    products = make_products(3)
    shoppers = []
    for number, product in enumerate(products):
        browser = make_client()
        browser.register(f"shopper{number}@example.com")
        add(browser, product.id, number + 1)
        shoppers.append(browser)
    for number, (browser, product) in enumerate(zip(shoppers, products, strict=True)):
        assert cart_lines(browser) == {product.id: number + 1}
        assert [line["product_id"] for line in browser.get("/api/cart").get_json()["lines"]] == [product.id]


# The journey and the merge ------------------------------------------------------------------

def test_guest_cart_follows_the_shopper_through_registration(client):
    tea, mug = make_product(stock=10), make_product(stock=10)
    add(client, tea.id, 2)
    add(client, mug.id, 1)
    response = client.register()
    assert response.status_code == 303
    assert saved_lines("ada@example.com") == {tea.id: 2, mug.id: 1}
    body = client.page("/cart")
    assert cart_lines(client) == {tea.id: 2, mug.id: 1} and header_count(body) == 3


def test_the_whole_journey_with_a_merge_receipt(client, make_client):
    coffee = make_product(name="Coffee", stock=10)
    tea = make_product(name="Tea", stock=4)
    cups = make_product(name="Cups", stock=10)
    add(client, coffee.id, 2)
    add(client, tea.id, 3)
    client.register()
    client.logout()
    assert cart_lines(client) == {} and header_count(client.page("/")) == 0

    elsewhere = make_client()
    elsewhere.login()
    assert cart_lines(elsewhere) == {coffee.id: 2, tea.id: 3}

    third = make_client()
    add(third, coffee.id, 1)
    add(third, tea.id, 3)
    add(third, cups.id, 1)
    response = third.login()
    body = third.get(response.headers["Location"]).get_data(as_text=True)
    receipts = [text for category, text in flashes(body) if category == "warning"]
    assert len(receipts) == 1
    assert "Coffee: 2 saved + 1 from this visit = 3" in receipts[0]
    assert "Tea: 6 wanted, set to 4 (only 4 in stock)" in receipts[0]
    assert "Cups" not in receipts[0]
    assert cart_lines(third) == {coffee.id: 3, tea.id: 4, cups.id: 1}
    assert header_count(body) == 8


def test_signing_out_empties_the_cart_for_the_next_guest(client):
    tea = make_product()
    client.register()
    add(client, tea.id, 2)
    client.logout()
    assert cart_lines(client) == {}
    with client.session_transaction() as session:
        assert "cart" not in session
    client.login()
    assert cart_lines(client) == {tea.id: 2}


def test_double_submitted_sign_in_merges_once(client):
    tea = make_product(stock=50)
    client.register()
    client.logout()
    add(client, tea.id, 2)
    cookie = client.get_cookie("session").value
    token = client.csrf_token()
    form = {"csrf_token": token, "email": "ada@example.com", "password": PASSWORD}
    assert client.post("/auth/login", data=form).status_code == 303
    client.set_cookie("session", cookie)  # the second submit carries the same guest cookie
    assert client.post("/auth/login", data=form).status_code == 303
    assert saved_lines("ada@example.com") == {tea.id: 2}
    assert db.session.scalar(select(func.count()).select_from(CartMerge)) == 1


def test_a_replayed_guest_cookie_after_sign_out_adds_nothing(client, make_client):
    tea = make_product(stock=50)
    make_client().register()  # Ada exists
    add(client, tea.id, 2)
    guest_cookie = client.get_cookie("session").value
    client.login()
    client.logout()
    client.set_cookie("session", guest_cookie)
    assert cart_lines(client) == {tea.id: 2}  # the old cookie still shows its lines...
    client.login()
    assert saved_lines("ada@example.com") == {tea.id: 2}  # ...but they are not added twice


def test_failed_merge_keeps_guest_lines_and_retries_on_the_next_request(client, monkeypatch):
    tea = make_product(stock=10)
    client.register()
    client.logout()
    add(client, tea.id, 2)
    real_merge = carts.merge_into_saved_cart

    def broken(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise RuntimeError("database hiccup")

    monkeypatch.setattr(carts, "merge_into_saved_cart", broken)
    response = client.login()
    assert response.status_code == 303
    assert saved_lines("ada@example.com") == {}
    with client.session_transaction() as session:
        assert session["cart"]["lines"] == [[tea.id, 2]]
    assert db.session.scalar(select(Event.ok).where(Event.kind == "cart_merge")) is False

    monkeypatch.setattr(carts, "merge_into_saved_cart", real_merge)
    client.get("/")
    assert saved_lines("ada@example.com") == {tea.id: 2}
    with client.session_transaction() as session:
        assert "cart" not in session
    assert cart_lines(client) == {tea.id: 2}


def test_switching_accounts_carries_no_cart_across(client, make_client):
    tea = make_product()
    make_client().register("bob@example.com")
    client.register("ada@example.com")
    add(client, tea.id, 3)
    client.login("bob@example.com")
    assert client.signed_in_as() == "bob@example.com"
    assert cart_lines(client) == {} and saved_lines("bob@example.com") == {}


def test_a_stale_cart_form_after_sign_out_is_refused(client):
    tea = make_product()
    client.register()
    token = client.csrf_token()
    client.logout()
    response = client.post("/cart/add", data={"csrf_token": token, "product_id": tea.id})
    assert response.status_code == 400
    assert saved_lines("ada@example.com") == {} and cart_lines(client) == {}


# Query budget and figures ---------------------------------------------------------------------

@pytest.mark.parametrize("signed_in", [False, True])
def test_cart_and_header_cost_the_same_queries_for_1_and_50_lines(client, count_queries, signed_in):
    products = make_products(50, stock=100)
    if signed_in:
        client.register()
    costs = {}
    for lines in (1, 50):
        client.post_form("/cart/clear")
        for product in products[:lines]:
            add(client, product.id)
        for path in ("/cart", "/", f"/products/{products[0].slug}"):
            with count_queries() as statements:
                assert client.get(path).status_code == 200
            costs[(path, lines)] = len(statements)
    for path in ("/cart", "/", f"/products/{products[0].slug}"):
        assert costs[(path, 1)] == costs[(path, 50)] <= 4, costs


def test_carts_cleanup_command(client, runner):
    tea = make_product()
    client.register()
    add(client, tea.id)
    db.session.execute(update(Product).values(active=False))
    db.session.commit()
    preview = runner.invoke(args=["carts", "cleanup", "--dry-run"])
    assert preview.exit_code == 0 and "Would remove" in preview.output
    assert "1 line(s) of inactive products" in preview.output
    done = runner.invoke(args=["carts", "cleanup", "--days", "30"])
    assert done.exit_code == 0 and "1 line(s) of inactive products" in done.output
    assert saved_lines("ada@example.com") == {}
    assert runner.invoke(args=["carts", "cleanup", "--days", "0"]).exit_code != 0


def test_report_json_has_merge_figures(client, runner):
    tea = make_product(stock=2)
    client.register()
    client.logout()
    add(client, tea.id, 2)
    client.login()
    data = json.loads(runner.invoke(args=["report", "--json"]).output)
    assert data["cart_merge_success_rate"] == 1.0
    assert data["cart_merges_attempted"] == 1 and data["cart_lines_merged"] == 1
