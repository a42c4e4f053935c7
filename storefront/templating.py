"""Template filters and globals shared by every page."""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal
from urllib.parse import quote

from flask import Flask, current_app, g, has_request_context, render_template, request, url_for
from markupsafe import Markup, escape

from storefront import categories
from storefront.blueprints.redirects import return_path
from storefront.catalog import SORT_LABELS
from storefront.media import IMAGE_WIDTHS
from storefront.models import (
    LINE_MAX_QUANTITY,
    LOW_STOCK_THRESHOLD,
    PASSWORD_MAX_CHARS,
    PASSWORD_MIN_CHARS,
    SEARCH_MAX_CHARS,
    Product,
)
from storefront.money import format_money, plain_money

# The limits pages show or put in `max`/`maxlength`, from their one home.
TEMPLATE_CONSTANTS = {
    "LINE_MAX_QUANTITY": LINE_MAX_QUANTITY,
    "LOW_STOCK_THRESHOLD": LOW_STOCK_THRESHOLD,
    "PASSWORD_MAX_CHARS": PASSWORD_MAX_CHARS,
    "PASSWORD_MIN_CHARS": PASSWORD_MIN_CHARS,
    "SEARCH_MAX_CHARS": SEARCH_MAX_CHARS,
    "IMAGE_WIDTHS": IMAGE_WIDTHS,
}


def money(value: Decimal | int | float | None, currency: str | None = None) -> str:
    """`Decimal("14.5")` → `€14.50`: two decimals, always, in the `CURRENCY` setting's
    currency (or the one an order was placed in), by Babel."""
    return format_money(value, currency)


# A catalog card is the same for every visitor but for the form's CSRF token: rendered once
# per product state, kept in this worker (bounded; losing it costs only a re-render), and
# keyed by everything it shows, so a product changed in any way is seen on the next request.
CARD_CACHE_MAX = 4096
TOKEN_SLOT = "\x00token\x00"  # noqa: S105 - a placeholder, not a secret
NEXT_SLOT = "\x00next\x00"
_cards: dict[tuple, str] = {}


def catalog_card(product: Product, token: str, next_path: str = "",
                 words: tuple[str, ...] = ()) -> Markup:
    """The product's catalog card with this page's CSRF token and address (where its add
    form comes back to) in its add form; `words` (a search's) are highlighted in the name."""
    key = (request.script_root, product.id, product.slug, product.name, product.price,
           product.stock, product.image_key, words)
    html = _cards.get(key)
    if html is None:
        if len(_cards) >= CARD_CACHE_MAX:
            _cards.clear()
        html = _cards[key] = render_template("catalog/_card.html", product=product,
                                             token=TOKEN_SLOT, next_path=NEXT_SLOT, words=words)
    # The card was rendered by autoescaping Jinja; the token and the path are escaped here.
    return Markup(html.replace(TOKEN_SLOT, str(escape(token)))  # noqa: S704  # nosec B704
                  .replace(NEXT_SLOT, str(escape(next_path))))


def highlight(text: str, words: tuple[str, ...] | list[str]) -> Markup:
    """`text` escaped, with each word that starts with one of the search's `words` in
    `<mark>` (the search matches word prefixes, case-insensitively)."""
    if not words:
        return Markup(escape(text))  # noqa: S704  # nosec B704
    pieces = []
    for piece in _WORD_OR_NOT.findall(text):
        lowered = unicodedata.normalize("NFC", piece).lower()
        if any(lowered.startswith(word) for word in words):
            pieces.append(f"<mark>{escape(piece)}</mark>")
        else:
            pieces.append(str(escape(piece)))
    return Markup("".join(pieces))  # noqa: S704  # nosec B704


_WORD_OR_NOT = re.compile(r"[^\W_]+|[\W_]+")

# The addresses templates build, per app and script root: every page builds the same dozen
# header and footer links, and the router's answer never changes for the same arguments.
URL_CACHE_KEY = "storefront.urls"
URL_CACHE_MAX = 4096


