"""Carts: the rules every cart follows, the saved cart in `user_carts`, the guest cart's
lines, the merge of a guest cart at sign-in, and cleanup.

The rules live here once, for both kinds of cart: a cart holds at most `CART_MAX_LINES`
lines; a line holds `min(wanted, stock, LINE_MAX_QUANTITY)`; a sold-out or inactive product is
not added; changing a line that is not in the cart is `NotInCart`. The guest cart lives in the
session cookie: this module sees only its lines (`{product_id: quantity}`, in the order they
were added) and hands back new ones. Saved-cart quantities only ever change in SQL, in one
statement (an upsert capped at stock and `LINE_MAX_QUANTITY`), so simultaneous adds never
lose an increment.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
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
    text,
    tuple_,
    update,
)
from sqlalchemy.exc import IntegrityError

from storefront import events
from storefront.database import (
    begin_write,
    db,
    insert,
    least,
    loggable_error,
    read_with_next_statement,
    run_pending_reads,
)
from storefront.exceptions import CartFull, NotFound, NotInCart, SoldOut
from storefront.ids import require_id
from storefront.models import (
    CART_MAX_LINES,
    CART_UNTOUCHED_DAYS,
    LINE_MAX_QUANTITY,
    REMEMBER_SESSION_DAYS,
    CartMerge,
    Product,
    User,
    UserCart,
    utcnow,
)

log = logging.getLogger(__name__)
# Rows a cleanup deletes in one transaction (about a tenth of a second of locks).
CLEANUP_BATCH_ROWS = 5_000
GuestLines = Mapping[int, int]


@dataclass(frozen=True)
class CartLine:
    product: Product
    quantity: int

    @property
    def withdrawn(self) -> bool:
        """The product is no longer sold (inactive): the line leaves the cart when shown."""
        return not self.product.active

    @property
    def available(self) -> bool:
        """The line can be bought now: counted in the subtotal and the header's count."""
        return self.product.active and not self.product.sold_out

    @property
    def line_total(self) -> Decimal:
        return self.product.price * self.quantity

    @property
    def over_stock(self) -> bool:
        """The line asks for more than is in stock now (stock fell since it was added)."""
        return self.quantity > self.product.stock


@dataclass(frozen=True)
class CartView:
    """A cart's lines in the order they were first added, with what can be bought now."""

    lines: list[CartLine]

    @property
    def subtotal(self) -> Decimal:
        return sum((line.line_total for line in self.lines if line.available), Decimal("0.00"))

    @property
    def count(self) -> int:
        return sum(line.quantity for line in self.lines if line.available)

    @property
    def withdrawn(self) -> list[CartLine]:
        return [line for line in self.lines if line.withdrawn]


@dataclass(frozen=True)
class AddResult:
    product: Product
    quantity: int  # the line's quantity afterwards
    capped: bool  # less than asked for: stock or the per-line maximum


@dataclass(frozen=True)
class GuestCart:
    """A guest's cart as the session holds it: a random token and its lines, in order."""

    token: str
    lines: GuestLines


# The rules, shared by both kinds of cart --------------------------------------------------------

def cap_quantity(requested: int, stock: int) -> int:
    """The quantity a line may hold: `min(requested, stock, LINE_MAX_QUANTITY)`."""
    return max(0, min(requested, stock, LINE_MAX_QUANTITY))


def _check_room(has_line: bool, line_count: int) -> None:
    """A new line needs room in the cart; an existing line can always grow."""
    if not has_line and line_count >= CART_MAX_LINES:
        raise CartFull(CART_MAX_LINES)


def _check_purchasable(product: Product) -> None:
    if product.sold_out:
        raise SoldOut(product.name)


def get_active_product(product_id: int) -> Product:
    """The active product with this id; `NotFound` if there is none."""
    require_id(product_id)
    product = db.session.scalar(select(Product).where(Product.id == product_id, Product.active))
    if product is None:
        raise NotFound(f"product {product_id}")
    return product


