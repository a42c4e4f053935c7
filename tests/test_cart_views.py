"""The cart over HTTP: guest and saved carts behind one interface, lines that cannot be bought
now, the order of lines, the merge at sign-in and at registration with its receipt (words and
size), bad input, a racing account deletion, isolation and the query budget."""

import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import delete, func, select, update

from storefront import carts
from storefront.blueprints.cart.session_cart import (
    RECEIPT_MAX_BYTES,
    describe_merged_line,
    merge_receipt,
)
from storefront.carts import MergedLine, MergeOutcome, MergeResult, MergeStatus
from storefront.extensions import db
from storefront.models import CartMerge, Event, Product, User, UserCart, utcnow
from tests.factories import make_product, make_products
from tests.support import PASSWORD, count_rows, flashes

LINE = re.compile(r'data-product-id="(\d+)" data-quantity="(\d+)"')
LINE_ROW = re.compile(r'<tr class="cart-line" data-product-id="(\d+)"[^>]*>(.*?)</tr>', re.S)
ALREADY_MERGED = ("info", "This cart was already added to your account at an earlier sign-in, "
                          "so nothing was added again.")


def lines_in(body: str) -> dict[int, int]:
    return {int(pid): int(qty) for pid, qty in LINE.findall(body)}


def cart_lines(client) -> dict[int, int]:  # noqa: ANN001
    return lines_in(client.page("/cart"))


def cart_order(client) -> list[int]:  # noqa: ANN001
    return [int(pid) for pid, _ in LINE.findall(client.page("/cart"))]


def line_html(body: str, product_id: int) -> str:
    return dict(LINE_ROW.findall(body))[str(product_id)]


def set_product(product_id: int, **values: object) -> None:
    db.session.execute(update(Product).where(Product.id == product_id).values(**values))
    db.session.commit()


def guest_lines_in_cookie(client) -> list[list[int]] | None:  # noqa: ANN001
    with client.session_transaction() as session:
        return session["cart"]["lines"] if "cart" in session else None


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
    response = add(client, product_id)
    assert response.status_code == status
    if status == 422:
        assert flashes(response.get_data(as_text=True)) == [
            ("error", "That is not a product we know.")]
    assert cart_lines(client) == {}


def test_missing_product_id_is_422_with_a_flash_and_writes_nothing(client):
    tea = make_product()
    add(client, tea.id, 2)
    response = client.post_form("/cart/add", {"quantity": "1"})
    assert response.status_code == 422
    assert flashes(response.get_data(as_text=True)) == [
        ("error", "That is not a product we know.")]
    assert cart_lines(client) == {tea.id: 2}


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
    tea, cup = make_product(name="Tea", stock=5), make_product()
    add(client, tea.id)
    add(client, cup.id)
    client.post_form("/cart/update", {"product_id": tea.id, "quantity": "9"})
    body = client.page("/cart")
    assert lines_in(body) == {tea.id: 5, cup.id: 1}
    assert ("warning", "Only 5 of Tea can be ordered: your cart now has 5.") in flashes(body)
    client.post_form("/cart/update", {"product_id": tea.id, "quantity": "0"})
    body = client.page("/cart")
    assert lines_in(body) == {cup.id: 1}
    assert flashes(body) == [("success", "The line was removed from your cart.")]
    refused = client.post_form("/cart/update", {"product_id": cup.id, "quantity": "100"})
    assert refused.status_code == 422
    assert flashes(refused.get_data(as_text=True)) == [
        ("error", "Quantity must be a whole number from 0 to 99.")]
    assert client.post_form("/cart/update", {"product_id": "424242", "quantity": "1"}).status_code == 404
    assert cart_lines(client) == {cup.id: 1}


def test_remove_and_clear(client):
    tea, cup, other = make_product(), make_product(), make_product()
    add(client, tea.id)
    add(client, cup.id)
    assert client.post_form("/cart/remove", {"product_id": tea.id}).status_code == 303
    assert cart_lines(client) == {cup.id: 1}
    response = client.post_form("/cart/remove", {"product_id": other.id})
    assert response.status_code == 303  # not in the cart: a flash, nothing changes
    body = client.page("/cart")
    assert flashes(body) == [("warning", "That product is not in your cart.")]
    assert lines_in(body) == {cup.id: 1}
    assert client.post_form("/cart/remove", {"product_id": "99999"}).status_code == 404
    assert cart_lines(client) == {cup.id: 1}
    assert client.post_form("/cart/clear").status_code == 303
    body = client.page("/cart")
    assert lines_in(body) == {} and flashes(body) == [("success", "Your cart is empty.")]


