"""The image service: what it takes, what it refuses, what it keeps of an upload."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from storefront import media
from storefront.exceptions import ImageRefused
from tests.staff_support import image_bytes, png_bomb


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@pytest.mark.parametrize("format_", ["JPEG", "PNG", "WEBP"])
def test_each_allowed_format_becomes_webp_at_three_widths(format_):
    copies = media.render_webp(image_bytes(format_, (1600, 900)))
    assert sorted(copies) == [320, 640, 1280]
    for width, data in copies.items():
        image = decoded(data)
        assert image.format == "WEBP"
        assert image.size == (width, round(900 * width / 1600))


def test_a_small_image_is_never_enlarged():
    copies = media.render_webp(image_bytes("PNG", (500, 100)))
    assert [decoded(copies[width]).size for width in (320, 640, 1280)] == [
        (320, 64), (500, 100), (500, 100)]


def test_metadata_is_dropped():
    exif = Image.Exif()
    exif[0x010E] = "secret-description"  # ImageDescription
    exif[0x8298] = "secret-copyright"
    data = image_bytes("JPEG", (400, 300), exif=exif.tobytes(), comment=b"secret-comment")
    assert b"secret-description" in data
    for webp in media.render_webp(data).values():
        assert b"secret" not in webp
        assert b"EXIF" not in webp and b"ICCP" not in webp and b"XMP " not in webp
        assert not decoded(webp).info.get("exif")


def test_a_png_with_a_script_appended_keeps_only_its_pixels():
    data = image_bytes("PNG", (64, 64)) + b"<script>alert(document.cookie)</script>"
    for webp in media.render_webp(data).values():
        assert b"<script" not in webp and b"alert" not in webp


def test_a_decompression_bomb_is_refused():
    bomb = png_bomb()
    assert len(bomb) < 100_000
    with pytest.raises(ImageRefused, match="too many pixels"):
        media.render_webp(bomb)


@pytest.mark.parametrize("data, message", [
    (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "SVG"),
    (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>', "SVG"),
    (b"  \n<!DOCTYPE html><html><script>alert(1)</script></html>", "SVG"),
    (b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "JPEG, PNG or WebP"),
    (b"%PDF-1.7 not an image", "JPEG, PNG or WebP"),
    (b"", "empty"),
])
def test_what_is_not_a_jpeg_png_or_webp_is_refused(data, message):
    with pytest.raises(ImageRefused, match=message):
        media.render_webp(data)


def test_a_gif_is_refused_even_when_pillow_could_read_it():
    with pytest.raises(ImageRefused, match="JPEG, PNG or WebP"):
        media.render_webp(image_bytes("GIF", (10, 10)))


def test_a_truncated_jpeg_is_refused():
    data = image_bytes("JPEG", (800, 600), quality=95)
    with pytest.raises(ImageRefused, match="damaged or incomplete"):
        media.render_webp(data[: len(data) // 2])


def test_more_than_5_mb_is_refused():
    with pytest.raises(ImageRefused, match="larger than 5 MB"):
        media.render_webp(image_bytes("PNG", (8, 8)) + b"\0" * media.IMAGE_MAX_BYTES)


def test_disk_storage_keeps_only_media_names(tmp_path):
    storage = media.DiskStorage(str(tmp_path))
    name = media.file_name("a" * 32, 320)
    storage.save(name, b"data")
    assert storage.read(name) == b"data"
    assert storage.read("../" + name) is None
    with pytest.raises(ValueError):
        storage.save("../evil.webp", b"x")
    storage.delete(name)
    storage.delete(name)  # already gone: no error
    assert storage.read(name) is None


def test_media_route_serves_only_stored_names(client, app, tmp_path):
    app.config["MEDIA_ROOT"] = str(tmp_path)
    with app.test_request_context():
        key = media.store_image(image_bytes("PNG", (100, 50)))
    response = client.get(f"/media/{key}-320.webp")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/webp"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    for name in (f"{key}-321.webp", f"{key}.png", "..%2Fstorefront.db", f"{key}-320.webp.part"):
        assert client.get(f"/media/{name}").status_code == 404, name
