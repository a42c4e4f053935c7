"""The catalog: listing, search, product look-up and the CSV import."""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from importlib import resources

import sqlalchemy as sa
from sqlalchemy import ColumnElement, Select, bindparam, func, select, union_all

from storefront.database import begin_write, db
from storefront.exceptions import CatalogImportError, NotFound
from storefront.models import (
    DESCRIPTION_MAX_CHARS,
    MAX_PAGE,
    PRICE_MAX,
    PRODUCT_NAME_MAX_CHARS,
    PRODUCTS_PER_PAGE,
    SEARCH_MAX_CHARS,
    SEARCH_MAX_WORDS,
    SKU_MAX_CHARS,
    SLUG_MAX_CHARS,
    STOCK_MAX,
    TOTAL_COUNT_CAP,
    Product,
    StockState,
)

REQUIRED_COLUMNS = ("sku", "name", "price", "stock")
OPTIONAL_COLUMNS = ("description",)
# A search word: letters and digits (`_` and punctuation separate words).
WORD = re.compile(r"[^\W_]+")
# The tsvector PostgreSQL keeps for each product (migration 0009), and SQLite's FTS5 table;
# neither is a mapped column: the ORM never reads or writes them.
SEARCH_VECTOR = sa.literal_column("products.search_vector")
FTS_TABLE = sa.table("products_search", sa.column("rowid"), sa.column("products_search"))
# ASCII digits only: `\d` would also take Arabic-Indic or full-width digits.
PRICE_PATTERN = re.compile(r"[0-9]+(\.[0-9]{1,2})?")
STOCK_PATTERN = re.compile(r"[0-9]+")
# A description may span lines (tab, CR, LF), but holds no other control character.
DESCRIPTION_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Control characters, and the bidirectional embeddings, overrides and isolates that make a
# name read differently from what it holds (Trojan Source).
HIDDEN_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


@dataclass(frozen=True, slots=True)
class ProductCard(StockState):
    """What a catalog card shows of a product: read as plain columns, not as an ORM object
    (a page of 24 ORM objects costs more than the query)."""

    id: int
    slug: str
    name: str
    price: Decimal
    stock: int
    image_key: str | None = None


CARD_COLUMNS = (Product.id, Product.slug, Product.name, Product.price, Product.stock,
                Product.image_key)