def test_a_guest_who_emptied_the_cart_sees_a_count_of_zero_on_other_pages(client):
    tea = make_product()
    add(client, tea.id, 2)
    client.post_form("/cart/remove", {"product_id": tea.id})
    assert guest_lines_in_cookie(client) == []
    assert header_count(client.page("/")) == 0
    add(client, tea.id, 1)
    client.post_form("/cart/clear")
    assert header_count(client.page(f"/products/{tea.slug}")) == 0


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
                   "line_total": "25.00", "available": True}],
        "subtotal": "25.00", "count": 2}


@pytest.mark.parametrize("signed_in", [False, True], ids=["guest", "signed_in"])
def test_a_line_reaches_exactly_99_and_the_warning_names_the_line_limit(client, signed_in):
    if signed_in:
        client.register()
    tea = make_product(name="Tea", stock=500)
    add(client, tea.id, 60)
    add(client, tea.id, 60)
    body = client.page("/cart")
    assert lines_in(body) == {tea.id: 99} and header_count(body) == 99
    assert ("warning", "At most 99 of Tea fit in one cart line: your cart now has 99.") in flashes(body)


# Lines that cannot be bought now ------------------------------------------------------------

@pytest.mark.parametrize("signed_in", [False, True], ids=["guest", "signed_in"])
def test_a_sold_out_line_is_shown_with_its_notice_but_not_counted(client, signed_in):
    if signed_in:
        client.register()
    tea = make_product(name="Tea", price="4.50", stock=10)
    mug = make_product(name="Mug", price="12.00", stock=10)
    add(client, tea.id, 2)
    add(client, mug.id, 1)
    set_product(mug.id, stock=0)

    assert header_count(client.page("/")) == 2
    body = client.page("/cart")
    assert lines_in(body) == {tea.id: 2, mug.id: 1}  # still there, for the shopper to see
    assert "Sold out now: not counted in your subtotal." in line_html(body, mug.id)
    assert "Sold out now" not in line_html(body, tea.id)
    assert 'data-subtotal="9.00"' in body and header_count(body) == 2
    api = client.get("/api/cart").get_json()
    assert [(line["product_id"], line["available"]) for line in api["lines"]] == [
        (tea.id, True), (mug.id, False)]
    assert (api["subtotal"], api["count"]) == ("9.00", 2)
    set_product(mug.id, stock=5)  # back in stock: counted again
    body = client.page("/cart")
    assert 'data-subtotal="21.00"' in body and header_count(body) == 3


@pytest.mark.parametrize("signed_in", [False, True], ids=["guest", "signed_in"])
def test_a_withdrawn_line_is_not_counted_then_named_once_and_removed(client, signed_in):
    if signed_in:
        client.register()
    tea = make_product(name="Tea", price="4.50", stock=10)
    kettle = make_product(name="Blue Kettle", price="30.00", stock=10)
    add(client, kettle.id, 1)
    add(client, tea.id, 2)
    set_product(kettle.id, active=False)

    assert header_count(client.page("/")) == 2
    api = client.get("/api/cart").get_json()
    assert (api["subtotal"], api["count"]) == ("9.00", 2)
    body = client.page("/cart")
    assert flashes(body) == [
        ("warning", "No longer sold, so removed from your cart: Blue Kettle.")]
    assert lines_in(body) == {tea.id: 2}
    assert 'data-subtotal="9.00"' in body and header_count(body) == 2
    if signed_in:
        assert saved_lines("ada@example.com") == {tea.id: 2}
    else:
        assert guest_lines_in_cookie(client) == [[tea.id, 2]]
    again = client.page("/cart")
    assert flashes(again) == [] and lines_in(again) == {tea.id: 2}
    set_product(kettle.id, active=True)  # sold again later: the line does not come back
    assert cart_lines(client) == {tea.id: 2}


