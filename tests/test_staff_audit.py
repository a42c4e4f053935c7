"""Nothing in the staff area changes data without an audit row: every POST route of the
admin blueprint, taken from the url_map, is sent a valid change and must add one, in the
change's own transaction."""

from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import select

from storefront import audit
from storefront.extensions import db
from storefront.models import Address, AuditEvent, Order, OutboxMail, Product, User, UserSession
from tests.checkout_support import add_address, place
from tests.factories import make_product
from tests.staff_support import SHOPPER_EMAIL, image_bytes, shopper_client, staff_client
from tests.support import count_rows


@pytest.fixture
def app_config(tmp_path) -> dict[str, object]:  # noqa: ANN001
    return {"MEDIA_ROOT": str(tmp_path / "media")}


def post_routes(app) -> set[str]:  # noqa: ANN001
    return {rule.endpoint for rule in app.url_map.iter_rules()
            if rule.endpoint.startswith("admin.") and "POST" in rule.methods}


def valid_changes(product: Product, user_id: int, session_id: int,
                  number: str = "SF-AAAA-AAAA") -> dict[str, tuple]:
    """A valid change for each staff POST endpoint: (path, form, multipart)."""
    form = {"sku": product.sku, "name": "Renamed", "description": "", "price": "3.00",
            "stock": "9", "active": "y"}
    return {
        "admin.new_product": ("/admin/products/new", {
            "sku": "NEW-1", "name": "New", "price": "1.00", "stock": "1", "active": "y",
            "image": (io.BytesIO(image_bytes("PNG", (50, 50))), "new.png")}, True),
        "admin.edit_product": (f"/admin/products/{product.id}/edit", form, False),
        "admin.adjust_stock": (f"/admin/products/{product.id}/stock",
                               {"change": "+2", "reason": "received"}, False),
        "admin.import_products": ("/admin/products/import", {"file": (io.BytesIO(
            b"sku,name,price,stock\nIMP-1,Imported,2.00,3\n"), "p.csv")}, True),
        "admin.revoke_customer_session": (
            f"/admin/customers/{user_id}/sessions/{session_id}/revoke", {}, False),
        "admin.revoke_customer_sessions": (f"/admin/customers/{user_id}/sessions/revoke-all",
                                           {}, False),
        "admin.disable_customer": (f"/admin/customers/{user_id}/disable", {}, False),
        "admin.enable_customer": (f"/admin/customers/{user_id}/enable", {}, False),
        "admin.order": (f"/admin/orders/{number}", {"status": "paid"}, False),
    }


def web_audit_ids() -> list[int]:
    return list(db.session.scalars(select(AuditEvent.id).where(
        AuditEvent.actor_id.is_not(None))))


def placed_order(shopper, product: Product) -> str:  # noqa: ANN001
    """The shopper buys one of the product; the order's number."""
    add_address(shopper)
    assert shopper.post_form("/cart/add", {"product_id": str(product.id)}).status_code == 303
    assert place(shopper, db.session.scalar(select(Address.id))).status_code == 303
    db.session.rollback()
    return db.session.scalar(select(Order.number))


def test_every_staff_post_route_writes_an_audit_row(app, make_client):
    browser = staff_client(make_client)
    shopper = shopper_client(make_client)
    product = make_product(stock=5)
    number = placed_order(shopper, product)
    user_id = db.session.scalar(select(User.id).where(User.email == SHOPPER_EMAIL))
    session_id = db.session.scalar(select(UserSession.id).where(UserSession.user_id == user_id))
    changes = valid_changes(product, user_id, session_id, number)
    assert set(changes) == post_routes(app), "a staff POST route has no audit check"
    for endpoint, (path, form, multipart) in changes.items():
        before = web_audit_ids()
        response = browser.post_form(path, form, **(
            {"content_type": "multipart/form-data"} if multipart else {}))
        assert response.status_code == 303, (endpoint, response.status_code)
        added = [row for row in db.session.scalars(select(AuditEvent).where(
            AuditEvent.id.not_in(before) if before else AuditEvent.id > 0,
            AuditEvent.actor_id.is_not(None)))]
        assert len(added) == 1, endpoint
        assert added[0].actor_email == "staff@example.com"
        assert re.fullmatch(r"[a-z_]+", added[0].action)


@pytest.mark.parametrize("endpoint", ["admin.edit_product", "admin.adjust_stock",
                                      "admin.disable_customer", "admin.new_product",
                                      "admin.order"])
def test_a_change_whose_audit_row_fails_is_not_written(app, make_client, monkeypatch, endpoint):
    browser = staff_client(make_client)
    shopper = shopper_client(make_client)
    product = make_product(stock=5)
    number = placed_order(shopper, product)
    user_id = db.session.scalar(select(User.id).where(User.email == SHOPPER_EMAIL))
    session_id = db.session.scalar(select(UserSession.id).where(UserSession.user_id == user_id))
    path, form, multipart = valid_changes(product, user_id, session_id, number)[endpoint]
    mails = count_rows(OutboxMail)

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("audit store broken")

    monkeypatch.setattr(audit, "record", broken)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = browser.post_form(path, form, **(
        {"content_type": "multipart/form-data"} if multipart else {}))
    assert response.status_code == 500
    db.session.expire_all()
    stored = db.session.get(Product, product.id)
    assert (stored.name, stored.stock, stored.price) == (product.name, 4, product.price)
    assert db.session.scalar(select(Order.status)) == "placed"
    assert count_rows(OutboxMail) == mails
    assert db.session.scalar(select(Product.id).where(Product.sku == "NEW-1")) is None
    assert db.session.get(User, user_id).is_active is True
