"""Helpers the staff-area tests share: a staff account and a client signed in as it, and
images made on the spot."""

from __future__ import annotations

import io

from PIL import Image

from storefront import staff
from tests.factories import make_user
from tests.support import ShopClient

STAFF_EMAIL = "staff@example.com"
SHOPPER_EMAIL = "shopper@example.com"


def staff_client(make_client, email: str = STAFF_EMAIL) -> ShopClient:  # noqa: ANN001
    """A browser signed in as a staff member (made staff through the service the CLI uses)."""
    make_user(email, first_name="Sam", last_name="Staff")
    staff.set_staff(email, True)
    client = make_client()
    assert client.login(email).status_code == 303
    return client


def shopper_client(make_client, email: str = SHOPPER_EMAIL) -> ShopClient:  # noqa: ANN001
    client = make_client()
    assert client.register(email, first_name="Shay", last_name="Shopper").status_code == 303
    return client


def image_bytes(format_: str = "PNG", size: tuple[int, int] = (800, 600), **save: object) -> bytes:
    image = Image.new("RGB", size, (200, 80, 40))
    out = io.BytesIO()
    image.save(out, format=format_, **save)
    return out.getvalue()
