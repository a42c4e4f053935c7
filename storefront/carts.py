"""Carts: the saved cart in `user_carts`, the merge of a guest cart at sign-in, and cleanup.

Quantities only ever change in SQL, in one statement (an upsert capped at stock and
`LINE_MAX_QUANTITY`), so simultaneous adds never lose an increment. The guest cart lives in
the session cookie; this module sees it only as a `GuestCart` value.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import (
    and_,
    delete,
    exists,
    func,
    literal,
    literal_column,
    or_,
    select,
    update,
)

from storefront import events
from storefront.database import begin_write, db, insert, least
from storefront.exceptions import CartFull, NotFound, NotInCart, SoldOut
from storefront.models import (
    CART_MAX_LINES,
    CART_UNTOUCHED_DAYS,
    LINE_MAX_QUANTITY,
    PRODUCT_ID_MAX,
    REMEMBER_SESSION_DAYS,
    CartMerge,
    Product,
    UserCart,
    utcnow,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CartLine:
    product: Product
    quantity: int

    @property
    def line_total(self) -> Decimal:
        return self.product.price * self.quantity

    @property
    def over_stock(self) -> bool:
        """The line asks for more than is in stock now (stock fell since it was added)."""
        return self.quantity > self.product.stock


@dataclass(frozen=True)
class CartView:
    lines: list[CartLine]

    @property
    def subtotal(self) -> Decimal:
        return sum((line.line_total for line in self.lines), Decimal("0.00"))

    @property
    def count(self) -> int:
        return sum(line.quantity for line in self.lines)


@dataclass(frozen=True)
class AddResult:
    product: Product
    quantity: int  # the line's quantity afterwards
    capped: bool  # less than asked for: stock or the per-line maximum


@dataclass(frozen=True)
class GuestCart:
    """A guest's cart as the session holds it: a random token and {product_id: quantity}."""

    token: str
    lines: Mapping[int, int]


@dataclass(frozen=True)
class MergeNote:
    product_name: str
    change: str  # "summed", "capped" or "dropped"
    text: str


@dataclass(frozen=True)
class MergeResult:
    merged: bool = False  # False: nothing to merge, or this guest cart was merged before
    failed: bool = False
    lines_in: int = 0
    lines_kept: int = 0
    notes: list[MergeNote] = field(default_factory=list)

    def count(self, change: str) -> int:
        return sum(1 for note in self.notes if note.change == change)

    @property
    def has_warnings(self) -> bool:
        return any(note.change in ("capped", "dropped") for note in self.notes)


def cap_quantity(requested: int, stock: int) -> int:
    """The quantity a line may hold: `min(requested, stock, LINE_MAX_QUANTITY)`."""
    return max(0, min(requested, stock, LINE_MAX_QUANTITY))


def _stock_of(product_id) -> object:  # noqa: ANN001
    """The product's stock now, as a subquery."""
    return select(Product.stock).where(Product.id == product_id).scalar_subquery()


# In ON CONFLICT DO UPDATE, the stock of the row being upserted. `excluded` is named as a
# literal column: as a table SQLAlchemy would add it to the subquery's FROM, uncorrelated.
_EXCLUDED_STOCK = _stock_of(literal_column("excluded.product_id"))


def _adding_to_existing_lines(statement):  # noqa: ANN001, ANN202
    """An INSERT into user_carts that, where the line exists, adds to it instead: the sum is
    capped at the product's stock now and at 99, by the database, in the same statement."""
    return statement.on_conflict_do_update(
        index_elements=["user_id", "product_id"],
        set_={
            "quantity": least(
                UserCart.quantity + statement.excluded.quantity, _EXCLUDED_STOCK,
                LINE_MAX_QUANTITY,
            ),
            "updated_at": statement.excluded.updated_at,
        },
    )


def get_active_product(product_id: int) -> Product:
    """The active product with this id; `NotFound` if there is none."""
    if not 1 <= product_id <= PRODUCT_ID_MAX:
        raise NotFound(f"product {product_id}")
    product = db.session.scalar(select(Product).where(Product.id == product_id, Product.active))
    if product is None:
        raise NotFound(f"product {product_id}")
    return product


