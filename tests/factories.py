"""Objects for tests, made through the same code paths the shop uses."""

from __future__ import annotations

import itertools
from datetime import timedelta
from decimal import Decimal

from storefront.extensions import db
from storefront.models import Product, utcnow

_numbers = itertools.count(1)


def make_product(**fields: object) -> Product:
    number = next(_numbers)
    values: dict[str, object] = {
        "sku": f"SKU-{number:05d}",
        "slug": f"product-{number}",
        "name": f"Product {number}",
        "description": f"Description of product {number}.",
        "price": Decimal("10.00"),
        "stock": 20,
        "active": True,
        # Distinct times, so "newest first" is defined without relying on ids.
        "created_at": utcnow() - timedelta(days=365) + timedelta(seconds=number),
    }
    values.update(fields)
    values["price"] = Decimal(str(values["price"]))
    product = Product(**values)
    db.session.add(product)
    db.session.commit()
    return product


def make_products(count: int, **fields: object) -> list[Product]:
    return [make_product(**fields) for _ in range(count)]


def make_user(email: str = "ada@example.com", password: str = "correct horse battery staple",
              first_name: str = "Ada", last_name: str = "Lovelace"):  # noqa: ANN201
    """A registered account (user, profile, one session) made by the real service."""
    from storefront import accounts

    return accounts.register(email, password, first_name, last_name).user