def _not_in_cart(product_id: int) -> NotInCart:
    """The error for changing a line the cart does not hold: `NotFound` (raised) if no active
    product has this id at all, else a `NotInCart` naming it."""
    return NotInCart(get_active_product(product_id).name)


def view_of(quantities: GuestLines) -> CartView:
    """Lines for `{product_id: quantity}` with their products, in one query, in the given
    order. Products that no longer exist are left out; names and prices always come from
    here; inactive products are kept (as withdrawn lines) so the shopper is told."""
    if not quantities:
        return CartView([])
    by_id = {
        product.id: product
        for product in db.session.scalars(select(Product).where(Product.id.in_(list(quantities))))
    }
    return CartView(
        [CartLine(by_id[pid], qty) for pid, qty in quantities.items() if pid in by_id]
    )


def _available(quantities: GuestLines):  # noqa: ANN202
    """The ids among these lines' products that can be bought now."""
    return select(Product.id).where(
        Product.id.in_(list(quantities)), Product.active, Product.stock > 0
    )


# `_available` as PostgreSQL reads it in another statement's round trip (count_of_later).
AVAILABLE_AMONG = text("SELECT id FROM products WHERE id = ANY(:ids) AND active AND stock > 0")


def _counted(quantities: GuestLines, available: set[int]) -> int:
    return sum(qty for pid, qty in quantities.items() if pid in available)


def count_of(quantities: GuestLines) -> int:
    """Total quantity of the lines that can be bought now (one query, none if empty)."""
    if not quantities:
        return 0
    return _counted(quantities, set(db.session.scalars(_available(quantities))))


def count_of_later(quantities: GuestLines) -> Callable[[], int]:
    """`count_of`, read in the round trip of the request's next statement (a page's own
    query, PostgreSQL), so a returning guest's header costs no round trip of its own.
    Returns what gives the count; if no statement went meanwhile, it asks the database
    itself (as it does on SQLite)."""
    if not quantities:
        return lambda: 0
    available: list[set[int]] = []
    if not read_with_next_statement(AVAILABLE_AMONG, {"ids": list(quantities)},
                                    lambda rows: available.append({row[0] for row in rows})):
        return lambda: count_of(quantities)

    def count() -> int:
        if not available:
            run_pending_reads()
        if not available:  # the read went with its connection (a rollback): ask now
            return count_of(quantities)
        return _counted(quantities, available[0])

    return count


# The guest cart's lines -----------------------------------------------------------------------

def add_to_guest_lines(lines: GuestLines, product_id: int, quantity: int
                       ) -> tuple[dict[int, int], AddResult]:
    """`lines` with `quantity` more of a product (the same caps as the saved cart).

    Raises `NotFound`, `SoldOut` or `CartFull`; a new product goes last.
    """
    product = get_active_product(product_id)
    _check_purchasable(product)
    existing = lines.get(product_id, 0)
    _check_room(existing > 0, len(lines))
    wanted = existing + quantity
    new_lines = {**lines, product_id: cap_quantity(wanted, product.stock)}
    final = new_lines[product_id]
    return new_lines, AddResult(product, final, capped=final < wanted)


def set_guest_quantity(lines: GuestLines, product_id: int, quantity: int
                       ) -> tuple[dict[int, int], AddResult | None]:
    """`lines` with one line set to `quantity` (capped); 0 removes it (result None).

    Raises `NotFound`, `NotInCart` or `SoldOut`, in that order, like the saved cart.
    """
    if product_id not in lines:
        raise _not_in_cart(product_id)
    product = get_active_product(product_id)
    new_lines = dict(lines)
    if quantity == 0:
        del new_lines[product_id]
        return new_lines, None
    _check_purchasable(product)
    new_lines[product_id] = cap_quantity(quantity, product.stock)
    final = new_lines[product_id]
    return new_lines, AddResult(product, final, capped=final < quantity)


def remove_from_guest_lines(lines: GuestLines, product_id: int) -> dict[int, int]:
    """`lines` without one line; `NotFound` or `NotInCart` if the cart does not hold it."""
    if product_id not in lines:
        raise _not_in_cart(product_id)
    return {pid: qty for pid, qty in lines.items() if pid != product_id}