def get_purchasable_product(product_id: int) -> Product:
    """The active product with this id; `NotFound` if none, `SoldOut` if it has no stock."""
    product = get_active_product(product_id)
    if product.stock <= 0:
        raise SoldOut(product.name)
    return product


def view_of(quantities: Mapping[int, int]) -> CartView:
    """Lines for `{product_id: quantity}` with their active products, in one query.

    Products that are gone or inactive are left out; names and prices always come from here.
    """
    if not quantities:
        return CartView([])
    products = db.session.scalars(
        select(Product).where(Product.id.in_(list(quantities)), Product.active)
    ).all()
    by_id = {product.id: product for product in products}
    return CartView(
        [CartLine(by_id[pid], qty) for pid, qty in quantities.items() if pid in by_id]
    )


def count_of(quantities: Mapping[int, int]) -> int:
    """Total quantity of the lines whose product is still active (one query, none if empty)."""
    if not quantities:
        return 0
    active = set(
        db.session.scalars(
            select(Product.id).where(Product.id.in_(list(quantities)), Product.active)
        )
    )
    return sum(qty for pid, qty in quantities.items() if pid in active)


# The saved cart -------------------------------------------------------------------------------

def get_saved_cart(user_id: int) -> CartView:
    """The shopper's saved lines with their active products, oldest line first (one query)."""
    rows = db.session.execute(
        select(UserCart.quantity, Product)
        .join(Product, Product.id == UserCart.product_id)
        .where(UserCart.user_id == user_id, Product.active)
        .order_by(UserCart.added_at, UserCart.product_id)
    ).all()
    return CartView([CartLine(row.Product, row.quantity) for row in rows])


def count_saved_cart(user_id: int) -> int:
    """Total quantity in the saved cart, active products only (one query)."""
    return db.session.scalar(
        select(func.coalesce(func.sum(UserCart.quantity), 0))
        .join(Product, Product.id == UserCart.product_id)
        .where(UserCart.user_id == user_id, Product.active)
    )


def _saved_line(user_id: int, product_id: int):  # noqa: ANN202
    """The product, this user's quantity of it (or None) and their number of lines."""
    line_count = (
        select(func.count()).select_from(UserCart).where(UserCart.user_id == user_id)
    ).scalar_subquery()
    return db.session.execute(
        select(Product, UserCart.quantity, line_count.label("line_count"))
        .outerjoin(
            UserCart, and_(UserCart.product_id == Product.id, UserCart.user_id == user_id)
        )
        .where(Product.id == product_id, Product.active)
    ).first()


def _saved_line_for_writing(user_id: int, product_id: int):  # noqa: ANN202
    """Open a write transaction and read the line (`_saved_line`); `NotFound` if the product
    is not an active one."""
    if not 1 <= product_id <= PRODUCT_ID_MAX:
        raise NotFound(f"product {product_id}")
    begin_write()
    row = _saved_line(user_id, product_id)
    if row is None:
        db.session.rollback()
        raise NotFound(f"product {product_id}")
    return row


def add_to_saved_cart(user_id: int, product_id: int, quantity: int) -> AddResult:
    """Add `quantity` of a product to the saved cart, in one atomic upsert.

    The line becomes `min(existing + quantity, stock, 99)`, computed by the database, so
    concurrent adds all count. Raises `NotFound` (no such active product), `SoldOut`, or
    `CartFull` when a new line would pass `CART_MAX_LINES`.
    """
    row = _saved_line_for_writing(user_id, product_id)
    product, existing = row.Product, row.quantity
    if product.stock <= 0:
        db.session.rollback()
        raise SoldOut(product.name)
    if existing is None and row.line_count >= CART_MAX_LINES:
        db.session.rollback()
        raise CartFull(CART_MAX_LINES)

    now = utcnow()
    has_room = or_(
        select(func.count()).select_from(UserCart).where(UserCart.user_id == user_id)
        .scalar_subquery() < CART_MAX_LINES,
        exists().where(UserCart.user_id == user_id, UserCart.product_id == product_id),
    )
    source = select(
        literal(user_id), Product.id, least(quantity, Product.stock, LINE_MAX_QUANTITY),
        literal(now, UserCart.added_at.type), literal(now, UserCart.updated_at.type),
    ).where(Product.id == product_id, Product.active, Product.stock > 0, has_room)
    statement = _adding_to_existing_lines(
        insert(UserCart).from_select(
            ["user_id", "product_id", "quantity", "added_at", "updated_at"], source
        )
    ).returning(UserCart.quantity)
    result = db.session.execute(statement).scalar()
    db.session.commit()
    if result is None:  # stock or room went away between the read and the write
        raise CartFull(CART_MAX_LINES) if existing is None else SoldOut(product.name)
    return AddResult(product, result, capped=(existing or 0) + quantity > result)