# Lines keep the order they were first added in --------------------------------------------------

@pytest.mark.parametrize("signed_in", [False, True], ids=["guest", "signed_in"])
def test_lines_keep_the_order_they_were_first_added(client, signed_in):
    if signed_in:
        client.register()
    a, b, c = make_products(3, stock=50)  # ids in the order a < b < c
    for product in (c, a, b):
        add(client, product.id)
    assert cart_order(client) == [c.id, a.id, b.id]
    client.post_form("/cart/update", {"product_id": a.id, "quantity": "5"})
    add(client, c.id, 2)
    assert cart_order(client) == [c.id, a.id, b.id]
    assert cart_lines(client) == {c.id: 3, a.id: 5, b.id: 1}
    api = client.get("/api/cart").get_json()
    assert [line["product_id"] for line in api["lines"]] == [c.id, a.id, b.id]


def test_the_merge_puts_saved_lines_first_then_guest_lines_in_guest_order(client):
    p1, p2, p3, p4, p5 = make_products(5, stock=50)
    client.register()
    add(client, p4.id)
    add(client, p2.id)
    client.logout()
    for product in (p5, p2, p1, p3):
        add(client, product.id)
    assert client.login().status_code == 303
    # p2 is summed into the saved line and keeps that line's place.
    assert cart_order(client) == [p4.id, p2.id, p5.id, p1.id, p3.id]
    assert saved_lines("ada@example.com")[p2.id] == 2


# The saved cart -------------------------------------------------------------------------------

def test_signed_in_adds_go_to_the_saved_cart(client):
    client.register()
    tea = make_product(name="Tea", stock=9)
    add(client, tea.id, 4)
    add(client, tea.id, 9)
    assert saved_lines("ada@example.com") == {tea.id: 9}
    body = client.page("/cart")
    assert lines_in(body) == {tea.id: 9}
    assert ("warning", "Only 9 of Tea can be ordered: your cart now has 9.") in flashes(body)
    assert client.get("/api/cart").get_json()["count"] == 9


def test_updating_a_sold_out_saved_line_says_so_by_name_and_keeps_the_line(client):
    client.register()
    tea = make_product(name="Tea", stock=5)
    add(client, tea.id, 2)
    set_product(tea.id, stock=0)
    response = client.post_form("/cart/update", {"product_id": tea.id, "quantity": "1"})
    assert response.status_code == 303
    assert ("warning", "Sorry, Tea is sold out.") in flashes(client.page("/cart"))
    assert saved_lines("ada@example.com") == {tea.id: 2}


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
    assert ("info", "Your cart from this visit was added to your saved cart.") in flashes(body)
    assert lines_in(body) == {tea.id: 2, mug.id: 1} and header_count(body) == 3


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


def test_a_guest_line_of_a_product_deleted_since_is_named_by_its_number_in_the_receipt(client):
    tea = make_product(name="Tea")
    client.register()
    client.logout()
    add(client, tea.id, 2)
    db.session.execute(delete(Product).where(Product.id == tea.id))
    db.session.commit()
    response = client.login()
    assert response.status_code == 303
    body = client.page(response.headers["Location"])
    assert ("warning", "Your cart from this visit was merged into your saved cart: "
                       f"Product #{tea.id}: removed, no longer available.") in flashes(body)
    assert saved_lines("ada@example.com") == {} and guest_lines_in_cookie(client) is None
    assert count_rows(CartMerge) == 1


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
    response = client.post("/auth/login", data=form)
    assert response.status_code == 303
    assert ALREADY_MERGED in flashes(client.page(response.headers["Location"]))
    assert saved_lines("ada@example.com") == {tea.id: 2}
    assert db.session.scalar(select(func.count()).select_from(CartMerge)) == 1