# The saved cart -------------------------------------------------------------------------------

def get_saved_cart(user_id: int) -> CartView:
    """The shopper's saved lines with their products, first added first (one query)."""
    rows = db.session.execute(
        select(UserCart.quantity, Product)
        .join(Product, Product.id == UserCart.product_id)
        .where(UserCart.user_id == user_id)
        .order_by(UserCart.added_at, UserCart.product_id)
    ).all()
    return CartView([CartLine(row.Product, row.quantity) for row in rows])


def saved_cart_count(user_id) -> object:  # noqa: ANN001 - an id or a column
    """Total quantity in the saved cart of what can be bought now, as a scalar subquery (the
    session look-up reads it in the same statement as the user: the header's count)."""
    return (
        select(func.coalesce(func.sum(UserCart.quantity), 0))
        .join(Product, Product.id == UserCart.product_id)
        .where(UserCart.user_id == user_id, Product.active, Product.stock > 0)
        .scalar_subquery()
    )


def count_saved_cart(user_id: int) -> int:
    """Total quantity in the saved cart of what can be bought now (one query)."""
    return db.session.scalar(select(saved_cart_count(user_id)))


def _stock_of(product_id) -> object:  # noqa: ANN001
    """The product's stock now, as a subquery."""
    return select(Product.stock).where(Product.id == product_id).scalar_subquery()


# In ON CONFLICT DO UPDATE, the stock of the row being upserted. `excluded` is named as a
# literal column: as a table SQLAlchemy would add it to the subquery's FROM, uncorrelated.
_EXCLUDED_STOCK = _stock_of(literal_column("excluded.product_id"))


def _adding_to_existing_lines(statement):  # noqa: ANN001, ANN202
    """An INSERT into user_carts that, where the line exists, adds to it instead: the sum is
    capped at the product's stock now and at 99, by the database, in the same statement. An
    existing line keeps its `added_at`, so it keeps its place in the cart."""
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


def _line_count(user_id: int):  # noqa: ANN202
    return select(func.count()).select_from(UserCart).where(UserCart.user_id == user_id)


def _saved_line_for_writing(user_id: int, product_id: int):  # noqa: ANN202
    """Open a write transaction and read the product, this user's quantity of it (or None)
    and their number of lines, in one statement.

    The user's row is locked for the transaction (PostgreSQL), so two writes to one cart
    happen one after the other and the 50-line cap holds even for simultaneous new lines.
    `NotFound` if the product is not an active one, or the account is gone.
    """
    require_id(product_id)
    begin_write()
    row = db.session.execute(
        select(Product, UserCart.quantity, _line_count(user_id).scalar_subquery()
               .label("line_count"))
        .select_from(Product)
        .join(User, User.id == user_id)
        .outerjoin(
            UserCart, and_(UserCart.product_id == Product.id, UserCart.user_id == user_id)
        )
        .where(Product.id == product_id, Product.active)
        .with_for_update(of=User)
    ).first()
    if row is None:
        db.session.rollback()
        raise NotFound(f"product {product_id}")
    return row