def set_saved_quantity(user_id: int, product_id: int, quantity: int) -> AddResult | None:
    """Set a saved line to `quantity` (capped at stock and 99); 0 removes it (returns None).

    Raises `NotFound` (no such active product), `NotInCart`, or `SoldOut`.
    """
    row = _saved_line_for_writing(user_id, product_id)
    if row.quantity is None:
        db.session.rollback()
        raise NotInCart(row.Product.name)
    if quantity == 0:
        db.session.execute(
            delete(UserCart).where(UserCart.user_id == user_id, UserCart.product_id == product_id)
        )
        db.session.commit()
        return None
    stock = _stock_of(product_id)
    result = db.session.execute(
        update(UserCart)
        .where(UserCart.user_id == user_id, UserCart.product_id == product_id, stock > 0)
        .values(quantity=least(quantity, stock, LINE_MAX_QUANTITY), updated_at=utcnow())
        .returning(UserCart.quantity)
    ).scalar()
    db.session.commit()
    if result is None:
        raise SoldOut(row.Product.name)
    return AddResult(row.Product, result, capped=result < quantity)


def remove_from_saved_cart(user_id: int, product_id: int) -> bool:
    """Remove a line; True if there was one."""
    begin_write()
    removed = db.session.execute(
        delete(UserCart).where(UserCart.user_id == user_id, UserCart.product_id == product_id)
    ).rowcount
    db.session.commit()
    return removed > 0


def clear_saved_cart(user_id: int) -> int:
    """Remove every line of the saved cart; returns how many there were."""
    begin_write()
    removed = db.session.execute(delete(UserCart).where(UserCart.user_id == user_id)).rowcount
    db.session.commit()
    return removed


# The merge ------------------------------------------------------------------------------------

def _plan_merge(user_id: int, guest: GuestCart) -> tuple[list[dict], list[MergeNote]]:
    """Read the affected products and saved lines (one query) and decide each guest line."""
    line_count = (
        select(func.count()).select_from(UserCart).where(UserCart.user_id == user_id)
    ).scalar_subquery()
    rows = db.session.execute(
        select(
            Product.id, Product.name, Product.stock, Product.active, UserCart.quantity,
            line_count.label("line_count"),
        )
        .outerjoin(
            UserCart, and_(UserCart.product_id == Product.id, UserCart.user_id == user_id)
        )
        .where(Product.id.in_(list(guest.lines)))
    ).all()
    found = {row.id: row for row in rows}
    room = CART_MAX_LINES - (rows[0].line_count if rows else 0)
    now = utcnow()
    values: list[dict] = []
    notes: list[MergeNote] = []
    for product_id, guest_quantity in guest.lines.items():
        row = found.get(product_id)
        if row is None or not row.active:
            name = row.name if row is not None else f"Product #{product_id}"
            notes.append(MergeNote(name, "dropped", f"{name}: removed, no longer available"))
            continue
        if row.stock <= 0:
            notes.append(MergeNote(row.name, "dropped", f"{row.name}: removed, sold out"))
            continue
        saved = row.quantity or 0
        if row.quantity is None:
            if room <= 0:
                notes.append(MergeNote(
                    row.name, "dropped",
                    f"{row.name}: removed, a cart holds at most {CART_MAX_LINES} lines",
                ))
                continue
            room -= 1
        total = saved + guest_quantity
        final = cap_quantity(total, row.stock)
        if final < total:
            reason = (f"only {row.stock} in stock" if final == row.stock
                      else f"at most {LINE_MAX_QUANTITY} per line")
            notes.append(MergeNote(
                row.name, "capped", f"{row.name}: {total} wanted, set to {final} ({reason})"
            ))
        elif saved:
            notes.append(MergeNote(
                row.name, "summed",
                f"{row.name}: {saved} saved + {guest_quantity} from this visit = {total}",
            ))
        values.append({
            "user_id": user_id, "product_id": product_id,
            "quantity": cap_quantity(guest_quantity, row.stock),
            "added_at": now, "updated_at": now,
        })
    return values, notes


