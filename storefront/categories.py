"""Categories: the tree every header shows (kept by each worker for a minute), the category
pages' look-ups, and the writes of the CSV import and the staff product form."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import delete, insert, select

from storefront.database import db
from storefront.models import (
    CATEGORY_CACHE_SECONDS,
    CATEGORY_NAME_MAX_CHARS,
    CATEGORY_SLUG_MAX_CHARS,
    Category,
    ProductCategory,
)

# In a CSV `categories` cell: categories apart by `|`, a sub-category after its parent and `>`.
CATEGORY_SEPARATOR = "|"
LEVEL_SEPARATOR = ">"
CACHE_KEY = "storefront.categories"


@dataclass(frozen=True)
class CategoryNode:
    id: int
    name: str
    slug: str
    parent_id: int | None
    children: tuple[CategoryNode, ...] = ()


@dataclass(frozen=True)
class CategoryTree:
    """The whole tree, top-level categories in menu order, each with its sub-categories."""

    roots: tuple[CategoryNode, ...] = ()
    by_slug: dict[str, CategoryNode] = field(default_factory=dict)
    by_id: dict[int, CategoryNode] = field(default_factory=dict)

    def ids_under(self, node: CategoryNode) -> tuple[int, ...]:
        """The category and its sub-categories: what its page lists."""
        return (node.id, *(child.id for child in node.children))

    def trail(self, node: CategoryNode) -> list[CategoryNode]:
        """The breadcrumb to a category: its parent first, if any."""
        parent = self.by_id.get(node.parent_id) if node.parent_id else None
        return [parent, node] if parent else [node]

    def choices(self) -> list[tuple[int, str]]:
        """(id, label) for a form's select: parents, then their children as `Parent › Child`."""
        return [(node.id, label) for root in self.roots
                for node, label in ((root, root.name),
                                    *((child, f"{root.name} › {child.name}")
                                      for child in root.children))]


def _load_tree() -> CategoryTree:
    rows = db.session.execute(
        select(Category.id, Category.name, Category.slug, Category.parent_id)
        .order_by(Category.position, Category.name, Category.id)
    ).all()
    children: dict[int, list[CategoryNode]] = {}
    for row in rows:
        if row.parent_id is not None:
            children.setdefault(row.parent_id, []).append(CategoryNode(*row))
    roots = tuple(CategoryNode(*row, children=tuple(children.get(row.id, ())))
                  for row in rows if row.parent_id is None)
    nodes = [*roots, *(child for root in roots for child in root.children)]
    return CategoryTree(roots, {node.slug: node for node in nodes},
                        {node.id: node for node in nodes})


def get_tree(max_age_seconds: float = CATEGORY_CACHE_SECONDS) -> CategoryTree:
    """The category tree, read at most once every `max_age_seconds` by this worker: every
    header shows it, and a page must not pay a statement for what changes a few times a year.
    A category added elsewhere shows here within that time."""
    cached = current_app.extensions.get(CACHE_KEY)
    now = time.monotonic()
    if cached is None or now - cached[0] > max_age_seconds:
        cached = current_app.extensions[CACHE_KEY] = (now, _load_tree())
    return cached[1]


def find_category(slug: str) -> CategoryNode | None:
    """The category with this slug; a slug this worker does not know yet re-reads the tree
    (at most once a second), so a new category's page works at once."""
    node = get_tree().by_slug.get(slug)
    if node is None:
        node = get_tree(max_age_seconds=1).by_slug.get(slug)
    return node


def forget_tree() -> None:
    """Drop this worker's copy (after a write here)."""
    current_app.extensions.pop(CACHE_KEY, None)


def parse_paths(cell: str) -> list[tuple[str, ...]] | str:
    """`Coffee > Beans | Gifts` → [("Coffee", "Beans"), ("Gifts",)], or the reason it is
    refused (an import line's error)."""
    paths = []
    for part in cell.split(CATEGORY_SEPARATOR):
        names = tuple(name.strip() for name in part.split(LEVEL_SEPARATOR))
        if names == ("",):
            continue
        if len(names) > 2:
            return f"category {part.strip()!r} has more than two levels"
        if any(not 1 <= len(name) <= CATEGORY_NAME_MAX_CHARS for name in names):
            return f"category names must be 1..{CATEGORY_NAME_MAX_CHARS} characters"
        paths.append(names)
    return list(dict.fromkeys(paths))


def _slug(names: tuple[str, ...]) -> str:
    from storefront.catalog import slugify  # the one slug rule; catalog imports this module

    return "-".join(slugify(name) for name in names)[:CATEGORY_SLUG_MAX_CHARS]


def ensure_paths(paths: list[tuple[str, ...]]) -> dict[tuple[str, ...], int]:
    """The id of each category path, adding those missing (no commit: the caller's
    transaction). A path's slug is its names' slugs joined: `coffee-beans`."""
    ids: dict[tuple[str, ...], int] = {}
    wanted = sorted(set(paths) | {path[:1] for path in paths}, key=len)
    slugs = {path: _slug(path) for path in wanted}
    existing = dict(db.session.execute(
        select(Category.slug, Category.id).where(Category.slug.in_(list(slugs.values())))
    ).all())
    for path in wanted:
        slug = slugs[path]
        if slug not in existing:
            parent_id = ids[path[:1]] if len(path) == 2 else None
            category = Category(name=path[-1], slug=slug, parent_id=parent_id)
            db.session.add(category)
            db.session.flush()
            existing[slug] = category.id
        ids[path] = existing[slug]
    return ids


def set_product_categories(product_ids: list[int], category_ids: dict[int, list[int]]) -> None:
    """Replace the categories of each product in `product_ids` by `category_ids[id]`
    (no commit: the caller's transaction)."""
    if not product_ids:
        return
    db.session.execute(delete(ProductCategory).where(ProductCategory.product_id.in_(product_ids)))
    links = [{"product_id": product_id, "category_id": category_id}
             for product_id in product_ids
             for category_id in dict.fromkeys(category_ids.get(product_id, []))]
    if links:
        db.session.execute(insert(ProductCategory), links)


def get_product_category_ids(product_id: int) -> list[int]:
    return list(db.session.scalars(
        select(ProductCategory.category_id).where(ProductCategory.product_id == product_id)
        .order_by(ProductCategory.category_id)
    ))

