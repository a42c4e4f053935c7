"""The catalog: listing, search, product look-up and the CSV import."""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources

from sqlalchemy import func, or_, select

from storefront.database import begin_write, db
from storefront.exceptions import CatalogImportError, NotFound
from storefront.models import (
    DESCRIPTION_MAX_CHARS,
    MAX_PAGE,
    PRICE_MAX,
    PRODUCT_NAME_MAX_CHARS,
    PRODUCTS_PER_PAGE,
    SEARCH_MAX_CHARS,
    SKU_MAX_CHARS,
    SLUG_MAX_CHARS,
    STOCK_MAX,
    Product,
)

REQUIRED_COLUMNS = ("sku", "name", "price", "stock")
OPTIONAL_COLUMNS = ("description",)
# ASCII digits only: `\d` would also take Arabic-Indic or full-width digits.
PRICE_PATTERN = re.compile(r"[0-9]+(\.[0-9]{1,2})?")
STOCK_PATTERN = re.compile(r"[0-9]+")
# A description may span lines (tab, CR, LF), but holds no other control character.
DESCRIPTION_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Control characters, and the bidirectional embeddings, overrides and isolates that make a
# name read differently from what it holds (Trojan Source).
HIDDEN_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


@dataclass(frozen=True)
class ProductPage:
    products: list[Product]
    page: int
    pages: int
    total: int
    query: str

    @property
    def has_previous(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


@dataclass(frozen=True)
class ImportResult:
    created: int
    updated: int


def _like_pattern(text: str) -> str:
    """A LIKE pattern matching `text` anywhere, with `%`, `_` and `\\` taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def list_products(page: int = 1, query: str = "") -> ProductPage:
    """Active products, newest first, `PRODUCTS_PER_PAGE` a page, optionally searched.

    The search matches name or sku case-insensitively, `%` and `_` literally; queries longer
    than `SEARCH_MAX_CHARS` are cut. One SQL statement: the total rides on each row as a
    window count. Raises `NotFound` for a page outside 1..pages (page 1 always exists).
    """
    if not 1 <= page <= MAX_PAGE:
        raise NotFound(f"page {page}")
    query = query.strip()[:SEARCH_MAX_CHARS]
    statement = select(Product, func.count().over().label("total")).where(Product.active)
    if query:
        pattern = _like_pattern(query)
        statement = statement.where(
            or_(Product.name.ilike(pattern, escape="\\"), Product.sku.ilike(pattern, escape="\\"))
        )
    statement = (
        statement.order_by(Product.created_at.desc(), Product.id.desc())
        .limit(PRODUCTS_PER_PAGE)
        .offset((page - 1) * PRODUCTS_PER_PAGE)
    )
    rows = db.session.execute(statement).all()
    if not rows and page > 1:
        raise NotFound(f"page {page}")
    total = rows[0].total if rows else 0
    pages = max(1, -(-total // PRODUCTS_PER_PAGE))
    return ProductPage([row.Product for row in rows], page, pages, total, query)


def get_product_by_slug(slug: str) -> Product:
    """The active product with this slug; raises `NotFound` otherwise."""
    product = db.session.scalar(select(Product).where(Product.slug == slug, Product.active))
    if product is None:
        raise NotFound(slug)
    return product


def slugify(text: str) -> str:
    """ASCII, lower-case, hyphenated: `Café Crème Blend` → `cafe-creme-blend`."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[: SLUG_MAX_CHARS - 8].strip("-") or "product"


@dataclass(frozen=True)
class _Row:
    line: int
    sku: str
    name: str
    price: Decimal
    stock: int
    description: str


def _parse_price(raw: str) -> Decimal | str:
    """The price as a Decimal, or the reason it is refused."""
    if not PRICE_PATTERN.fullmatch(raw):
        return f"price {raw!r} is not a decimal >= 0 with at most 2 places"
    price = Decimal(raw)
    if price > PRICE_MAX:
        return f"price {raw} is above {PRICE_MAX}"
    return price


def _parse_stock(raw: str) -> int | str:
    if not STOCK_PATTERN.fullmatch(raw):
        return f"stock {raw!r} is not a whole number >= 0"
    stock = int(raw)
    if stock > STOCK_MAX:
        return f"stock {raw} is above {STOCK_MAX}"
    return stock


def _validate_rows(text: str) -> list[_Row]:
    """Every row checked; raises `CatalogImportError` listing all the problems."""
    if not text.strip():
        raise CatalogImportError([(1, "the file is empty (expected a header row)")])
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [name.strip().lower() for name in (reader.fieldnames or [])]
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise CatalogImportError([(1, f"repeated column(s): {', '.join(repeated)}")])
    missing = [column for column in REQUIRED_COLUMNS if column not in header]
    if missing:
        raise CatalogImportError([(1, f"missing column(s): {', '.join(missing)}")])
    reader.fieldnames = header

    rows: list[_Row] = []
    problems: list[tuple[int, str]] = []
    first_line_of_sku: dict[str, int] = {}
    try:
        for record in reader:
            line = reader.line_num
            if None in record:
                problems.append((line, "more fields than the header has columns"))
                continue
            values = {key: (value or "").strip() for key, value in record.items()}
            reasons = []
            sku, name = values["sku"], values["name"]
            description = values.get("description", "")
            if not sku:
                reasons.append("sku is empty")
            elif len(sku) > SKU_MAX_CHARS:
                reasons.append(f"sku is longer than {SKU_MAX_CHARS} characters")
            elif sku.lower() in first_line_of_sku:
                first = first_line_of_sku[sku.lower()]
                reasons.append(f"duplicate sku {sku!r} (first on line {first})")
            if not 1 <= len(name) <= PRODUCT_NAME_MAX_CHARS:
                reasons.append(f"name must be 1..{PRODUCT_NAME_MAX_CHARS} characters")
            if len(description) > DESCRIPTION_MAX_CHARS:
                reasons.append(f"description is longer than {DESCRIPTION_MAX_CHARS} characters")
            if HIDDEN_CHARACTERS.search(sku) or HIDDEN_CHARACTERS.search(name):
                reasons.append("sku or name holds a control or bidirectional-override character")
            if DESCRIPTION_CONTROL_CHARACTERS.search(description):
                reasons.append("description holds a control character")
            price = _parse_price(values["price"])
            if isinstance(price, str):
                reasons.append(price)
            stock = _parse_stock(values["stock"])
            if isinstance(stock, str):
                reasons.append(stock)
            if sku and sku.lower() not in first_line_of_sku:
                first_line_of_sku[sku.lower()] = line
            if reasons:
                problems.append((line, "; ".join(reasons)))
            else:
                rows.append(_Row(line, sku, name, price, stock, description))
    except csv.Error as error:
        problems.append((reader.line_num, f"not valid CSV: {error}"))
    if problems:
        raise CatalogImportError(problems)
    if not rows:
        raise CatalogImportError([(1, "the file has a header but no products")])
    return rows


def _unique_slug(name: str, taken: set[str]) -> str:
    base = slugify(name)
    slug, suffix = base, 2
    while slug in taken:
        slug, suffix = f"{base}-{suffix}", suffix + 1
    taken.add(slug)
    return slug


def decode_csv(data: bytes) -> str:
    """The file's text: UTF-8 with or without a byte-order mark; raises on anything else."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise CatalogImportError(
            [(data.count(b"\n", 0, error.start) + 1, "the file is not UTF-8 text")]
        ) from None


def import_products(data: bytes) -> ImportResult:
    """Upsert products by sku from CSV bytes (columns sku,name,price,stock[,description]).

    All-or-nothing: every row is validated first and any problem raises `CatalogImportError`
    listing each bad line, with nothing written. New products get a unique ASCII slug from
    their name; existing ones keep theirs, so links stay stable across re-imports. A product
    named in the file is made active again.
    """
    rows = _validate_rows(decode_csv(data))
    begin_write()
    existing = {
        product.sku.lower(): product
        for product in db.session.scalars(
            select(Product).where(func.lower(Product.sku).in_([row.sku.lower() for row in rows]))
        )
    }
    taken = set(db.session.scalars(select(Product.slug)))
    created = updated = 0
    for row in rows:
        product = existing.get(row.sku.lower())
        if product is None:
            product = Product(sku=row.sku, slug=_unique_slug(row.name, taken))
            db.session.add(product)
            created += 1
        else:
            updated += 1
        product.name = row.name
        product.price = row.price
        product.stock = row.stock
        product.description = row.description
        product.active = True
    db.session.commit()
    return ImportResult(created=created, updated=updated)


def load_demo_catalog() -> ImportResult:
    """Load the shipped demo catalog (about 30 products); running it again changes nothing."""
    data = resources.files("storefront").joinpath("demo_catalog.csv").read_bytes()
    return import_products(data)
