"""The catalog: listing, search, product look-up and the CSV import."""

from __future__ import annotations

import csv
import hashlib
import io
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from functools import cache
from importlib import resources
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import ColumnElement, Select, bindparam, func, select, union_all
from sqlalchemy.orm import aliased

from storefront import categories, demo_pictures, media
from storefront.database import begin_write, db
from storefront.exceptions import CatalogImportError, ImageRefused, NotFound
from storefront.models import (
    DESCRIPTION_MAX_CHARS,
    MAX_PAGE,
    PRICE_MAX,
    PRODUCT_NAME_MAX_CHARS,
    PRODUCTS_PER_PAGE,
    RELATED_PRODUCTS,
    SEARCH_MAX_CHARS,
    SEARCH_MAX_WORDS,
    SKU_MAX_CHARS,
    SLUG_MAX_CHARS,
    STOCK_MAX,
    TOTAL_COUNT_CAP,
    Product,
    ProductCategory,
    StockState,
)

REQUIRED_COLUMNS = ("sku", "name", "price", "stock")
OPTIONAL_COLUMNS = ("description", "image", "categories")
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


SORTS = ("newest", "price_asc", "price_desc", "name")
SORT_LABELS = {"relevance": "Best match", "newest": "Newest", "price_asc": "Price: low to high",
               "price_desc": "Price: high to low", "name": "Name"}


@dataclass(frozen=True)
class Filters:
    """A listing's sort and filters, as the address bar holds them (`?sort=price_asc&in_stock=1
    &min=5&max=50`). `sort` is `relevance` for a search unless another is chosen."""

    sort: str = "newest"
    in_stock: bool = False
    min_price: Decimal | None = None
    max_price: Decimal | None = None

    def as_args(self, searching: bool = False) -> dict[str, str]:
        """The query arguments that differ from the default, for links that keep them."""
        args = {}
        if self.sort != ("relevance" if searching else "newest"):
            args["sort"] = self.sort
        if self.in_stock:
            args["in_stock"] = "1"
        if self.min_price is not None:
            args["min"] = str(self.min_price)
        if self.max_price is not None:
            args["max"] = str(self.max_price)
        return args


def _lenient_price(raw: str | None) -> Decimal | None:
    raw = (raw or "").strip()
    if not PRICE_PATTERN.fullmatch(raw):
        return None
    value = Decimal(raw)
    return value if value <= PRICE_MAX else None


