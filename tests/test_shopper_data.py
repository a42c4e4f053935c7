"""Profile pictures, the shopper's data export, and account deletion checked table by table."""

from __future__ import annotations

import io
import json
import os
import re

import pytest
from PIL import Image
from sqlalchemy import func, select, text

from storefront.extensions import db
from storefront.models import (
    Address,
    CartMerge,
    EmailToken,
    Event,
    Order,
    OrderLine,
    OutboxMail,
    Profile,
    User,
    UserCart,
    UserSession,
    WishlistItem,
    WishlistShare,
    utcnow,
)
from tests.factories import make_product, make_products
from tests.staff_support import image_bytes, png_bomb
from tests.support import PASSWORD, field_errors, flashes


@pytest.fixture
def app_config(tmp_path) -> dict[str, object]:  # noqa: ANN001
    return {"MEDIA_ROOT": str(tmp_path / "media"), "RATELIMIT_ENABLED": False}


@pytest.fixture
def ada(client):  # noqa: ANN001, ANN201
    assert client.register("ada@example.com").status_code == 303
    return client


def upload(client, data: bytes, name: str = "me.png"):  # noqa: ANN001, ANN201
    return client.post_form("/account/avatar", {"avatar": (io.BytesIO(data), name)},
                            content_type="multipart/form-data")


def media_files(app) -> list[str]:  # noqa: ANN001
    root = app.config["MEDIA_ROOT"]
    return sorted(os.listdir(root)) if os.path.isdir(root) else []


def avatar_key() -> str | None:
    return db.session.scalar(select(User.avatar_key))


# Avatars --------------------------------------------------------------------------------------

def test_an_avatar_is_two_square_webps_shown_in_the_header_and_the_api(ada, app):
    response = upload(ada, image_bytes("PNG", (800, 600)))
    assert response.status_code == 303
    key = avatar_key()
    assert media_files(app) == [f"{key}-256.webp", f"{key}-64.webp"]
    for size in (256, 64):
        served = ada.get(f"/media/{key}-{size}.webp")
        assert served.headers["Content-Type"] == "image/webp"
        assert served.headers["X-Content-Type-Options"] == "nosniff"
        assert Image.open(io.BytesIO(served.data)).size == (size, size)
    assert f"/media/{key}-64.webp" in ada.page("/")
    assert f"/media/{key}-256.webp" in ada.page("/account")
    assert ada.get("/api/me").get_json()["avatar_url"] == f"/media/{key}-256.webp"


def test_api_me_has_a_null_avatar_url_without_one(ada):
    assert ada.get("/api/me").get_json()["avatar_url"] is None


def test_replacing_and_deleting_remove_the_old_files(ada, app):
    upload(ada, image_bytes("PNG", (300, 300)))
    first = avatar_key()
    upload(ada, image_bytes("JPEG", (300, 200)), "me.jpg")
    second = avatar_key()
    assert first != second
    assert media_files(app) == [f"{second}-256.webp", f"{second}-64.webp"]
    response = ada.post_form("/account/avatar/delete", follow_redirects=True)
    assert ("success", "Your picture was removed.") in flashes(response.get_data(as_text=True))
    assert avatar_key() is None and media_files(app) == []
    assert "data-avatar" not in ada.page("/")


def test_gps_exif_is_gone_after_upload(ada):
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (51.0, 30.0, 0.0)}  # GPSInfo
    exif[0x010E] = "secret-description"
    upload(ada, image_bytes("JPEG", (400, 300), exif=exif.tobytes()), "me.jpg")
    data = ada.get(f"/media/{avatar_key()}-256.webp").data
    assert not Image.open(io.BytesIO(data)).info.get("exif")
    assert b"secret-description" not in data


@pytest.mark.parametrize("data, name, message", [
    (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "a.svg", "SVG"),
    (b"<html><script>alert(1)</script></html>", "x.png", "SVG"),
    (png_bomb(), "bomb.png", "too many pixels"),
    (image_bytes("JPEG", (400, 300))[:600], "cut.jpg", "damaged"),
])
def test_bad_pictures_are_refused_with_a_field_error(ada, app, data, name, message):
    response = upload(ada, data, name)
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert field_errors(body) == ["avatar"] and message in body
    assert avatar_key() is None and media_files(app) == []


def test_a_png_with_html_appended_keeps_only_its_pixels(ada):
    upload(ada, image_bytes("PNG", (64, 64)) + b"<script>alert(1)</script>")
    data = ada.get(f"/media/{avatar_key()}-256.webp").data
    assert b"<script" not in data


def test_a_3_mb_file_is_refused_never_a_500(ada, app):
    response = upload(ada, b"\x89PNG" + os.urandom(3 * 1024 * 1024))
    assert response.status_code in (413, 422)
    assert avatar_key() is None and media_files(app) == []


def test_a_file_just_over_2_mb_is_a_field_error(ada):
    response = upload(ada, image_bytes("PNG", (64, 64)) + b"\0" * (2 * 1024 * 1024))
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert field_errors(body) == ["avatar"] and "larger than 2 MB" in body


# The data export ------------------------------------------------------------------------------

def place_orders(count: int, user_id: int) -> None:
    product = make_product(stock=1000)
    for index in range(count):
        order = Order(number=f"SF-{index:04d}-AAAA", user_id=user_id, status="placed",
                      payment_method="bank_transfer", currency="EUR", subtotal=10, shipping=0,
                      total=10, email="ada@example.com", **{
                          f"{prefix}_{key}": "x" for prefix in ("ship", "bill")
                          for key in ("name", "line1", "line2", "city", "postal_code",
                                      "region")},
                      ship_country="GB", bill_country="GB")
        db.session.add(order)
        db.session.flush()
        db.session.add(OrderLine(order_id=order.id, product_id=product.id, sku=product.sku,
                                 name=product.name, unit_price=10, quantity=1))
    db.session.commit()


