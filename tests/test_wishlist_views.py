"""The wishlist: add, remove, move to the cart through the cart's rules, move all, the guest's
heart, sharing; bad input and another account's items."""

import re

import pytest
from sqlalchemy import select, update

from storefront.extensions import db
from storefront.models import CART_MAX_LINES, WISHLIST_MAX_ITEMS, Product, UserCart, WishlistItem
from tests.factories import make_product, make_products
from tests.support import count_rows, flashes


def wished(client) -> dict[int, int]:  # noqa: ANN001
    page = client.page("/account/wishlist")
    return {int(pid): int(qty) for pid, qty in re.findall(
        r'class="wish-item" data-product-id="(\d+)" data-quantity="(\d+)"', page)}


def cart_lines() -> dict[int, int]:
    return dict(db.session.execute(select(UserCart.product_id, UserCart.quantity)).all())


@pytest.fixture
def ada(client):  # noqa: ANN001, ANN201
    assert client.register("ada@example.com").status_code == 303
    return client


def test_add_shows_the_item_with_its_quantity(ada):
    product = make_product(stock=10)
    response = ada.post_form("/wishlist/add", {"product_id": product.id, "quantity": "3"})
    assert response.status_code == 303 and response.location.endswith("/account/wishlist")
    assert wished(ada) == {product.id: 3}
    ada.post_form("/wishlist/add", {"product_id": product.id, "quantity": "98"})
    assert wished(ada) == {product.id: 99}


@pytest.mark.parametrize("value", ["abc", "", "2.5", "1e3"])
def test_bad_product_ids_are_422_and_write_nothing(ada, value):
    response = ada.post_form("/wishlist/add", {"product_id": value})
    assert response.status_code == 422
    assert count_rows(WishlistItem) == 0


@pytest.mark.parametrize("quantity", ["0", "100", "-1", "x", ""])
def test_quantity_bounds(ada, quantity):
    product = make_product(stock=10)
    response = ada.post_form("/wishlist/add", {"product_id": product.id, "quantity": quantity})
    assert response.status_code == 422
    assert count_rows(WishlistItem) == 0


def test_unknown_and_inactive_products_are_404(ada):
    inactive = make_product(active=False)
    assert ada.post_form("/wishlist/add", {"product_id": "999999"}).status_code == 404
    assert ada.post_form("/wishlist/add", {"product_id": "-1"}).status_code == 404
    assert ada.post_form("/wishlist/add", {"product_id": inactive.id}).status_code == 404
    assert count_rows(WishlistItem) == 0


def test_a_sold_out_product_is_listed_marked_without_a_move_button(ada):
    product = make_product(stock=0)
    assert ada.post_form("/wishlist/add", {"product_id": product.id}).status_code == 303
    page = ada.page("/account/wishlist")
    assert "Sold out" in page
    assert "/wishlist/move-to-cart" not in page
    response = ada.post_form("/wishlist/move-to-cart", {"product_id": product.id},
                             follow_redirects=True)
    assert ("warning", f"{product.name} is sold out: it stays on your wishlist.") in flashes(
        response.get_data(as_text=True))
    assert wished(ada) == {product.id: 1} and cart_lines() == {}


def test_a_101st_item_is_refused(ada):
    products = make_products(WISHLIST_MAX_ITEMS + 1, stock=5)
    user_id = db.session.scalar(select(UserCart.user_id).limit(1))
    del user_id
    for product in products[:WISHLIST_MAX_ITEMS]:
        assert ada.post_form("/wishlist/add", {"product_id": product.id}).status_code == 303
    response = ada.post_form("/wishlist/add", {"product_id": products[-1].id},
                             follow_redirects=True)
    assert any("wishlist is full" in text for _, text in flashes(
        response.get_data(as_text=True)))
    assert count_rows(WishlistItem) == WISHLIST_MAX_ITEMS


def test_move_keeps_the_wished_quantity_and_removes_the_item(ada):
    product = make_product(stock=10)
    ada.post_form("/wishlist/add", {"product_id": product.id, "quantity": "4"})
    response = ada.post_form("/wishlist/move-to-cart", {"product_id": product.id},
                             follow_redirects=True)
    assert ("success", f"{product.name}: 4 moved to your cart.") in flashes(
        response.get_data(as_text=True))
    assert cart_lines() == {product.id: 4}
    assert wished(ada) == {}
    assert 'data-cart-count="4"' in ada.page("/")


def test_move_caps_at_stock_and_says_so(ada):
    product = make_product(stock=10)
    ada.post_form("/wishlist/add", {"product_id": product.id, "quantity": "8"})
    db.session.execute(update(Product).where(Product.id == product.id).values(stock=5))
    db.session.commit()
    response = ada.post_form("/wishlist/move-to-cart", {"product_id": product.id},
                             follow_redirects=True)
    [(category, text)] = flashes(response.get_data(as_text=True))
    assert category == "warning" and "your cart now has 5" in text
    assert cart_lines() == {product.id: 5}


def test_moving_to_a_full_cart_keeps_the_item(ada):
    products = make_products(CART_MAX_LINES + 1, stock=5)
    for product in products[:CART_MAX_LINES]:
        assert ada.post_form("/cart/add", {"product_id": product.id}).status_code == 303
    extra = products[-1]
    ada.post_form("/wishlist/add", {"product_id": extra.id, "quantity": "2"})
    response = ada.post_form("/wishlist/move-to-cart", {"product_id": extra.id},
                             follow_redirects=True)
    [(category, text)] = flashes(response.get_data(as_text=True))
    assert category == "warning" and "did not fit" in text
    assert wished(ada) == {extra.id: 2}
    assert extra.id not in cart_lines()