def test_a_replayed_guest_cookie_after_sign_out_says_so_and_adds_nothing(client, make_client):
    tea = make_product(stock=50)
    make_client().register()  # Ada exists
    add(client, tea.id, 2)
    guest_cookie = client.get_cookie("session").value
    client.login()
    client.logout()
    client.set_cookie("session", guest_cookie)
    assert cart_lines(client) == {tea.id: 2}  # the old cookie still shows its lines...
    response = client.login()
    assert response.status_code == 303
    body = client.page(response.headers["Location"])
    # ...but they are not added twice, and the shopper is told why rather than left guessing.
    assert [flash for flash in flashes(body) if "cart" in flash[1]] == [ALREADY_MERGED]
    assert saved_lines("ada@example.com") == {tea.id: 2}
    assert count_rows(CartMerge) == 1


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
    body = client.page("/")
    assert ("info", "Your cart from this visit was added to your saved cart.") in flashes(body)
    assert saved_lines("ada@example.com") == {tea.id: 2}
    with client.session_transaction() as session:
        assert "cart" not in session
    assert cart_lines(client) == {tea.id: 2}


def test_a_merge_failing_inside_the_database_keeps_the_sign_in_and_the_guest_lines(
        client, monkeypatch):
    """The fault is planted where only the database sees it: the upsert writes a quantity the
    CHECK on user_carts refuses, after the cart_merges row was inserted. The savepoint undoes
    both; the sign-in around it commits."""
    tea = make_product(stock=10)
    client.register()
    client.logout()
    add(client, tea.id, 2)
    monkeypatch.setattr(carts, "cap_quantity", lambda requested, stock: 100)
    response = client.login()
    assert response.status_code == 303 and response.headers["Location"] == "/account"
    assert count_rows(CartMerge) == 0
    assert saved_lines("ada@example.com") == {}
    assert guest_lines_in_cookie(client) == [[tea.id, 2]]
    assert db.session.execute(
        select(Event.ok, Event.detail).where(Event.kind == "cart_merge")
    ).all() == [(False, "error=IntegrityError")]
    assert client.signed_in_as() == "ada@example.com"  # its retry failed too, and no harm done
    assert guest_lines_in_cookie(client) == [[tea.id, 2]]


def test_a_retried_merge_for_an_account_deleted_meanwhile_drops_the_guest_lines(
        client, monkeypatch):
    """The merge failed at sign-in; before the next request's retry writes, the account is
    deleted elsewhere. The retry's failure event cannot name the vanished account: the page
    still answers, the guest lines leave the cookie and nothing is half-written."""
    tea = make_product(stock=10)
    client.register()
    client.logout()
    add(client, tea.id, 2)
    real_merge, real_retry = carts.merge_into_saved_cart, carts.retry_merge
    monkeypatch.setattr(carts, "merge_into_saved_cart", lambda *args: 1 / 0)
    assert client.login().status_code == 303
    monkeypatch.setattr(carts, "merge_into_saved_cart", real_merge)

    def deleted_meanwhile(user_id: int, guest: carts.GuestCart) -> MergeResult:
        with db.engine.begin() as connection:
            connection.execute(delete(User).where(User.id == user_id))
        return real_retry(user_id, guest)

    monkeypatch.setattr(carts, "retry_merge", deleted_meanwhile)
    assert client.get("/").status_code == 200
    assert guest_lines_in_cookie(client) is None
    assert count_rows(User) == 0 and count_rows(UserCart) == 0 and count_rows(CartMerge) == 0
    assert db.session.execute(select(Event.ok, Event.detail).where(
        Event.kind == "cart_merge")).all() == [(False, "error=ZeroDivisionError")]