def download(client):  # noqa: ANN001, ANN201
    return client.post_form("/account/data")


def test_the_download_is_one_json_file_of_everything(ada):
    product = make_product(stock=10)
    ada.post_form("/wishlist/add", {"product_id": product.id, "quantity": "2"})
    ada.post_form("/cart/add", {"product_id": product.id})
    user_id = db.session.scalar(select(User.id))
    place_orders(1, user_id)
    response = download(ada)
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert "attachment" in response.headers["Content-Disposition"]
    data = json.loads(response.data)
    assert data["account"]["email"] == "ada@example.com"
    assert data["profile"]["first_name"] == "Ada"
    assert data["wishlist"]["items"][0]["quantity"] == 2
    assert data["saved_cart"][0]["product_id"] == product.id
    assert data["orders"][0]["lines"][0]["quantity"] == 1
    assert data["sessions"] and data["sessions"][0]["user_agent"] is not None
    assert {event["kind"] for event in data["events"]} >= {"registration"}


def test_the_download_needs_the_csrf_token_and_a_post(ada, make_client):
    assert ada.post("/account/data").status_code == 400
    assert ada.get("/account/data").mimetype == "text/html"
    anonymous = make_client()
    assert anonymous.get("/account/data").status_code == 302


def test_the_page_summarises_the_same(ada):
    user_id = db.session.scalar(select(User.id))
    place_orders(2, user_id)
    page = ada.page("/account/data")
    assert re.search(r'data-count="orders">2 ', page)


@pytest.mark.parametrize("path", ["/account/data"])
def test_the_export_costs_the_same_at_1_and_50_orders(ada, count_queries, path):
    user_id = db.session.scalar(select(User.id))
    place_orders(1, user_id)
    download(ada)
    with count_queries() as one:
        assert download(ada).status_code == 200
    db.session.execute(text("DELETE FROM order_lines"))
    db.session.execute(text("DELETE FROM orders"))
    db.session.commit()
    place_orders(50, user_id)
    with count_queries() as fifty:
        response = download(ada)
    assert len(json.loads(response.data)["orders"]) == 50
    assert len(one) == len(fifty)


# Deletion, table by table ---------------------------------------------------------------------

def test_deleting_an_account_empties_every_table_of_it(ada, app, make_client):
    products = make_products(2, stock=10)
    bob = make_client()
    assert bob.register("bob@example.com").status_code == 303
    ada.post_form("/cart/add", {"product_id": products[0].id})
    ada.post_form("/wishlist/add", {"product_id": products[1].id})
    ada.post_form("/account/wishlist/share", {"shared": "y"})
    upload(ada, image_bytes("PNG", (100, 100)))
    bob.post_form("/wishlist/add", {"product_id": products[1].id})
    ada_id, bob_id = (db.session.scalar(select(User.id).where(User.email == email))
                      for email in ("ada@example.com", "bob@example.com"))
    key = avatar_key_of(ada_id)
    address = {"full_name": "Ada", "line1": "1 Road", "city": "London",
               "postal_code": "SW1A 1AA", "country": "GB"}
    assert ada.post_form("/account/addresses/new", address).status_code == 303
    place_orders(1, ada_id)
    db.session.add(CartMerge(guest_token="guest-of-ada", user_id=ada_id, lines_in=1,
                             lines_kept=1))
    db.session.add(EmailToken(user_id=ada_id, purpose="reset", token_hash="h" * 64,
                              expires_at=utcnow()))
    for sent in (None, utcnow()):
        db.session.add(OutboxMail(user_id=ada_id, kind="verify_email",
                                  recipient="ada@example.com", subject="s", body_text="t",
                                  body_html="h", sent_at=sent))
    db.session.commit()
    owned = {
        Profile: Profile.user_id, UserCart: UserCart.user_id,
        UserSession: UserSession.user_id, CartMerge: CartMerge.user_id,
        Event: Event.user_id, EmailToken: EmailToken.user_id, OutboxMail: OutboxMail.user_id,
        Address: Address.user_id, Order: Order.user_id, WishlistItem: WishlistItem.user_id,
        WishlistShare: WishlistShare.user_id,
    }
    for model, column in owned.items():
        assert db.session.scalar(select(func.count()).where(column == ada_id)) > 0, model
    bob_before = {model: db.session.scalar(select(func.count()).where(column == bob_id))
                  for model, column in owned.items()}

    response = ada.post_form("/account/delete", {"password": PASSWORD})
    assert response.status_code == 303

    for model, column in owned.items():
        assert db.session.scalar(select(func.count()).where(column == ada_id)) == 0, model
    assert db.session.scalar(select(func.count()).where(User.id == ada_id)) == 0
    assert {model: db.session.scalar(select(func.count()).where(column == bob_id))
            for model, column in owned.items()} == bob_before
    # Kept: the order, detached and without the person; the lines; anonymous events.
    order = db.session.scalars(select(Order)).one()
    assert order.user_id is None and order.email is None and order.ship_name == ""
    assert db.session.scalar(select(func.count()).select_from(OrderLine)) == 1
    assert db.session.scalar(select(func.count()).select_from(Event)
                             .where(Event.user_id.is_(None))) > 0
    assert not [name for name in media_files(app) if name.startswith(key)]
    assert ada.signed_in_as() is None


def avatar_key_of(user_id: int) -> str:
    return db.session.scalar(select(User.avatar_key).where(User.id == user_id))