def parse_filters(sort: str | None, in_stock: str | None, min_price: str | None,
                  max_price: str | None, searching: bool = False) -> Filters:
    """The filters from raw query values; anything not understood is the default (a bad
    bookmark or a hand-edited address shows the listing, never an error). A `min` above
    `max` swaps them."""
    default = "relevance" if searching else "newest"
    allowed = (*SORTS, "relevance") if searching else SORTS
    low, high = _lenient_price(min_price), _lenient_price(max_price)
    if low is not None and high is not None and low > high:
        low, high = high, low
    return Filters(sort=sort if sort in allowed else default, in_stock=in_stock == "1",
                   min_price=low, max_price=high)


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
    filters: Filters = Filters()
    words: tuple[str, ...] = ()

    @property
    def has_previous(self) -> bool:
        return self.page > 1

    @property
    def pages(self) -> int | None:
        return None if self.total_capped else max(1, -(-self.total // PRODUCTS_PER_PAGE))

    @property
    def page_numbers(self) -> list[int | None]:
        """The page links to show: first, last (when known), the current page's neighbours;
        None marks a gap ("…")."""
        last = self.pages or self.page + (1 if self.has_next else 0)
        shown = sorted({1, last, *range(max(1, self.page - 2), min(last, self.page + 2) + 1)})
        numbers: list[int | None] = []
        for number in shown:
            if numbers and number - numbers[-1] > 1:  # type: ignore[operator]
                numbers.append(None)
            numbers.append(number)
        return numbers

    def args(self, **extra: object) -> dict[str, object]:
        """Query arguments for a link that keeps this listing's search and filters."""
        args: dict[str, object] = {"q": self.query} if self.query else {}
        return {**extra, **args, **self.filters.as_args(bool(self.query))}


@dataclass(frozen=True)
class ImportResult:
    created: int
    updated: int


@dataclass(frozen=True)
class Term:
    """One thing a search looks for: a word, or a quoted phrase's words in a row; `prefix`
    for the last word as it is being typed."""

    words: tuple[str, ...]
    prefix: bool = False


@dataclass(frozen=True)
class Search:
    """A search as web search engines read it (PostgreSQL's `websearch_to_tsquery` syntax):
    every clause must match, a clause is one term or several joined by `or`; a `-` before a
    word or a quoted phrase excludes it; the last word matches as a prefix (`cof` finds
    `Coffee`), every other word whole. Words are runs of letters and digits, lower-cased:
    punctuation, `%` and `_` included, separates words and is never syntax or a wildcard."""

    clauses: tuple[tuple[Term, ...], ...]
    excluded: tuple[Term, ...] = ()

    @property
    def words(self) -> tuple[str, ...]:
        """The words looked for (not the excluded ones), for highlighting."""
        return tuple(dict.fromkeys(word for clause in self.clauses for term in clause
                                   for word in term.words))


_TOKEN = re.compile(r'(-?)"([^"]*)"?|(\S+)')


def parse_search(query: str) -> Search:
    """The query as a `Search`; at most `SEARCH_MAX_WORDS` words count. A query of nothing
    but exclusions looks for nothing (an index cannot list what lacks a word)."""
    clauses: list[list[Term]] = []
    excluded: list[Term] = []
    joining = typing = False
    budget = SEARCH_MAX_WORDS
    tokens = _TOKEN.findall(unicodedata.normalize("NFC", query).lower())
    for index, (dash, phrase, bare) in enumerate(tokens):
        typing = False
        if bare == "or":
            joining = bool(clauses)
            continue
        negated = bool(dash) or bare.startswith("-")
        words = tuple(WORD.findall(phrase or bare))[:budget]
        if not words:
            continue
        budget -= len(words)
        # A quoted phrase, or an excluded word with punctuation in it, is one term; a bare
        # word with punctuation (`POT-7`) is each of its words.
        terms = [Term(words)] if phrase or negated else [Term((word,)) for word in words]
        if negated:
            excluded.extend(terms)
        else:
            if joining:
                clauses[-1].append(terms.pop(0))
            clauses.extend([term] for term in terms)
            typing = not phrase and index == len(tokens) - 1
        joining = False
        if budget == 0:
            break
    if not clauses:
        return Search(())
    if typing:  # the query ends with a word of its own: it is being typed
        clauses[-1][-1] = Term(clauses[-1][-1].words, prefix=True)
    return Search(tuple(tuple(clause) for clause in clauses), tuple(excluded))


def _search_terms(search: Search, dialect: str) -> str:
    """The search in the full-text index's query language: PostgreSQL's `to_tsquery`, SQLite
    FTS5's MATCH. Words are letters and digits only, so nothing in them is syntax."""
    if dialect == "postgresql":
        def spell(term: Term) -> str:
            return " <-> ".join(term.words) + (":*" if term.prefix else "")
        clauses = [" | ".join(f"({spell(term)})" for term in clause) for clause in search.clauses]
        return " & ".join([f"({clause})" for clause in clauses]
                          + [f"!({spell(term)})" for term in search.excluded])

    def quote(term: Term) -> str:
        return '"' + " ".join(term.words) + '"' + ("*" if term.prefix else "")
    found = " AND ".join("(" + " OR ".join(quote(term) for term in clause) + ")"
                         for clause in search.clauses)
    return "".join([f"({found})", *(f" NOT {quote(term)}" for term in search.excluded)])


def _matching(dialect: str) -> ColumnElement[bool]:
    """Products matching the `search` parameter through the full-text index (migrations 0009
    and 0015): PostgreSQL's GIN index on a tsvector the database keeps, SQLite's FTS5 table."""
    search = bindparam("search")
    if dialect == "postgresql":
        return SEARCH_VECTOR.bool_op("@@")(func.to_tsquery("simple", search))
    found = select(FTS_TABLE.c.rowid).where(FTS_TABLE.c.products_search.op("MATCH")(search))
    return Product.id.in_(found)


def _hits(dialect: str, searching: bool, conditions: list[ColumnElement[bool]]) -> Select:
    """Up to `cap` + 1 matching ids, each with its search rank (0 without a search)."""
    if not searching:
        return select(Product.id, sa.literal(0.0).label("rank")).where(*conditions)
    search = bindparam("search")
    if dialect == "postgresql":
        rank = func.ts_rank(SEARCH_VECTOR, func.to_tsquery("simple", search))
        return select(Product.id, rank.label("rank")).where(_matching(dialect), *conditions)
    # FTS5's bm25 is lower for a better match; it needs the MATCH in the same SELECT.
    rank = -func.bm25(sa.literal_column("products_search"), 10.0, 10.0, 1.0)
    return (select(Product.id, rank.label("rank"))
            .select_from(Product.__table__.join(FTS_TABLE, FTS_TABLE.c.rowid == Product.id))
            .where(FTS_TABLE.c.products_search.op("MATCH")(search), *conditions))


def _order(sort: str, columns) -> list:  # noqa: ANN001
    """The ORDER BY of a sort over `columns` (the table's or a subquery's); ties newest first."""
    newest = [columns.created_at.desc(), columns.id.desc()]
    if sort == "relevance":
        return [columns.rank.desc(), *newest]
    if sort == "price_asc":
        return [columns.price.asc(), columns.id.desc()]
    if sort == "price_desc":
        return [columns.price.desc(), columns.id.desc()]
    if sort == "name":
        return [columns.name.asc(), columns.id.asc()]
    return newest


@cache
def _page_statement(dialect: str, searching: bool, sort: str = "newest", in_stock: bool = False,
                    has_min: bool = False, has_max: bool = False,
                    in_categories: bool = False) -> Select:
    """One page of active products (searched, filtered, sorted), one row more than shown,
    each row with the total counted up to the `cap` parameter (`total`). Built once for each
    kind; `offset`, `cap`, `cap_and_one`, `search`, `min`, `max` and `categories` are
    parameters.

    Its cost must not grow with the catalog, whatever a search matches, and a planner cannot
    know beforehand how many rows that is. So the statement first takes up to `cap` + 1
    matching ids through the conditions' own index (a search: the full-text index), which
    is also the count, and then goes one of two ways, decided by that count when the
    statement runs: few matches are sorted as they are (by rank for a search); many are
    found by walking the sort's index (newest, price, name), where they lie thick enough to
    fill a page at once (a search's many are then shown newest first).
    """
    filters = [Product.active]
    if in_stock:
        filters.append(Product.stock > 0)
    if has_min:
        filters.append(Product.price >= bindparam("min", type_=Product.price.type))
    if has_max:
        filters.append(Product.price <= bindparam("max", type_=Product.price.type))
    if in_categories:
        filters.append(Product.id.in_(
            select(ProductCategory.product_id)
            .where(ProductCategory.category_id.in_(bindparam("categories", expanding=True)))))
    conditions = [*filters, *([_matching(dialect)] if searching else [])]
    hits = (_hits(dialect, searching, filters).limit(bindparam("cap_and_one"))
            .cte("hits").prefix_with("MATERIALIZED"))
    total = select(func.count()).select_from(hits).scalar_subquery()
    columns = (*CARD_COLUMNS, Product.created_at)
    few = (select(*columns, hits.c.rank, total.label("total"))
           .select_from(Product.__table__.join(hits, hits.c.id == Product.id))
           .where(total <= bindparam("cap")))
    few_columns = few.selected_columns
    few = few.order_by(*_order(sort, few_columns)).limit(PRODUCTS_PER_PAGE + 1).offset(
        bindparam("offset"))
    many_sort = "newest" if sort == "relevance" else sort
    many = (select(*columns, sa.literal(0.0).label("rank"), total.label("total"))
            .where(total > bindparam("cap"), *conditions)
            .order_by(*_order(many_sort, Product.__table__.c))
            .limit(PRODUCTS_PER_PAGE + 1).offset(bindparam("offset")))
    both = union_all(few.subquery().select(), many.subquery().select()).subquery()
    return (select(*(both.c[column.key] for column in CARD_COLUMNS), both.c.total)
            .order_by(*_order(sort, both.c)))


def list_products(page: int = 1, query: str = "", filters: Filters | None = None,
                  category_ids: tuple[int, ...] = ()) -> ProductPage:
    """Active products, `PRODUCTS_PER_PAGE` a page, optionally searched (ranked), filtered
    (in stock, price range, categories) and sorted (`Filters`; newest first by default).

    The search (`parse_search`) goes through the full-text index, so it costs the same
    whatever the catalog's size and whatever the query holds; queries longer than
    `SEARCH_MAX_CHARS` are cut. One SQL statement (`_page_statement`) for every combination,
    whose cost does not grow with the catalog. Raises `NotFound` for a page past the last
    (page 1 always exists).
    """
    if not 1 <= page <= MAX_PAGE:
        raise NotFound(f"page {page}")
    query = query.strip()[:SEARCH_MAX_CHARS]
    filters = filters or Filters(sort="relevance" if query else "newest")
    if filters.sort == "relevance" and not query:
        filters = replace(filters, sort="newest")
    dialect = db.session.get_bind().dialect.name
    parameters: dict[str, object] = {"offset": (page - 1) * PRODUCTS_PER_PAGE,
                                     "cap": TOTAL_COUNT_CAP, "cap_and_one": TOTAL_COUNT_CAP + 1}
    words: tuple[str, ...] = ()
    if query:
        search = parse_search(query)
        words = search.words
        if not words:  # nothing to look for: no product can match, no query is needed
            if page > 1:
                raise NotFound(f"page {page}")
            return ProductPage([], page, 0, False, False, query, filters)
        parameters["search"] = _search_terms(search, dialect)
    if filters.min_price is not None:
        parameters["min"] = filters.min_price
    if filters.max_price is not None:
        parameters["max"] = filters.max_price
    if category_ids:
        parameters["categories"] = list(category_ids)
    statement = _page_statement(dialect, bool(query), filters.sort, filters.in_stock,
                                filters.min_price is not None, filters.max_price is not None,
                                bool(category_ids))
    rows = db.session.execute(statement, parameters).all()
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
        filters=filters,
        words=words,
    )


def get_product_by_slug(slug: str) -> Product:
    """The active product with this slug; raises `NotFound` otherwise."""
    product = db.session.scalar(select(Product).where(Product.slug == slug, Product.active))
    if product is None:
        raise NotFound(slug)
    return product


@dataclass(frozen=True, slots=True)
class ProductView(StockState):
    """What the product page shows of a product."""

    id: int
    slug: str
    name: str
    price: Decimal
    stock: int
    image_key: str | None
    sku: str
    description: str


@dataclass(frozen=True)
class ProductDetails:
    product: ProductView
    category_id: int | None  # its first category, for the breadcrumb
    related: list[ProductCard]


@cache
def _details_statement() -> Select:
    """The product (kind 0) and up to `RELATED_PRODUCTS` newest others of its first category
    (kind 1), in one statement."""
    slug = bindparam("slug")
    first_category = (select(func.min(ProductCategory.category_id))
                      .where(ProductCategory.product_id == Product.id).scalar_subquery())
    main = select(sa.literal(0).label("kind"), *CARD_COLUMNS, Product.sku, Product.description,
                  Product.created_at, first_category.label("category_id")
                  ).where(Product.slug == slug, Product.active)
    target = aliased(Product)
    target_category = (select(func.min(ProductCategory.category_id))
                       .join(target, target.id == ProductCategory.product_id)
                       .where(target.slug == slug, target.active).scalar_subquery())
    other = aliased(Product)
    related = (select(sa.literal(1).label("kind"), other.id, other.slug, other.name,
                      other.price, other.stock, other.image_key,
                      sa.literal("").label("sku"), sa.literal("").label("description"),
                      other.created_at, sa.cast(sa.null(), sa.Integer).label("category_id"))
               .where(other.active, other.slug != slug,
                      other.id.in_(select(ProductCategory.product_id)
                                   .where(ProductCategory.category_id == target_category)))
               .order_by(other.created_at.desc(), other.id.desc()).limit(RELATED_PRODUCTS))
    both = union_all(main.subquery().select(), related.subquery().select()).subquery()
    return select(both).order_by(both.c.kind, both.c.created_at.desc(), both.c.id.desc())


def get_product_details(slug: str) -> ProductDetails:
    """The active product with this slug, its first category and related products (the
    newest others of that category), in one statement; raises `NotFound` otherwise."""
    rows = db.session.execute(_details_statement(), {"slug": slug}).all()
    if not rows or rows[0].kind != 0:
        raise NotFound(slug)
    main = rows[0]
    return ProductDetails(
        product=ProductView(main.id, main.slug, main.name, main.price, main.stock,
                            main.image_key, main.sku, main.description or ""),
        category_id=main.category_id,
        related=[ProductCard(row.id, row.slug, row.name, row.price, row.stock, row.image_key)
                 for row in rows[1:]],
    )


SITEMAP_MAX_URLS = 50_000  # the sitemap protocol's limit for one file


def list_product_slugs() -> list[str]:
    """Slugs of active products, newest first, for the sitemap (one statement)."""
    return list(db.session.scalars(
        select(Product.slug).where(Product.active)
        .order_by(Product.created_at.desc(), Product.id.desc()).limit(SITEMAP_MAX_URLS)))


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
    image: str = ""  # a path to a picture, for the `image` column
    categories: list[tuple[str, ...]] | None = None  # None: no `categories` column


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
            paths = None
            if "categories" in values:
                paths = categories.parse_paths(values["categories"])
                if isinstance(paths, str):
                    reasons.append(paths)
            image = values.get("image", "")
            if HIDDEN_CHARACTERS.search(image):
                reasons.append("image holds a control character")
            if reasons:
                problems.append((line, "; ".join(reasons)))
            else:
                rows.append(_Row(line, sku, name, price, stock, description, image, paths))
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


def _read_images(rows: list[_Row], image_root: Path | None) -> dict[str, bytes]:
    """Each row's `image` file, by sku; raises `CatalogImportError` for a file that cannot be
    read (the picture itself is checked when it is stored)."""
    images, problems = {}, []
    for row in rows:
        if not row.image:
            continue
        path = Path(row.image) if image_root is None else image_root / row.image
        try:
            images[row.sku] = path.read_bytes()
        except OSError as error:
            problems.append((row.line, f"image {row.image!r} cannot be read ({error.strerror})"))
    if problems:
        raise CatalogImportError(problems)
    return images


def _store_images(rows: list[_Row], images: dict[str, bytes],
                  keys: dict[str, str] | None = None) -> dict[str, str]:
    """Each picture checked and stored; its key by sku. A refused picture is the line's
    problem, and whatever was stored already is removed."""
    stored: dict[str, str] = {}
    line_of = {row.sku: row.line for row in rows}
    for sku, data in images.items():
        try:
            stored[sku] = media.store_image(data, (keys or {}).get(sku))
        except ImageRefused as error:
            if not keys:
                for key in stored.values():
                    media.delete_image(key)
            raise CatalogImportError([(line_of.get(sku, 1), f"image: {error}")]) from None
    return stored


def import_products(data: bytes,
                    before_commit: Callable[[ImportResult], None] | None = None,
                    image_root: Path | None = None,
                    demo_images: Callable[[str, str, str], bytes] | None = None,
                    ) -> ImportResult:
    """Upsert products by sku from CSV bytes (columns sku,name,price,stock[,description]
    [,image][,categories]).

    All-or-nothing: every row is validated first and any problem raises `CatalogImportError`
    listing each bad line, with nothing written. New products get a unique ASCII slug from
    their name; existing ones keep theirs, so links stay stable across re-imports. A product
    named in the file is made active again. `image` is a path to a JPEG, PNG or WebP file
    (relative to `image_root` when given), stored through `media`; the product's old picture
    goes after the commit. `categories` (`Coffee > Beans | Gifts`, two levels at most)
    replaces the product's categories, creating those missing; without the column they stay.
    `demo_images(sku, name, category)` draws a picture for a product that has none (the demo
    catalog's). `before_commit` (the staff area's audit row) runs in the import's
    transaction, with its counts.
    """
    rows = _validate_rows(decode_csv(data))
    images = _store_images(rows, _read_images(rows, image_root))
    replaced: list[str] = []
    try:
        begin_write()
        existing = {
            product.sku.lower(): product
            for product in db.session.scalars(
                select(Product).where(
                    func.lower(Product.sku).in_([row.sku.lower() for row in rows]))
            )
        }
        taken = set(db.session.scalars(select(Product.slug)))
        created = updated = 0
        products = []
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
            if row.sku in images:
                if product.image_key:
                    replaced.append(product.image_key)
                product.image_key = images[row.sku]
            elif demo_images is not None and not product.image_key:
                first = row.categories[0][-1] if row.categories else ""
                key = hashlib.sha256(f"demo:{row.sku}".encode()).hexdigest()[:32]
                product.image_key = media.store_image(demo_images(row.sku, row.name, first), key)
            products.append((row, product))
        with_categories = [(row, product) for row, product in products
                           if row.categories is not None]
        if with_categories:
            db.session.flush()
            ids = categories.ensure_paths([path for row, _ in with_categories
                                           for path in row.categories or []])
            categories.set_product_categories(
                [product.id for _, product in with_categories],
                {product.id: [ids[path] for path in row.categories or []]
                 for row, product in with_categories})
        result = ImportResult(created=created, updated=updated)
        if before_commit is not None:
            db.session.flush()
            before_commit(result)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        for key in images.values():
            media.delete_image(key)
        raise
    for key in replaced:
        media.delete_image(key)
    if with_categories:
        categories.forget_tree()
    return result


def load_demo_catalog() -> ImportResult:
    """Load the shipped demo catalog (about 30 products in categories, each with a picture
    drawn for it); running it again changes nothing."""
    data = resources.files("storefront").joinpath("demo_catalog.csv").read_bytes()
    return import_products(data, demo_images=demo_pictures.draw)
