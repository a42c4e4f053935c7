"""The shopper gets the staff's order notices through a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select

from storefront.extensions import db
from storefront.models import Order
from tests.checkout_support import add_address, place
from tests.factories import make_product
from tests.staff_support import SHOPPER_EMAIL, shopper_client, staff_client
from tests.support import Mailbox

BASE_URL = "https://shop.example"


@pytest.fixture
def app_config(mailbox: Mailbox) -> dict[str, object]:
    return {"MAIL_URL": mailbox.url, "EXTERNAL_BASE_URL": BASE_URL, "RATELIMIT_ENABLED": False}


def deliver(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["mail", "deliver", "--once"])
    assert result.exit_code == 0, result.output


def test_the_shopper_gets_the_paid_and_shipped_notices(app, make_client, mailbox):
    staff = staff_client(make_client)
    shopper = shopper_client(make_client)
    address_id = add_address(shopper)
    product = make_product(name="Green Kettle", stock=3)
    assert shopper.post_form("/cart/add", {"product_id": str(product.id)}).status_code == 303
    assert place(shopper, address_id).status_code == 303
    db.session.rollback()
    number = db.session.scalar(select(Order.number))
    deliver(app)
    assert len(mailbox.to(SHOPPER_EMAIL)) >= 2  # the welcome/verify mail and the order's

    assert staff.post_form(f"/admin/orders/{number}", {"status": "paid"}).status_code == 303
    deliver(app)
    paid = mailbox.to(SHOPPER_EMAIL)[-1]
    assert paid.subject.startswith(f"Your order {number} is paid")
    assert "We received your payment" in paid.text and "Green Kettle" in paid.text
    assert f"{BASE_URL}/account/orders/{number}" in paid.text

    response = staff.post_form(f"/admin/orders/{number}",
                               {"status": "shipped", "tracking": "1Z<b>999"})
    assert response.status_code == 303
    deliver(app)
    shipped = mailbox.to(SHOPPER_EMAIL)[-1]
    assert shipped.subject.startswith(f"Your order {number} is on its way")
    assert "Tracking reference: 1Z<b>999" in shipped.text
    assert "1Z&lt;b&gt;999" in shipped.html and "1Z<b>999" not in shipped.html
    subjects = [mail.subject for mail in mailbox.to(SHOPPER_EMAIL)]
    assert sum(number in subject for subject in subjects) == 3  # placed, paid, shipped
