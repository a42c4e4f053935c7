"""Pictures for the demo catalog, drawn at load time (nothing binary in the repository): a
flat illustration per kind of product, in colours derived from the sku, so the same product
always gets the same picture."""

from __future__ import annotations

import hashlib
import io

from PIL import Image, ImageDraw

SIZE_PIXELS = 640
PALETTES = (
    ("#f3e3cf", "#8a5a3b", "#3d2a1e"), ("#e2efe6", "#3f7d5c", "#1f3d2e"),
    ("#e6e9f4", "#4d5fa3", "#232b4d"), ("#f6e6e6", "#a5504f", "#4a2020"),
    ("#f4efdc", "#b08a2e", "#4a3a12"), ("#e9e4f2", "#6f559c", "#2f2445"),
)


def _bag(draw: ImageDraw.ImageDraw, ink: str, dark: str) -> None:
    draw.rounded_rectangle((200, 170, 440, 500), radius=28, fill=ink)
    draw.rectangle((200, 170, 440, 215), fill=dark)
    draw.ellipse((280, 290, 360, 370), fill="#ffffff")


def _cup(draw: ImageDraw.ImageDraw, ink: str, dark: str) -> None:
    draw.rounded_rectangle((190, 250, 410, 460), radius=36, fill=ink)
    draw.ellipse((380, 290, 470, 400), outline=ink, width=22)
    draw.ellipse((150, 450, 450, 500), fill=dark)


def _tool(draw: ImageDraw.ImageDraw, ink: str, dark: str) -> None:
    draw.polygon(((220, 200), (420, 200), (380, 420), (260, 420)), fill=ink)
    draw.rectangle((300, 420, 340, 480), fill=dark)
    draw.rectangle((240, 480, 400, 505), fill=dark)


def _box(draw: ImageDraw.ImageDraw, ink: str, dark: str) -> None:
    draw.rectangle((190, 240, 450, 470), fill=ink)
    draw.rectangle((305, 240, 335, 470), fill=dark)
    draw.rectangle((190, 330, 450, 360), fill=dark)
    draw.ellipse((270, 170, 320, 240), outline=dark, width=14)
    draw.ellipse((320, 170, 370, 240), outline=dark, width=14)


SHAPES = {"coffee": _bag, "tea": _bag, "cups": _cup, "mugs": _cup, "brewing": _tool,
          "grinders": _tool, "treats": _box, "gifts": _box}


def draw(sku: str, name: str, category: str) -> bytes:
    """A 640 px square PNG for the product: the same arguments give the same bytes."""
    digest = hashlib.sha256(sku.encode()).digest()
    wash, ink, dark = PALETTES[digest[0] % len(PALETTES)]
    image = Image.new("RGB", (SIZE_PIXELS, SIZE_PIXELS), wash)
    canvas = ImageDraw.Draw(image)
    offset = digest[1] % 120
    canvas.ellipse((40 + offset, 40, 280 + offset, 280), fill=_lighter(wash))
    shape = next((drawer for word, drawer in SHAPES.items() if word in category.lower()), None)
    (shape or SHAPES[tuple(SHAPES)[digest[2] % len(SHAPES)]])(canvas, ink, dark)
    initials = "".join(word[0] for word in name.split()[:3] if word[:1].isalnum()).upper()
    canvas.text((40, 570), initials, fill=dark, font_size=40)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _lighter(colour: str) -> str:
    red, green, blue = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return "#{:02x}{:02x}{:02x}".format(*(min(255, value + 18) for value in (red, green, blue)))