def add_to_saved_cart(user_id: int, product_id: int, quantity: int) -> AddResult:
    """Add `quantity` of a product to the saved cart, in one atomic upsert.

    The line becomes `min(existing + quantity, stock, 99)`, computed by the database, so
    concurrent adds all count. Raises `NotFound` (no such active product, or the account is
    gone), `SoldOut`, or `CartFull` when a new line would pass `CART_MAX_LINES`; the
    database re-checks stock and room in the same statement.
    """
    row = _saved_line_for_writing(user_id, product_id)
    product, existing = row.Product, row.quantity
    try:
        _check_purchasable(product)
        _check_room(existing is not None, row.line_count)
    except (SoldOut, CartFull):
        db.session.rollback()
        raise

    now = utcnow()
    has_room = or_(
        _line_count(user_id).scalar_subquery() < CART_MAX_LINES,
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
    try:
        result = db.session.execute(statement).scalar()
        db.session.commit()
    except IntegrityError:  # the account was deleted between the read and the write
        db.session.rollback()
        raise NotFound(f"user {user_id}") from None
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


def remove_from_saved_cart(user_id: int, product_id: int) -> None:
    """Remove a line; `NotFound` or `NotInCart` if the cart does not hold it."""
    require_id(product_id)
    begin_write()
    removed = db.session.execute(
        delete(UserCart).where(UserCart.user_id == user_id, UserCart.product_id == product_id)
    ).rowcount
    db.session.commit()
    if not removed:
        raise _not_in_cart(product_id)


def remove_withdrawn_saved_lines(user_id: int, product_ids: Iterable[int]) -> int:
    """Remove the saved lines of these products if they are still inactive; how many went."""
    begin_write()
    removed = db.session.execute(
        delete(UserCart).where(
            UserCart.user_id == user_id,
            UserCart.product_id.in_(list(product_ids)),
            UserCart.product_id.in_(select(Product.id).where(~Product.active)),
        )
    ).rowcount
    db.session.commit()
    return removed


def clear_saved_cart(user_id: int) -> int:
    """Remove every line of the saved cart; returns how many there were."""
    begin_write()
    removed = db.session.execute(delete(UserCart).where(UserCart.user_id == user_id)).rowcount
    db.session.commit()
    return removed


# The merge ------------------------------------------------------------------------------------

class MergeOutcome(enum.Enum):
    """What the merge did with one guest line."""

    ADDED = "added"  # a new saved line, as asked
    SUMMED = "summed"  # added to a saved line, within every cap
    CAPPED_AT_STOCK = "capped_at_stock"
    CAPPED_AT_LINE_MAX = "capped_at_line_max"
    DROPPED_UNAVAILABLE = "dropped_unavailable"  # gone or inactive
    DROPPED_SOLD_OUT = "dropped_sold_out"
    DROPPED_CART_FULL = "dropped_cart_full"  # a new line past CART_MAX_LINES

    @property
    def dropped(self) -> bool:
        return self.name.startswith("DROPPED")

    @property
    def capped(self) -> bool:
        return self.name.startswith("CAPPED")


class MergeStatus(enum.Enum):
    NOTHING = "nothing"  # no guest lines
    MERGED = "merged"
    ALREADY_MERGED = "already_merged"  # this guest cart was merged before (a replayed cookie)
    FAILED = "failed"  # rolled back; the guest lines stay for a retry


@dataclass(frozen=True)
class MergedLine:
    """The facts of one guest line's merge; the view words them."""

    product_id: int
    product_name: str | None  # None: no such product any more
    outcome: MergeOutcome
    saved: int  # the saved line's quantity before
    guest: int  # the quantity brought from this visit
    final: int  # the saved line's quantity after (unchanged, or 0 if none, when dropped)
    stock: int


@dataclass(frozen=True)
class MergeResult:
    status: MergeStatus = MergeStatus.NOTHING
    lines: tuple[MergedLine, ...] = ()
    lines_in: int = 0

    @property
    def failed(self) -> bool:
        return self.status is MergeStatus.FAILED

    @property
    def lines_kept(self) -> int:
        return sum(1 for line in self.lines if not line.outcome.dropped)

    def count(self, *, capped: bool = False, dropped: bool = False) -> int:
        return sum(1 for line in self.lines
                   if (capped and line.outcome.capped) or (dropped and line.outcome.dropped))


def _decide(product_id: int, guest_quantity: int, row, room: int) -> MergedLine:  # noqa: ANN001
    """One guest line against its product and saved line (`row`, None if no such product)."""
    if row is None:
        return MergedLine(product_id, None, MergeOutcome.DROPPED_UNAVAILABLE, 0, guest_quantity,
                          0, 0)
    saved = row.quantity or 0
    if not row.active:
        return MergedLine(product_id, row.name, MergeOutcome.DROPPED_UNAVAILABLE, saved,
                          guest_quantity, saved, 0)
    if row.stock <= 0:
        return MergedLine(product_id, row.name, MergeOutcome.DROPPED_SOLD_OUT, saved,
                          guest_quantity, saved, 0)
    if row.quantity is None and room <= 0:
        return MergedLine(product_id, row.name, MergeOutcome.DROPPED_CART_FULL, 0,
                          guest_quantity, 0, row.stock)
    wanted = saved + guest_quantity
    final = cap_quantity(wanted, row.stock)
    if final < wanted:
        outcome = (MergeOutcome.CAPPED_AT_STOCK if final == row.stock
                   else MergeOutcome.CAPPED_AT_LINE_MAX)
    else:
        outcome = MergeOutcome.SUMMED if saved else MergeOutcome.ADDED
    return MergedLine(product_id, row.name, outcome, saved, guest_quantity, final, row.stock)


def _plan_merge(user_id: int, guest: GuestCart) -> list[MergedLine]:
    """Read the affected products and saved lines (one query, the user's row locked) and
    decide each guest line in the guest cart's order."""
    rows = db.session.execute(
        select(
            Product.id, Product.name, Product.stock, Product.active, UserCart.quantity,
            _line_count(user_id).scalar_subquery().label("line_count"),
        )
        .select_from(Product)
        .join(User, User.id == user_id)
        .outerjoin(
            UserCart, and_(UserCart.product_id == Product.id, UserCart.user_id == user_id)
        )
        .where(Product.id.in_(list(guest.lines)))
        .with_for_update(of=User)
    ).all()
    found = {row.id: row for row in rows}
    room = CART_MAX_LINES - (rows[0].line_count if rows else 0)
    decided = []
    for product_id, guest_quantity in guest.lines.items():
        row = found.get(product_id)
        line = _decide(product_id, guest_quantity, row, room)
        if not line.outcome.dropped and row.quantity is None:
            room -= 1  # a new saved line
        decided.append(line)
    return decided


@dataclass(frozen=True)
class AddedLines:
    lines: tuple[MergedLine, ...]  # each line's facts, in the order given
    written: frozenset[int]  # the product ids whose saved line the upsert wrote


def add_lines_within(user_id: int, lines: GuestLines) -> AddedLines:
    """Add these lines (`{product_id: quantity}`, in order) to the saved cart inside the
    caller's write transaction (no commit): the merge's rules, without its once-per-cart
    record. Quantities are summed with the saved line, then capped at stock and 99; lines of
    products gone, inactive or sold out are dropped, as are new lines past the 50-line
    limit. Returns each line's facts, in order, and the products whose line the database
    wrote. Constant cost: one read (the user's row locked), one bulk upsert."""
    if not lines:
        return AddedLines((), frozenset())
    decided = _plan_merge(user_id, GuestCart("", lines))
    kept = [line for line in decided if not line.outcome.dropped]
    if kept:
        now = utcnow()
        values = [
            {"user_id": user_id, "product_id": line.product_id,
             "quantity": cap_quantity(line.guest, line.stock),
             "added_at": now + timedelta(microseconds=index), "updated_at": now}
            for index, line in enumerate(kept)
        ]
        written = frozenset(db.session.scalars(
            _adding_to_existing_lines(insert(UserCart).values(values))
            .returning(UserCart.product_id)))
        return AddedLines(tuple(decided), written)
    return AddedLines(tuple(decided), frozenset())


def merge_into_saved_cart(user_id: int, guest: GuestCart) -> MergeResult:
    """Merge a guest cart into the saved cart, inside the caller's transaction (no commit).

    Rules (DESIGN.md): quantities of the same product are summed, then capped at stock and
    99; lines of products gone, inactive or sold out are dropped, as are new lines past the
    50-line limit; the result holds the facts of every line for the receipt. New lines keep
    the guest cart's order, after the saved lines. Idempotent: the guest token is recorded in
    `cart_merges` first-come, so a replayed cookie, a double submit or a second tab merges
    nothing again (`ALREADY_MERGED`). Four statements whatever the number of lines: the
    read, the merge record, one bulk upsert, the event.
    """
    if not guest.lines:
        return MergeResult()
    decided = _plan_merge(user_id, guest)
    kept = [line for line in decided if not line.outcome.dropped]
    claimed = db.session.execute(
        insert(CartMerge)
        .values(
            guest_token=guest.token, user_id=user_id, merged_at=utcnow(),
            lines_in=len(guest.lines), lines_kept=len(kept),
        )
        .on_conflict_do_nothing(index_elements=["guest_token"])
        .returning(CartMerge.id)
    ).scalar()
    if claimed is None:
        return MergeResult(MergeStatus.ALREADY_MERGED, lines_in=len(guest.lines))
    if kept:
        now = utcnow()
        # One microsecond apart: the new lines keep the order the guest added them in.
        values = [
            {"user_id": user_id, "product_id": line.product_id,
             "quantity": cap_quantity(line.guest, line.stock),
             "added_at": now + timedelta(microseconds=index), "updated_at": now}
            for index, line in enumerate(kept)
        ]
        db.session.execute(_adding_to_existing_lines(insert(UserCart).values(values)))
    result = MergeResult(MergeStatus.MERGED, tuple(decided), len(guest.lines))
    events.record(
        events.CART_MERGE, True, user_id,
        lines_merged=result.lines_kept, lines_capped=result.count(capped=True),
        lines_dropped=result.count(dropped=True),
    )
    return result


def merge_safely(user_id: int, guest: GuestCart | None) -> MergeResult:
    """`merge_into_saved_cart` in a savepoint of the caller's transaction.

    A failed merge must never fail the sign-in around it: the savepoint is rolled back, the
    failure is logged and recorded as an event, and the result says `FAILED` so the caller
    keeps the guest lines for a retry.
    """
    if guest is None or not guest.lines:
        return MergeResult()
    try:
        with db.session.begin_nested():
            return merge_into_saved_cart(user_id, guest)
    except Exception as error:  # noqa: BLE001 - the one broad catch (STYLE.md): never lose a sign-in
        log.error("cart merge failed for user %s", user_id, exc_info=loggable_error(error))
        events.record(events.CART_MERGE, False, user_id, f"error={type(error).__name__}")
        return MergeResult(MergeStatus.FAILED, lines_in=len(guest.lines))


def retry_merge(user_id: int, guest: GuestCart) -> MergeResult:
    """Merge guest lines that an earlier sign-in could not merge, in a transaction of its own.

    `NotFound` if the account is gone meanwhile: its failed merge's event, which names the
    account, is refused by the database before the commit is reached."""
    begin_write()
    try:
        result = merge_safely(user_id, guest)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise NotFound(f"user {user_id}") from None
    return result


# Cleanup --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CleanupResult:
    inactive_lines: int
    stale_lines: int
    old_merges: int
    dry_run: bool


def _delete_in_batches(model, condition) -> int:  # noqa: ANN001
    """Delete the rows meeting `condition`, `CLEANUP_BATCH_ROWS` a transaction, so no lock is
    held for long however many there are; how many went."""
    key = tuple_(*model.__table__.primary_key.columns)
    removed = 0
    while True:
        begin_write()
        batch = select(*model.__table__.primary_key.columns).where(condition)
        count = db.session.execute(
            delete(model).where(key.in_(batch.limit(CLEANUP_BATCH_ROWS)))
        ).rowcount
        db.session.commit()
        removed += count
        if count < CLEANUP_BATCH_ROWS:
            return removed


def cleanup(days: int = CART_UNTOUCHED_DAYS, dry_run: bool = False) -> CleanupResult:
    """Remove saved-cart lines of inactive products, lines untouched for `days` days, and
    merge records older than the longest session (30 days), which can no longer be replayed.

    Idempotent; with `dry_run`, only counts. Each line is counted under one kind (inactive
    first). Rows go in batches of `CLEANUP_BATCH_ROWS`, each its own short transaction, so
    shoppers' carts are never locked for long, whatever the backlog.
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
    counts = [_delete_in_batches(model, condition) for model, condition in kinds]
    return CleanupResult(*counts, dry_run=False)