def remembered_url_for(endpoint: str, **values: object) -> str:
    """Templates' `url_for`, kept once built. The `_external`, `_scheme`, `_anchor` and
    `_method` options (they depend on more than the arguments) are always built afresh."""
    if not has_request_context() or any(name[0] == "_" for name in values):
        return url_for(endpoint, **values)
    try:
        # The type too: 1, 1.0, True and Decimal("1.0") are equal keys but spell differently.
        key = (request.script_root, endpoint,
               *((name, type(value), value) for name, value in values.items()))
        hash(key)
    except TypeError:  # a list or a dict among the arguments
        return url_for(endpoint, **values)
    cache = current_app.extensions.setdefault(URL_CACHE_KEY, {})
    url = cache.get(key)
    if url is None:
        if len(cache) >= URL_CACHE_MAX:
            cache.clear()
        url = cache[key] = url_for(endpoint, **values)
    return url


def media_url(filename: str) -> str:
    """The address of a stored picture file, `url_for("media.image", filename=...)`: the
    media folder's address is built once, not once per picture."""
    return remembered_url_for("media.image", filename="_")[:-1] + quote(filename)


def product_image(product: object, sizes: str, width: int = 320, lazy: bool = True,
                  alt: str = "") -> Markup:
    """A product's picture: the stored WebP widths as `srcset`, an explicit size (no layout
    shift), or the placeholder when it has none."""
    key = getattr(product, "image_key", None)
    if key:
        stem = media_url(key)
        src = f"{stem}-640.webp"
        srcset = ", ".join(f"{stem}-{w}.webp {w}w" for w in IMAGE_WIDTHS)
        kind = "product-image"
    else:
        src = remembered_url_for("static", filename="placeholder.svg")
        srcset = f"{src} 640w"
        kind = "product-image placeholder"
    loading = ' loading="lazy"' if lazy else ""
    return Markup(  # noqa: S704  # nosec B704 - every value is escaped here
        f'<img class="{kind}" src="{escape(src)}" srcset="{escape(srcset)}" '
        f'sizes="{escape(sizes)}" width="{int(width)}" height="{int(width)}" '
        f'alt="{escape(alt)}"{loading} decoding="async">')


def header_categories() -> tuple:
    """The top-level categories (with their children) for the header's menu, on the
    browsing pages (catalog, category, search, product); none elsewhere (the cart, account
    and checkout pages keep their statement budgets even on a worker's first request) nor on
    the plain error pages, which must not touch the database."""
    if g.get("plain_page") or request.blueprint != "catalog":
        return ()
    return categories.get_tree().roots


# The header's category navs, the same on every browsing page: rendered once per category
# tree (a new tree, read after a change, renders them again) and per script root.
NAVS_CACHE_KEY = "storefront.category_navs"


def category_navs() -> Markup:
    """The header's category bar and menu for this page (empty where `header_categories`
    gives none)."""
    roots = header_categories()
    if not roots:
        return Markup("")
    kept = current_app.extensions.get(NAVS_CACHE_KEY)
    if kept is None or kept[0] is not roots or kept[1] != request.script_root:
        html = Markup(render_template("catalog/_category_navs.html", menu=roots))  # noqa: S704  # nosec B704
        kept = current_app.extensions[NAVS_CACHE_KEY] = (roots, request.script_root, html)
    return kept[2]


def register(app: Flask) -> None:
    app.add_template_filter(money, "money")
    app.add_template_filter(plain_money, "plain_money")
    app.add_template_filter(device, "device")
    app.add_template_filter(highlight, "highlight")
    app.jinja_env.globals.update(TEMPLATE_CONSTANTS, url_for=remembered_url_for,
                                 return_path=return_path,
                                 catalog_card=catalog_card, header_categories=header_categories,
                                 category_navs=category_navs,
                                 product_image=product_image, media_url=media_url,
                                 SORT_LABELS=SORT_LABELS, oidc_providers=_oidc_providers)


def _oidc_providers() -> list:
    """The configured OpenID Connect providers, for the sign-in buttons (none: no buttons)."""
    from storefront import oidc  # imported late: it brings in the accounts service

    return list(oidc.providers().values())


BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"),
            ("Chrome/", "Chrome"), ("Chromium/", "Chromium"), ("Safari/", "Safari"))
SYSTEMS = (("Android", "Android"), ("iPhone", "iPhone"), ("iPad", "iPad"),
           ("Windows", "Windows"), ("Mac OS X", "macOS"), ("CrOS", "ChromeOS"),
           ("Linux", "Linux"))


def device(user_agent: str) -> str:
    """`Mozilla/5.0 (Windows NT 10.0…) … Firefox/128.0` → `Firefox on Windows`."""
    browser = next((name for marker, name in BROWSERS if marker in user_agent), None)
    system = next((name for marker, name in SYSTEMS if marker in user_agent), None)
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or "Unknown device"