def test_move_all_in_one_receipt(ada):
    available, sold_out = make_product(stock=10), make_product(stock=3)
    gone = make_product(stock=4)
    for product, quantity in ((available, 2), (sold_out, 1), (gone, 1)):
        ada.post_form("/wishlist/add", {"product_id": product.id, "quantity": quantity})
    db.session.execute(update(Product).where(Product.id == sold_out.id).values(stock=0))
    db.session.execute(update(Product).where(Product.id == gone.id).values(active=False))
    db.session.commit()
    response = ada.post_form("/wishlist/move-all", follow_redirects=True)
    messages = flashes(response.get_data(as_text=True))
    assert len(messages) == 1 and messages[0][0] == "warning"
    text = messages[0][1]
    assert f"{available.name}: 2 moved" in text and "sold out" in text and "no longer sold" in text
    assert cart_lines() == {available.id: 2}
    assert wished(ada) == {sold_out.id: 1, gone.id: 1}


def test_another_accounts_item_is_404(ada, make_client):
    product = make_product(stock=10)
    ada.post_form("/wishlist/add", {"product_id": product.id})
    bob = make_client()
    assert bob.register("bob@example.com").status_code == 303
    assert bob.post_form("/wishlist/remove", {"product_id": product.id}).status_code == 404
    assert bob.post_form("/wishlist/move-to-cart", {"product_id": product.id}).status_code == 404
    assert count_rows(WishlistItem) == 1 and cart_lines() == {}


def test_remove(ada):
    product = make_product(stock=10)
    ada.post_form("/wishlist/add", {"product_id": product.id})
    assert ada.post_form("/wishlist/remove", {"product_id": product.id}).status_code == 303
    assert wished(ada) == {}
    assert ada.post_form("/wishlist/remove", {"product_id": product.id}).status_code == 404


def test_a_guest_heart_asks_to_sign_in_and_adds_after_it(client):
    product = make_product(stock=10)
    assert client.register("ada@example.com").status_code == 303
    client.logout()
    response = client.post_form("/wishlist/add", {"product_id": product.id, "quantity": "2"})
    assert response.status_code == 303 and "/auth/login" in response.location
    assert count_rows(WishlistItem) == 0
    signed = client.login("ada@example.com", next="/account/wishlist")
    assert signed.status_code == 303 and signed.location.endswith("/account/wishlist")
    assert wished(client) == {product.id: 2}


def test_a_guest_heart_for_an_unknown_product_is_404(client):
    assert client.post_form("/wishlist/add", {"product_id": "424242"}).status_code == 404


def test_guests_cannot_remove_or_move(client):
    product = make_product()
    for path in ("/wishlist/remove", "/wishlist/move-to-cart", "/wishlist/move-all"):
        response = client.post_form(path, {"product_id": product.id})
        assert response.status_code == 302 and "/auth/login" in response.location


def test_the_page_costs_the_same_at_1_and_50_items(ada, count_queries):
    products = make_products(50, stock=5)
    ada.post_form("/wishlist/add", {"product_id": products[0].id})
    ada.page("/account/wishlist")
    with count_queries() as one:
        ada.page("/account/wishlist")
    for product in products[1:]:
        ada.post_form("/wishlist/add", {"product_id": product.id})
    with count_queries() as fifty:
        page = ada.page("/account/wishlist")
    assert page.count('class="wish-item"') == 50
    assert len(one) == len(fifty)


def share_link(client) -> str:  # noqa: ANN001
    response = client.post_form("/account/wishlist/share", {"shared": "y"},
                                follow_redirects=True)
    return re.search(r'data-share-url>([^<]+)<', response.get_data(as_text=True)).group(1)


def test_a_shared_wishlist_shows_items_and_first_name_only(ada, make_client):
    product = make_product(stock=10)
    ada.post_form("/wishlist/add", {"product_id": product.id, "quantity": "2"})
    link = share_link(ada)
    path = link.split("localhost", 1)[1]
    stranger = make_client()
    response = stranger.get(path)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Ada’s wishlist" in page and "Lovelace" not in page
    assert "ada@example.com" not in page
    assert f'data-product-id="{product.id}" data-quantity="2"' in page
    assert response.headers["X-Robots-Tag"] == "noindex"
    assert '<meta name="robots" content="noindex">' in page


def test_turning_sharing_off_or_on_again_kills_old_links(ada, make_client):
    old = share_link(ada).split("localhost", 1)[1]
    new = share_link(ada).split("localhost", 1)[1]
    stranger = make_client()
    assert stranger.get(old).status_code == 404
    assert stranger.get(new).status_code == 200
    ada.post_form("/account/wishlist/share", {})
    assert stranger.get(new).status_code == 404
    assert stranger.get("/wishlist/shared/" + "x" * 500).status_code == 404


def test_move_all_costs_the_same_at_1_and_30_items(ada, count_queries):
    products = make_products(31, stock=5)
    ada.post_form("/wishlist/add", {"product_id": products[0].id})
    token = ada.csrf_token()
    with count_queries() as one:
        ada.post("/wishlist/move-all", data={"csrf_token": token})
    for product in products[1:]:
        ada.post_form("/wishlist/add", {"product_id": product.id})
    with count_queries() as thirty:
        ada.post("/wishlist/move-all", data={"csrf_token": token})
    assert len(cart_lines()) == 31 and wished(ada) == {}
    assert len(one) == len(thirty)