@pytest.mark.parametrize("filler", ["x" * 189, "☕ü€" * 63], ids=["ascii", "non_ascii"])
def test_a_merge_receipt_of_50_long_lines_keeps_the_cookie_under_4kb(client, filler):
    """Every line is capped or dropped and each has a 200-character name: the receipt sums up
    instead of naming them all, so the browser keeps the cookie and the shopper stays signed in.
    Non-ASCII names cost up to six bytes a character in the cookie's JSON."""
    client.register()
    client.logout()
    products = [make_product(name=f"Product {number:02d} " + filler, stock=10)
                for number in range(50)]
    assert {len(product.name) for product in products} == {200}
    for product in products:
        add(client, product.id, 10)
    for number, product in enumerate(products):
        set_product(product.id, stock=0 if number % 2 else 3)

    response = client.login()
    assert response.status_code == 303
    cookies = [header for header in response.headers.getlist("Set-Cookie")
               if header.startswith("session=")]
    assert len(cookies) == 1 and len(cookies[0]) < 4093
    body = client.page(response.headers["Location"])
    receipts = [text for category, text in flashes(body) if category == "warning"]
    assert len(receipts) == 1
    rest = re.search(r"and (\d+) more lines: see your cart\.$", receipts[0])
    assert rest is not None, receipts[0]
    named = sum(1 for product in products if product.name[:20] in receipts[0])
    assert named >= 1 and named + int(rest.group(1)) == 50
    assert client.signed_in_as() == "ada@example.com"
    assert saved_lines("ada@example.com") == {
        product.id: 3 for number, product in enumerate(products) if number % 2 == 0}
    assert count_rows(CartMerge) == 1


def test_a_cart_add_after_its_account_was_deleted_answers_as_a_guest(client):
    tea = make_product()
    client.register()
    token = client.csrf_token()
    db.session.execute(delete(User))  # the account goes, from elsewhere, before the POST
    db.session.commit()
    response = client.post("/cart/add", data={"csrf_token": token, "product_id": tea.id})
    assert response.status_code == 303
    assert count_rows(UserCart) == 0
    assert client.signed_in_as() is None
    assert guest_lines_in_cookie(client) == [[tea.id, 1]]


def test_a_cart_add_racing_the_deletion_of_its_account_is_a_404(client, monkeypatch):
    """The account goes after the request loaded its shopper and before the cart write."""
    tea = make_product()
    client.register()
    real = carts._saved_line_for_writing

    def account_deleted_meanwhile(user_id: int, product_id: int):  # noqa: ANN202
        with db.engine.begin() as connection:
            connection.execute(delete(User).where(User.id == user_id))
        return real(user_id, product_id)

    monkeypatch.setattr(carts, "_saved_line_for_writing", account_deleted_meanwhile)
    response = add(client, tea.id)
    assert response.status_code == 404
    assert count_rows(User) == 0 and count_rows(UserCart) == 0
    monkeypatch.undo()
    assert client.signed_in_as() is None


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


# The receipt's words ------------------------------------------------------------------------

def merged(outcome: MergeOutcome, saved: int = 0, guest: int = 1, final: int = 1,
           stock: int = 10, name: str | None = "Tea", product_id: int = 7) -> MergedLine:
    return MergedLine(product_id, name, outcome, saved, guest, final, stock)


@pytest.mark.parametrize(("line", "words"), [
    (merged(MergeOutcome.ADDED, 0, 2, 2), "Tea: 2 added"),
    (merged(MergeOutcome.SUMMED, 2, 3, 5), "Tea: 2 saved + 3 from this visit = 5"),
    (merged(MergeOutcome.CAPPED_AT_STOCK, 3, 4, 5, 5), "Tea: 7 wanted, set to 5 (only 5 in stock)"),
    (merged(MergeOutcome.CAPPED_AT_LINE_MAX, 60, 60, 99, 500),
     "Tea: 120 wanted, set to 99 (at most 99 per line)"),
    (merged(MergeOutcome.DROPPED_UNAVAILABLE, 0, 1, 0, 0), "Tea: removed, no longer available"),
    (merged(MergeOutcome.DROPPED_UNAVAILABLE, 0, 1, 0, 0, name=None, product_id=777),
     "Product #777: removed, no longer available"),
    (merged(MergeOutcome.DROPPED_SOLD_OUT, 1, 2, 1, 0), "Tea: removed, sold out"),
    (merged(MergeOutcome.DROPPED_CART_FULL, 0, 1, 0, 10),
     "Tea: removed, a cart holds at most 50 lines"),
    (merged(MergeOutcome.DROPPED_SOLD_OUT, name="N" * 200), "N" * 59 + "…: removed, sold out"),
], ids=["added", "summed", "capped_at_stock", "capped_at_line_max", "dropped_unavailable",
        "dropped_unknown_product", "dropped_sold_out", "dropped_cart_full", "long_name_shortened"])
def test_each_merge_outcome_is_worded_with_its_numbers(line, words):
    assert describe_merged_line(line) == words