def merge_into_saved_cart(user_id: int, guest: GuestCart) -> MergeResult:
    """Merge a guest cart into the saved cart, inside the caller's transaction (no commit).

    Rules (DESIGN.md): quantities of the same product are summed, then capped at stock and
    99; lines of products gone, inactive or sold out are dropped, as are new lines past the
    50-line limit; every summed, capped or dropped line gets a note for the receipt.
    Idempotent: the guest token is recorded in `cart_merges` first-come, so a replayed cookie,
    a double submit or a second tab merges nothing again. Four statements whatever the number
    of lines: the read, the merge record, one bulk upsert, the event.
    """
    if not guest.lines:
        return MergeResult()
    values, notes = _plan_merge(user_id, guest)
    claimed = db.session.execute(
        insert(CartMerge)
        .values(
            guest_token=guest.token, user_id=user_id, merged_at=utcnow(),
            lines_in=len(guest.lines), lines_kept=len(values),
        )
        .on_conflict_do_nothing(index_elements=["guest_token"])
        .returning(CartMerge.id)
    ).scalar()
    if claimed is None:
        return MergeResult(lines_in=len(guest.lines))
    if values:
        db.session.execute(_adding_to_existing_lines(insert(UserCart).values(values)))
    result = MergeResult(True, False, len(guest.lines), len(values), notes)
    events.record(
        events.CART_MERGE, True, user_id,
        f"merged={len(values)} capped={result.count('capped')} "
        f"dropped={result.count('dropped')} summed={result.count('summed')}",
    )
    return result


def merge_safely(user_id: int, guest: GuestCart | None) -> MergeResult:
    """`merge_into_saved_cart` in a savepoint of the caller's transaction.

    A failed merge must never fail the sign-in around it: the savepoint is rolled back, the
    failure is logged and recorded as an event, and the result says `failed` so the caller
    keeps the guest lines for a retry.
    """
    if guest is None or not guest.lines:
        return MergeResult()
    try:
        with db.session.begin_nested():
            return merge_into_saved_cart(user_id, guest)
    except Exception as error:  # noqa: BLE001 - the one broad catch (STYLE.md): never lose a sign-in
        log.exception("cart merge failed for user %s", user_id)
        events.record(events.CART_MERGE, False, user_id, f"error={type(error).__name__}")
        return MergeResult(failed=True, lines_in=len(guest.lines))


def retry_merge(user_id: int, guest: GuestCart) -> MergeResult:
    """Merge guest lines that an earlier sign-in could not merge, in a transaction of its own."""
    begin_write()
    result = merge_safely(user_id, guest)
    db.session.commit()
    return result


# Cleanup --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CleanupResult:
    inactive_lines: int
    stale_lines: int
    old_merges: int
    dry_run: bool


def cleanup(days: int = CART_UNTOUCHED_DAYS, dry_run: bool = False) -> CleanupResult:
    """Remove saved-cart lines of inactive products, lines untouched for `days` days, and
    merge records older than the longest session (30 days), which can no longer be replayed.

    Idempotent; with `dry_run`, only counts. Each line is counted under one kind (inactive
    first).
    """
    now = utcnow()
    inactive = UserCart.product_id.in_(select(Product.id).where(~Product.active))
    stale = and_(UserCart.updated_at < now - timedelta(days=days), ~inactive)
    old_merge = CartMerge.merged_at < now - timedelta(days=REMEMBER_SESSION_DAYS)
    kinds: Iterable = ((UserCart, inactive), (UserCart, stale), (CartMerge, old_merge))
    if dry_run:
        counts = [
            db.session.scalar(select(func.count()).select_from(model).where(condition))
            for model, condition in kinds
        ]
        db.session.rollback()
        return CleanupResult(*counts, dry_run=True)
    begin_write()
    counts = [db.session.execute(delete(model).where(condition)).rowcount
              for model, condition in kinds]
    db.session.commit()
    return CleanupResult(*counts, dry_run=False)
