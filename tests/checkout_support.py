"""Helpers the checkout, address and order tests share (imported by them, not a test module)."""

from __future__ import annotations

import re

from storefront.extensions import db
from storefront.models import Address
from tests.support import ShopClient

KEY = re.compile(r'name="idempotency_key"[^>]*value="([^"]+)"')
SHIPPING_CHOICE = re.compile(r'name="shipping_address_id" value="(\d+)"')
ORDER_MARKER = re.compile(r'data-order-number="([^"]+)" data-order-status="([^"]+)" '
                          r'data-order-total="([^"]+)"')
CHANGE = re.compile(r'<li class="change">([^<]*)</li>')
LINE = re.compile(r'data-product-id="(\d*)" data-quantity="(\d+)"')

GB_ADDRESS = {"full_name": "Ada Lovelace", "line1": "10 Downing Street", "line2": "",
              "city": "London", "postal_code": "SW1A 2AA", "region": "", "country": "GB",
              "phone": "020 7946 0958"}


def key_of(page: str) -> str:
    """The page's idempotency key ("" when it shows no checkout form)."""
    match = KEY.search(page)
    return match.group(1) if match else ""


def add_address(client: ShopClient, **fields: str) -> int:
    """An address added through the form; its id."""
    response = client.post_form("/account/addresses/new", {**GB_ADDRESS, **fields})
    assert response.status_code == 303, response.get_data(as_text=True)
    db.session.rollback()
    return db.session.scalar(db.select(Address.id).order_by(Address.id.desc()).limit(1))


def review(client: ShopClient) -> tuple[str, str]:
    """GET /checkout: the page and its idempotency key."""
    response = client.get("/checkout")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    return page, key_of(page)


def place(client: ShopClient, address_id: int | str, key: str | None = None,
          payment_method: str = "bank_transfer", billing: int | str = "", **extra: str):
    """POST /checkout as the review page's form does (a fresh review unless a key is given)."""
    if key is None:
        _page, key = review(client)
    return client.post_form("/checkout", {
        "shipping_address_id": str(address_id), "billing_address_id": str(billing),
        "payment_method": payment_method, "idempotency_key": key, **extra})


def buyer(client: ShopClient, email: str = "ada@example.com") -> int:
    """A registered shopper with an address; the address id."""
    assert client.register(email).status_code == 303
    return add_address(client)