def test_the_receipt_says_nothing_when_nothing_was_merged_or_the_merge_failed():
    assert merge_receipt(MergeResult()) is None
    assert merge_receipt(MergeResult(MergeStatus.FAILED, lines_in=2)) is None


def test_the_receipt_of_a_replayed_guest_cart_says_it_was_merged_before():
    assert merge_receipt(MergeResult(MergeStatus.ALREADY_MERGED, lines_in=3)) == (ALREADY_MERGED[1], "info")


def test_the_receipt_of_lines_added_as_they_were_is_one_info_sentence():
    result = MergeResult(MergeStatus.MERGED, (merged(MergeOutcome.ADDED),), 1)
    assert merge_receipt(result) == (
        "Your cart from this visit was added to your saved cart.", "info")


def test_the_receipt_names_summed_lines_as_info_and_capped_or_dropped_ones_as_a_warning():
    summed = merged(MergeOutcome.SUMMED, 2, 3, 5, name="Coffee")
    intro = "Your cart from this visit was merged into your saved cart: "
    only_summed = MergeResult(MergeStatus.MERGED, (merged(MergeOutcome.ADDED), summed), 2)
    assert merge_receipt(only_summed) == (
        intro + "Coffee: 2 saved + 3 from this visit = 5.", "info")
    mixed = MergeResult(MergeStatus.MERGED, (
        merged(MergeOutcome.ADDED, name="Cups"), summed,
        merged(MergeOutcome.CAPPED_AT_STOCK, 3, 4, 5, 5),
        merged(MergeOutcome.DROPPED_SOLD_OUT, 0, 1, 0, 0, name="Mug")), 4)
    assert merge_receipt(mixed) == (
        intro + "Coffee: 2 saved + 3 from this visit = 5; "
        "Tea: 7 wanted, set to 5 (only 5 in stock); Mug: removed, sold out.", "warning")


def test_the_receipt_sums_up_what_does_not_fit_and_stays_small():
    def receipt(count: int) -> str:
        lines = tuple(merged(MergeOutcome.DROPPED_SOLD_OUT, name=f"{number:02d} " + "n" * 197)
                      for number in range(count))
        text, category = merge_receipt(MergeResult(MergeStatus.MERGED, lines, count))
        assert category == "warning"
        return text

    first_summed = next(count for count in range(1, 51) if "more line" in receipt(count))
    assert receipt(first_summed).endswith("; and 1 more line: see your cart.")
    assert "more line" not in receipt(first_summed - 1)
    everything = receipt(50)
    assert everything.endswith(f"; and {51 - first_summed} more lines: see your cart.")
    assert len(json.dumps(everything)) <= RECEIPT_MAX_BYTES + len(json.dumps("; and 50 more lines: see your cart."))


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


def test_carts_cleanup_without_days_keeps_lines_for_90_days(client, runner):
    kept, stale = make_product(), make_product()
    client.register()
    add(client, kept.id)
    add(client, stale.id)
    now = utcnow()
    for product, days in ((kept, 89), (stale, 91)):
        db.session.execute(update(UserCart).where(UserCart.product_id == product.id)
                           .values(updated_at=now - timedelta(days=days)))
    db.session.commit()
    result = runner.invoke(args=["carts", "cleanup"])
    assert result.exit_code == 0, result.output
    assert "Removed 1 line(s) untouched for 90 days." in result.output
    assert saved_lines("ada@example.com") == {kept.id: 1}


@pytest.mark.parametrize("path", ["/?page=999", "/products/no-such-product", "/nowhere",
                                  "/wishlist/shared/" + "k" * 65],
                         ids=["past_last_page", "no_such_product", "no_route",
                              "refused_before_any_query"])
def test_an_error_page_of_a_returning_guest_counts_the_cart_too(client, path):
    """The count that rides with a page's query is read anyway when that query failed, or
    when the page was refused (and its transaction rolled back) before it sent one."""
    tea = make_product(name="Tea", stock=10)
    add(client, tea.id, 3)
    response = client.get(path)
    assert response.status_code == 404
    assert header_count(response.get_data(as_text=True)) == 3