@dataclass(frozen=True)
class ProductPage:
    """One page of products. `total` is counted up to `TOTAL_COUNT_CAP` and no further
    (`total_capped` past it), so a page costs the same whatever the size of the catalog;
    `pages` is known only below the cap."""

    products: list[ProductCard]
    page: int
    total: int
    total_capped: bool
    has_next: bool
    query: str

    @property
    def has_previous(self) -> bool:
        return self.page > 1

    @property
    def pages(self) -> int | None:
        return None if self.total_capped else max(1, -(-self.total // PRODUCTS_PER_PAGE))


@dataclass(frozen=True)
class ImportResult:
    created: int
    updated: int


def search_words(query: str) -> list[str]:
    """The words a search looks for: runs of letters and digits, lower-cased, each a prefix
    of a word in a product's name or sku (`cof` finds `Coffee`, `00012` finds `SKU-00012`).
    Punctuation, `%` and `_` included, separates words and is never a wildcard; at most
    `SEARCH_MAX_WORDS` distinct words count."""
    words = WORD.findall(unicodedata.normalize("NFC", query).lower())
    return list(dict.fromkeys(words))[:SEARCH_MAX_WORDS]


def _search_terms(words: list[str], dialect: str) -> str:
    """The words as the full-text index's query language spells a match of every prefix.
    Words are letters and digits only, so nothing in them is syntax."""
    if dialect == "postgresql":
        return " & ".join(f"{word}:*" for word in words)
    return " AND ".join(f'"{word}"*' for word in words)


def _matching(dialect: str) -> ColumnElement[bool]:
    """Products matching the `search` parameter through the full-text index (migration 0009):
    PostgreSQL's GIN index on a tsvector the database keeps, SQLite's FTS5 table."""
    search = bindparam("search")
    if dialect == "postgresql":
        return SEARCH_VECTOR.bool_op("@@")(func.to_tsquery("simple", search))
    found = select(FTS_TABLE.c.rowid).where(FTS_TABLE.c.products_search.op("MATCH")(search))
    return Product.id.in_(found)


@cache
def _page_statement(dialect: str, searching: bool) -> Select:
    """One page of active products (searched or not), newest first, one row more than shown,
    each row with the total counted up to the `cap` parameter (`total`). Built once for each
    kind; `offset`, `cap`, `cap_and_one` and `search` are parameters.

    Its cost must not grow with the catalog, whatever a search matches, and a planner cannot
    know beforehand how many rows that is. So the statement first takes up to `cap` + 1
    matching ids through the conditions' own index (a search: the full-text index), which
    is also the count, and then goes one of two ways, decided by that count when the
    statement runs: few matches are sorted as they are; many are found by walking the
    newest-first index, where they lie thick enough to fill a page at once.
    """
    conditions = [Product.active, *([_matching(dialect)] if searching else [])]
    hits = (select(Product.id).where(*conditions).limit(bindparam("cap_and_one"))
            .cte("hits").prefix_with("MATERIALIZED"))
    total = select(func.count()).select_from(hits).scalar_subquery()

    def branch(*where: ColumnElement[bool]):  # noqa: ANN202
        return (
            select(*CARD_COLUMNS, Product.created_at, total.label("total")).where(*where)
            .order_by(Product.created_at.desc(), Product.id.desc())
            .limit(PRODUCTS_PER_PAGE + 1).offset(bindparam("offset"))
        )

    few = branch(total <= bindparam("cap"), Product.id.in_(select(hits.c.id)))
    many = branch(total > bindparam("cap"), *conditions)
    both = union_all(few.subquery().select(), many.subquery().select()).subquery()
    return (select(*(both.c[column.key] for column in CARD_COLUMNS), both.c.total)
            .order_by(both.c.created_at.desc(), both.c.id.desc()))


def list_products(page: int = 1, query: str = "") -> ProductPage:
    """Active products, newest first, `PRODUCTS_PER_PAGE` a page, optionally searched.

    The search (`search_words`) goes through the full-text index, so it costs the same
    whatever the catalog's size and whatever the query holds; queries longer than
    `SEARCH_MAX_CHARS` are cut. One SQL statement (`_page_statement`), whose cost does not
    grow with the catalog. Raises `NotFound` for a page past the last (page 1 always exists).
    """
    if not 1 <= page <= MAX_PAGE:
        raise NotFound(f"page {page}")
    query = query.strip()[:SEARCH_MAX_CHARS]
    dialect = db.session.get_bind().dialect.name
    parameters = {"offset": (page - 1) * PRODUCTS_PER_PAGE, "cap": TOTAL_COUNT_CAP,
                  "cap_and_one": TOTAL_COUNT_CAP + 1}
    if query:
        words = search_words(query)
        if not words:  # nothing but punctuation: no product can match, no query is needed
            if page > 1:
                raise NotFound(f"page {page}")
            return ProductPage([], page, 0, False, False, query)
        parameters["search"] = _search_terms(words, dialect)
    rows = db.session.execute(_page_statement(dialect, bool(query)), parameters).all()
    if not rows and page > 1:
        raise NotFound(f"page {page}")
    counted_total = rows[0].total if rows else 0
    return ProductPage(
        products=[ProductCard(*row[:-1]) for row in rows[:PRODUCTS_PER_PAGE]],
        page=page,
        total=min(counted_total, TOTAL_COUNT_CAP),
        total_capped=counted_total > TOTAL_COUNT_CAP,
        has_next=len(rows) > PRODUCTS_PER_PAGE,
        query=query,
    )


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


def _parse_bounded(field: str, raw: str, pattern: re.Pattern[str], shape: str,
                   convert: Callable[[str], Decimal | int], maximum: Decimal | int,
                   ) -> Decimal | int | str:
    """The number `raw` spells, or the reason it is refused (the line's error)."""
    if not pattern.fullmatch(raw):
        return f"{field} {raw!r} is not {shape}"
    value = convert(raw)
    if value > maximum:
        return f"{field} {raw} is above {maximum}"
    return value


def _parse_price(raw: str) -> Decimal | str:
    return _parse_bounded("price", raw, PRICE_PATTERN, "a decimal >= 0 with at most 2 places",
                          Decimal, PRICE_MAX)


def _parse_stock(raw: str) -> int | str:
    return _parse_bounded("stock", raw, STOCK_PATTERN, "a whole number >= 0", int, STOCK_MAX)


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


def import_products(data: bytes,
                    before_commit: Callable[[ImportResult], None] | None = None,
                    ) -> ImportResult:
    """Upsert products by sku from CSV bytes (columns sku,name,price,stock[,description]).

    All-or-nothing: every row is validated first and any problem raises `CatalogImportError`
    listing each bad line, with nothing written. New products get a unique ASCII slug from
    their name; existing ones keep theirs, so links stay stable across re-imports. A product
    named in the file is made active again. `before_commit` (the staff area's audit row)
    runs in the import's transaction, with its counts.
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
    result = ImportResult(created=created, updated=updated)
    if before_commit is not None:
        db.session.flush()
        before_commit(result)
    db.session.commit()
    return result


def load_demo_catalog() -> ImportResult:
    """Load the shipped demo catalog (about 30 products); running it again changes nothing."""
    data = resources.files("storefront").joinpath("demo_catalog.csv").read_bytes()
    return import_products(data)
