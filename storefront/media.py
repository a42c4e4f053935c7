"""Images: one service that takes an upload, or refuses it, and keeps WebP copies behind a
small storage interface.

An upload is at most `IMAGE_MAX_BYTES`; it is opened by Pillow with only JPEG, PNG and WebP
allowed, refused when it would decode to more than `IMAGE_MAX_PIXELS` (a decompression bomb:
a few kB of PNG can claim 20,000 x 20,000 pixels), decoded in full (a truncated file is
refused), and its pixels alone are re-encoded as WebP at each of `IMAGE_WIDTHS` under a new
random name: EXIF, comments, colour profiles and anything appended to the file (a script
after a PNG's end) are gone. Nothing of the uploaded bytes is ever served.

Storage: `Storage` is the interface (save, read, delete by name); `DiskStorage` keeps files
under `MEDIA_ROOT` (the instance folder's `media/` by default). Several hosts share it by
pointing `MEDIA_ROOT` at one shared mount, or by an object-store class with the same three
methods (README, "Product images").
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import secrets
import warnings
from typing import Protocol

from flask import current_app
from PIL import Image, ImageOps, UnidentifiedImageError

from storefront.exceptions import ImageRefused

IMAGE_MAX_BYTES = 5 * 1024 * 1024
IMAGE_MAX_PIXELS = 40_000_000  # 40 megapixels: any camera's photo, no bomb
IMAGE_WIDTHS = (320, 640, 1280)
ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP")
WEBP_QUALITY = 82
KEY_BYTES = 16
# A stored file's name: the random key and a width. Anything else names no file.
FILE_NAME = re.compile(r"([0-9a-f]{32})-(320|640|1280|256|64)\.webp")
# Profile pictures: square, cropped to the centre, at these sizes; a smaller upload limit.
AVATAR_SIZES = (256, 64)
AVATAR_MAX_BYTES = 2 * 1024 * 1024
REFUSED_FORMAT = "Upload a JPEG, PNG or WebP image; this file is not one."
REFUSED_PIXELS = "The image has too many pixels (at most 40 megapixels)."
REFUSED_SVG = "SVG images are not accepted: upload a JPEG, PNG or WebP image."


class Storage(Protocol):
    """Where image files live; names are `FILE_NAME`s."""

    def save(self, name: str, data: bytes) -> None: ...
    def read(self, name: str) -> bytes | None: ...
    def delete(self, name: str) -> None: ...


class DiskStorage:
    """Files in one folder; a new file appears whole (written aside, then renamed)."""

    def __init__(self, root: str) -> None:
        self.root = root

    def _path(self, name: str) -> str:
        if not FILE_NAME.fullmatch(name):
            raise ValueError("not a media file name")
        return os.path.join(self.root, name)

    def save(self, name: str, data: bytes) -> None:
        path = self._path(name)
        os.makedirs(self.root, exist_ok=True)
        partial = f"{path}.{secrets.token_hex(4)}.part"
        with open(partial, "wb") as file:
            file.write(data)
        os.replace(partial, path)

    def read(self, name: str) -> bytes | None:
        try:
            with open(self._path(name), "rb") as file:
                return file.read()
        except (FileNotFoundError, ValueError):
            return None

    def delete(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.remove(self._path(name))


def storage() -> Storage:
    """The app's storage (disk under MEDIA_ROOT)."""
    return DiskStorage(current_app.config["MEDIA_ROOT"])


def file_name(key: str, width: int) -> str:
    return f"{key}-{width}.webp"


def _looks_like_svg(data: bytes) -> bool:
    head = data[:1024].lstrip().lower()
    return head.startswith(b"<") or b"<svg" in head


def _open(data: bytes, max_bytes: int = IMAGE_MAX_BYTES) -> Image.Image:
    """The decoded image, or `ImageRefused` saying why not."""
    if not data:
        raise ImageRefused("The file is empty.")
    if len(data) > max_bytes:
        raise ImageRefused(f"The image is larger than {max_bytes // (1024 * 1024)} MB.")
    if _looks_like_svg(data):
        raise ImageRefused(REFUSED_SVG)
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
            if image.width * image.height > IMAGE_MAX_PIXELS:
                raise ImageRefused(REFUSED_PIXELS)
            if getattr(image, "n_frames", 1) > 1:
                raise ImageRefused("Animated images are not accepted.")
            image.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageRefused(REFUSED_PIXELS) from None
        except UnidentifiedImageError:
            raise ImageRefused(REFUSED_FORMAT) from None
        except (OSError, SyntaxError, ValueError):  # truncated or corrupt data
            raise ImageRefused("The image file is damaged or incomplete.") from None
    return image


def _pixels_only(image: Image.Image) -> Image.Image:
    """A new image holding only the pixels, turned upright: no EXIF, profile or comment."""
    upright = ImageOps.exif_transpose(image) or image
    mode = "RGBA" if upright.mode in ("RGBA", "LA", "P", "PA") else "RGB"
    converted = upright.convert(mode)
    return Image.frombytes(mode, converted.size, converted.tobytes())


def render_webp(data: bytes) -> dict[int, bytes]:
    """The upload as WebP at each width of `IMAGE_WIDTHS` (never wider than the original);
    raises `ImageRefused` with a reason for the uploader."""
    clean = _pixels_only(_open(data))
    copies = {}
    for width in IMAGE_WIDTHS:
        copy = clean
        if clean.width > width:
            height = max(1, round(clean.height * width / clean.width))
            copy = clean.resize((width, height), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        copy.save(out, format="WEBP", quality=WEBP_QUALITY)
        copies[width] = out.getvalue()
    return copies


def store_image(data: bytes, key: str | None = None) -> str:
    """Check, re-encode and store an upload; its new random key (`file_name(key, width)`).
    A given `key` (32 hex digits: the demo catalog's, derived from a sku) is used instead,
    so storing the same picture again writes the same files."""
    copies = render_webp(data)
    if key is None or not re.fullmatch(r"[0-9a-f]{32}", key):
        key = secrets.token_hex(KEY_BYTES)
    target = storage()
    for width, webp in copies.items():
        target.save(file_name(key, width), webp)
    return key


def delete_image(key: str) -> None:
    target = storage()
    for width in IMAGE_WIDTHS:
        target.delete(file_name(key, width))


def read_file(name: str) -> bytes | None:
    """A stored file's bytes, or None for a name that names no stored file."""
    if not FILE_NAME.fullmatch(name):
        return None
    return storage().read(name)


def render_avatar(data: bytes) -> dict[int, bytes]:
    """A profile picture as square WebP copies at each of `AVATAR_SIZES` (the centre of the
    upload, cropped and scaled; at most `AVATAR_MAX_BYTES` uploaded); `ImageRefused` with a
    reason otherwise. The same checks as product images: allow-list, bomb, full decode,
    pixels only."""
    clean = _pixels_only(_open(data, AVATAR_MAX_BYTES))
    copies = {}
    for size in AVATAR_SIZES:
        square = ImageOps.fit(clean, (size, size), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        square.save(out, format="WEBP", quality=WEBP_QUALITY)
        copies[size] = out.getvalue()
    return copies


def store_avatar(data: bytes) -> str:
    """Check, crop, re-encode and store a profile picture; its new random key."""
    copies = render_avatar(data)
    key = secrets.token_hex(KEY_BYTES)
    target = storage()
    for size, webp in copies.items():
        target.save(file_name(key, size), webp)
    return key


def delete_avatar(key: str) -> None:
    target = storage()
    for size in AVATAR_SIZES:
        target.delete(file_name(key, size))
