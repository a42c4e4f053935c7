"""Helpers the staff-area tests share: a staff account and a client signed in as it, and
images made on the spot."""

from __future__ import annotations

import io
import struct
import zlib

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


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def png_bomb(side: int = 20_000) -> bytes:
    """A real 1-bit PNG of side x side white pixels: a few kB that decode to 400 megapixels."""
    compressor = zlib.compressobj(9)
    row = b"\0" + b"\xff" * (side // 8)
    body = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", body)
            + png_chunk(b"IEND", b""))
