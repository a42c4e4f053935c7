"""Orders: the checkout's review, placing an order, the order history, and the one state
machine every status change goes through (shopper views, staff views and the CLI alike).

Placing is one transaction of a constant number of statements whatever the number of lines:
the account's row is locked (one shopper's submits happen one after the other), the products
are read and locked in id order (two orders sharing products never deadlock), compared with
what the review page showed, and the stock is taken by one guarded UPDATE that must match
every line or everything rolls back. The order copies names, SKUs, unit prices and both
addresses, so later changes to products or the address book never alter it.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from flask import current_app
from sqlalchemy import and_, delete, func, literal, or_, select, update

from storefront import audit, carts, events, mail, payments
from storefront.database import begin_write, db, insert
from storefront.exceptions import (
    CheckoutChanged,
    ImpossibleTransition,
    NotFound,
)
from storefront.ids import require_id
from storefront.models import (
    IDEMPOTENCY_KEY_MAX_CHARS,
    ORDERS_PER_PAGE,
    Address,
    Order,
    OrderLine,
    Product,
    User,
    UserCart,
    utcnow,
)
from storefront.money import format_money

PLACED = "placed"
PAID = "paid"
SHIPPED = "shipped"
DELIVERED = "delivered"
CANCELLED = "cancelled"
# The state machine (CONTRACT.md): where each status may go, and by whom.
TRANSITIONS: dict[str, frozenset[str]] = {
    PLACED: frozenset({PAID, CANCELLED}),
    PAID: frozenset({SHIPPED, CANCELLED}),
    SHIPPED: frozenset({DELIVERED}),
    DELIVERED: frozenset(),
    CANCELLED: frozenset(),
}
SHOPPER_TRANSITIONS: dict[str, frozenset[str]] = {PLACED: frozenset({CANCELLED})}
# Statuses whose stock is still taken: cancelling one of them puts it back.
HOLDING_STOCK = frozenset({PLACED, PAID})

MAIL_ORDER_PLACED = mail.ORDER_PLACED
MAIL_ORDER_CANCELLED = mail.ORDER_CANCELLED
MAIL_ORDER_STATUS = mail.ORDER_STATUS
# The audit trail's action for each staff status change (the order's history).
STAFF_ACTIONS = {PAID: "mark_paid", SHIPPED: "ship", DELIVERED: "deliver",
                 CANCELLED: "cancel"}
STATUS_SUBJECTS = {PAID: "Your order {number} is paid",
                   SHIPPED: "Your order {number} is on its way",
                   DELIVERED: "Your order {number} was delivered"}

# SF-XXXX-XXXX: no 0/O or 1/I to misread, 32**8 (about 10**12) numbers.
NUMBER_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
NUMBER_PATTERN = re.compile(r"SF-[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}")
NUMBER_ATTEMPTS = 5
IDEMPOTENCY_KEY_PATTERN = re.compile(rf"[A-Za-z0-9_-]{{16,{IDEMPOTENCY_KEY_MAX_CHARS}}}")
IDEMPOTENCY_KEY_BYTES = 24

# A review snapshot: (product id, quantity, unit price as text) per line, in cart order.
Snapshot = tuple[tuple[int, int, str], ...]


def _queue_order_mail(kind: str, order: Order, lines: list[OrderLine] | None = None,
                      by_staff: bool = False) -> None:
    """Queue the order's confirmation, status or cancellation notice in the outbox, inside
    the action's transaction, to the address the order was placed with; a detached order
    (its account deleted) has none and gets no mail. `lines` when the caller has them
    already, else one read. A staff action queues it with no account (`user_id` NULL): the
    outbox's insert policy lets a request queue mail only for itself or for nobody."""
    if not order.email:
        return
    subject = {MAIL_ORDER_PLACED: f"Your order {order.number}",
               MAIL_ORDER_CANCELLED: f"Your order {order.number} was cancelled"}.get(kind)
    if kind == MAIL_ORDER_STATUS:
        subject = STATUS_SUBJECTS[order.status].format(number=order.number)
    order_url = mail.external_url("checkout.order", number=order.number)
    mail.queue(kind, None if by_staff else order.user_id, order.email, subject=subject,
               **order_mail_context(order, order_url, lines))


def order_mail_context(order: Order, order_url: str,
                       lines: list[OrderLine] | None = None) -> dict[str, object]:
    """What templates/mail/order_*.txt and .html show: the order, its lines (given, or one
    query), how to pay, and the link to the order's page."""
    return {"order": order, "lines": _lines_of([order.id])[order.id] if lines is None else lines,
            "instructions": payment_instructions(order), "order_url": order_url}


def new_order_number() -> str:
    chars = "".join(secrets.choice(NUMBER_ALPHABET) for _ in range(8))
    return f"SF-{chars[:4]}-{chars[4:]}"


def new_idempotency_key() -> str:
    return secrets.token_urlsafe(IDEMPOTENCY_KEY_BYTES)


def is_idempotency_key(text: str | None) -> bool:
    return bool(text) and IDEMPOTENCY_KEY_PATTERN.fullmatch(text) is not None


def shipping_for(subtotal: Decimal) -> Decimal:
    """`SHIPPING_FLAT_RATE`, or nothing from `FREE_SHIPPING_OVER` on (and for an empty cart)."""
    config = current_app.config
    if subtotal <= 0 or subtotal >= config["FREE_SHIPPING_OVER"]:
        return Decimal("0.00")
    return config["SHIPPING_FLAT_RATE"]


@dataclass(frozen=True)
class Totals:
    subtotal: Decimal
    shipping: Decimal

    @property
    def total(self) -> Decimal:
        return self.subtotal + self.shipping


def totals_of(subtotal: Decimal) -> Totals:
    return Totals(subtotal, shipping_for(subtotal))


# The review (GET /checkout) ---------------------------------------------------------------------

@dataclass(frozen=True)
class Review:
    """What the checkout page shows: the cart at current prices, the totals, what stands in
    the way of placing it, and the address book."""

    cart: carts.CartView
    addresses: list[Address]
    problems: list[str]

    @property
    def totals(self) -> Totals:
        return totals_of(self.cart.subtotal)

    @property
    def snapshot(self) -> Snapshot:
        return tuple((line.product.id, line.quantity, f"{line.product.price:.2f}")
                     for line in self.cart.lines)

    @property
    def can_place(self) -> bool:
        return bool(self.cart.lines) and not self.problems

    def default(self, kind: str) -> int | None:
        """The id of the default shipping or billing address (else the first one)."""
        flag = "default_shipping" if kind == "shipping" else "default_billing"
        chosen = next((a.id for a in self.addresses if getattr(a, flag)), None)
        if chosen is None and kind == "shipping" and self.addresses:
            return self.addresses[0].id
        return chosen


def line_problem(product: Product, quantity: int) -> str | None:
    """Why a line cannot be bought as it stands, or None."""
    if not product.active:
        return f"{product.name} is no longer sold: remove it from your cart."
    if product.stock <= 0:
        return f"{product.name} is sold out: remove it from your cart."
    if quantity > product.stock:
        return (f"Only {product.stock} of {product.name} left: lower the quantity in your "
                f"cart to {product.stock} or less.")
    return None


def review_checkout(user_id: int) -> Review:
    """The saved cart and the address book as the checkout page shows them (two queries)."""
    cart = carts.get_saved_cart(user_id)
    problems = [problem for line in cart.lines
                if (problem := line_problem(line.product, line.quantity))]
    addresses = list(db.session.scalars(
        select(Address).where(Address.user_id == user_id).order_by(
            Address.default_shipping.desc(), Address.id)))
    return Review(cart, addresses, problems)


def record_checkout_view(user_id: int) -> None:
    """Count a checkout begun (once per review key), for the conversion figure."""
    begin_write()
    events.record(events.CHECKOUT_VIEW, True, user_id)
    db.session.commit()


# Placing --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Placed:
    order: Order
    created: bool  # False: this key had placed it before (a double submit, a retry)


def _changes(snapshot: Snapshot, rows: Sequence) -> list[str]:  # noqa: C901 - one list of cases
    """What differs between the review and the cart, prices and stock now (locked rows)."""
    reviewed = {pid: (qty, Decimal(price)) for pid, qty, price in snapshot}
    changes: list[str] = []
    seen = set()
    for row in rows:
        product, quantity = row.Product, row.quantity
        seen.add(product.id)
        before = reviewed.get(product.id)
        if quantity is None:
            if before is not None:
                changes.append(f"{product.name} was removed from your cart since the review.")
            continue
        if before is None:
            changes.append(f"{product.name} was added to your cart since the review.")
            continue
        if quantity != before[0]:
            changes.append(f"{product.name}: the quantity in your cart changed from "
                           f"{before[0]} to {quantity}.")
        if product.price != before[1]:
            changes.append(f"{product.name}: the price changed from {format_money(before[1])} "
                           f"to {format_money(product.price)}.")
        problem = line_problem(product, quantity)
        if problem:
            changes.append(problem)
    if any(pid not in seen for pid in reviewed):
        changes.append("A product you reviewed is no longer in the catalog.")
    return changes


def _address_values(prefix: str, address: Address) -> dict[str, object]:
    return {
        f"{prefix}_name": address.full_name, f"{prefix}_line1": address.line1,
        f"{prefix}_line2": address.line2, f"{prefix}_city": address.city,
        f"{prefix}_postal_code": address.postal_code, f"{prefix}_region": address.region,
        f"{prefix}_country": address.country, f"{prefix}_phone": address.phone,
    }


def _existing(user_id: int, key: str) -> Order | None:
    return db.session.scalar(
        select(Order).where(Order.user_id == user_id, Order.idempotency_key == key))


def place_order(user_id: int, idempotency_key: str, snapshot: Snapshot | None,
                shipping_address_id: int, billing_address_id: int | None,
                payment_method: str) -> Placed:
    """Place the saved cart as an order, in one transaction.

    Rules: the key is unique per account, so the same key placed again (a double click, a
    retry, two tabs) returns the order it placed (`created` False) and places nothing.
    Otherwise the cart must be exactly what the review showed (`snapshot`: the lines, their
    quantities and prices), every line must be active and in stock, or `CheckoutChanged`
    says what changed and nothing is written. Stock is taken by one guarded UPDATE (`stock >=
    quantity`) that must match every line. The order copies names, SKUs, unit prices and
    both addresses (billing: the shipping address when None); the saved cart is emptied; an
    event is recorded and the confirmation mail queued, all in the same transaction. About
    nine statements, whatever the number of lines.

    Raises `NotFound` (an address that is not this account's, or the account is gone),
    `UnknownPaymentMethod`, `CheckoutChanged`.
    """
    method = payments.get_method(payment_method)
    require_id(shipping_address_id)
    if billing_address_id is not None:
        require_id(billing_address_id)
    begin_write()
    email = db.session.scalar(
        select(User.email).where(User.id == user_id).with_for_update(of=User))
    if email is None:
        db.session.rollback()
        raise NotFound(f"user {user_id}")
    existing = _existing(user_id, idempotency_key)
    if existing is not None:
        db.session.rollback()
        return Placed(existing, created=False)
    if snapshot is None:
        db.session.rollback()
        raise CheckoutChanged(["This checkout page has expired: please review your order "
                               "again."])
    wanted = {shipping_address_id, billing_address_id or shipping_address_id}
    found = {address.id: address for address in db.session.scalars(
        select(Address).where(Address.user_id == user_id, Address.id.in_(wanted)))}
    if set(found) != wanted:
        db.session.rollback()
        raise NotFound("address")
    shipping_address = found[shipping_address_id]
    billing_address = found[billing_address_id or shipping_address_id]

    in_cart = select(UserCart.product_id).where(UserCart.user_id == user_id)
    rows = db.session.execute(
        select(Product, UserCart.quantity)
        .outerjoin(UserCart, and_(UserCart.product_id == Product.id,
                                  UserCart.user_id == user_id))
        .where(or_(Product.id.in_([pid for pid, _qty, _price in snapshot]),
                   Product.id.in_(in_cart)))
        .order_by(Product.id)
        .with_for_update(of=Product)
    ).all()
    lines = [row for row in rows if row.quantity is not None]
    changes = _changes(snapshot, rows) if lines else ["Your cart is empty."]
    if changes:
        db.session.rollback()
        raise CheckoutChanged(changes)

    taken = db.session.execute(
        update(Product)
        .where(Product.id == UserCart.product_id, UserCart.user_id == user_id,
               Product.active, Product.stock >= UserCart.quantity)
        .values(stock=Product.stock - UserCart.quantity)
    ).rowcount
    if taken != len(lines):  # a second wall: the locked read above already agreed
        db.session.rollback()
        raise CheckoutChanged(["The stock changed while your order was being placed: please "
                               "review it again."])

    totals = totals_of(sum((row.Product.price * row.quantity for row in lines),
                           Decimal("0.00")))
    now = utcnow()
    order = None
    for _attempt in range(NUMBER_ATTEMPTS):
        number = new_order_number()
        order = db.session.scalar(
            insert(Order).values(
                number=number, user_id=user_id, idempotency_key=idempotency_key,
                status=PLACED, payment_method=method.code,
                payment_reference=method.reference_for(number), email=email,
                currency=current_app.config["CURRENCY"], subtotal=totals.subtotal,
                shipping=totals.shipping, total=totals.total, placed_at=now, updated_at=now,
                **_address_values("ship", shipping_address),
                **_address_values("bill", billing_address),
            ).on_conflict_do_nothing(index_elements=["number"]).returning(Order)
        )
        if order is not None:
            break
    if order is None:  # five random numbers in a row taken: practically never
        db.session.rollback()
        raise CheckoutChanged(["We could not number your order: please try again."])
    db.session.execute(
        insert(OrderLine).from_select(
            ["order_id", "product_id", "sku", "name", "unit_price", "quantity"],
            select(literal(order.id, OrderLine.order_id.type), Product.id, Product.sku,
                   Product.name, Product.price, UserCart.quantity)
            .join(UserCart, UserCart.product_id == Product.id)
            .where(UserCart.user_id == user_id)
        )
    )
    db.session.execute(delete(UserCart).where(UserCart.user_id == user_id))
    events.record(events.ORDER_PLACED, True, user_id, order.number)
    _queue_order_mail(MAIL_ORDER_PLACED, order, [
        OrderLine(order_id=order.id, product_id=row.Product.id, sku=row.Product.sku,
                  name=row.Product.name, unit_price=row.Product.price, quantity=row.quantity)
        for row in lines])
    db.session.commit()
    return Placed(order, created=True)


# Status changes: the one state machine ---------------------------------------------------------

def _restore_stock(order_id: int) -> None:
    """Put an order's quantities back: its products locked in id order, then one UPDATE."""
    products = select(OrderLine.product_id).where(OrderLine.order_id == order_id)
    db.session.execute(
        select(Product.id).where(Product.id.in_(products)).order_by(Product.id)
        .with_for_update()
    ).all()
    per_product = (
        select(OrderLine.product_id, func.sum(OrderLine.quantity).label("quantity"))
        .where(OrderLine.order_id == order_id, OrderLine.product_id.is_not(None))
        .group_by(OrderLine.product_id)
        .subquery()
    )
    db.session.execute(
        update(Product).where(Product.id == per_product.c.product_id)
        .values(stock=Product.stock + per_product.c.quantity)
    )


def transition(order: Order, to_status: str, *, by_staff: bool = False,
               actor: audit.Actor | None = None, tracking: str | None = None,
               note: str | None = None) -> Order:
    """Move an order to `to_status`, inside the caller's transaction (no commit): the one
    place a status changes.

    Allowed (CONTRACT.md): placed → paid → shipped → delivered; cancelled from placed
    (shopper or staff) or paid (staff only). The UPDATE is guarded by the status read, so of
    two simultaneous changes one wins and the other raises. Shipping keeps `tracking` (the
    carrier's reference, optional). Cancelling puts the stock back and records an event;
    every change queues the shopper's notice (cancelled, or paid / shipped / delivered), in
    the same transaction. A staff change (`actor` given) also writes its audit row, the
    order's history: before and after status (and tracking). Raises `ImpossibleTransition`.
    """
    allowed = (TRANSITIONS if by_staff else SHOPPER_TRANSITIONS).get(order.status, frozenset())
    if to_status not in allowed:
        raise ImpossibleTransition(order.number, order.status, to_status)
    now = utcnow()
    values: dict[str, object] = {"status": to_status, "updated_at": now}
    if to_status == SHIPPED:
        values["tracking"] = tracking or None
    changed = db.session.execute(
        update(Order).where(Order.id == order.id, Order.status == order.status)
        .values(**values)
        .execution_options(synchronize_session=False)
    ).rowcount
    if changed != 1:
        raise ImpossibleTransition(order.number, order.status, to_status)
    was = order.status
    order.status, order.updated_at = to_status, now
    if to_status == SHIPPED:
        order.tracking = tracking or None
    if actor is not None:
        after: dict[str, object] = {"status": to_status}
        if to_status == SHIPPED:
            after["tracking"] = order.tracking
        if note:
            after["note"] = note
        audit.record(actor, STAFF_ACTIONS[to_status], "order", order.number,
                     {"status": was}, after)
    if to_status == CANCELLED:
        if was in HOLDING_STOCK:
            _restore_stock(order.id)
        # Staff act for the shop: their event names no shopper (events_write policy).
        events.record(events.ORDER_CANCELLED, True, None if by_staff else order.user_id,
                      order.number)
        _queue_order_mail(MAIL_ORDER_CANCELLED, order, by_staff=by_staff)
    else:
        _queue_order_mail(MAIL_ORDER_STATUS, order, by_staff=by_staff)
    return order


def cancel_order(user_id: int, number: str) -> Order:
    """The shopper cancels one of their orders still `placed`; its stock goes back.

    The order's row is locked first, so of two simultaneous cancels one cancels and the
    other finds it cancelled (`ImpossibleTransition`): the stock comes back once. Raises
    `NotFound` (not this account's order) or `ImpossibleTransition` (paid, shipped,
    delivered or already cancelled).
    """
    if not NUMBER_PATTERN.fullmatch(number or ""):
        raise NotFound(f"order {number!r}")
    begin_write()
    order = db.session.scalar(
        select(Order).where(Order.user_id == user_id, Order.number == number)
        .with_for_update().execution_options(populate_existing=True))
    if order is None:
        db.session.rollback()
        raise NotFound(f"order {number}")
    try:
        transition(order, CANCELLED)
    except ImpossibleTransition:
        db.session.rollback()
        raise
    db.session.commit()
    return order


# Reading orders -------------------------------------------------------------------------------

@dataclass(frozen=True)
class OrderView:
    order: Order
    lines: list[OrderLine] = field(default_factory=list)

    @property
    def cancellable(self) -> bool:
        return CANCELLED in SHOPPER_TRANSITIONS.get(self.order.status, frozenset())


def _lines_of(order_ids: Iterable[int]) -> dict[int, list[OrderLine]]:
    ids = list(order_ids)
    found: dict[int, list[OrderLine]] = {order_id: [] for order_id in ids}
    if ids:
        # The product's picture comes along in the same statement (none once it is deleted).
        for line, image_key in db.session.execute(
                select(OrderLine, Product.image_key)
                .outerjoin(Product, Product.id == OrderLine.product_id)
                .where(OrderLine.order_id.in_(ids)).order_by(OrderLine.id)):
            line.image_key = image_key
            found[line.order_id].append(line)
    return found


def list_orders(user_id: int, page: int = 1) -> tuple[list[OrderView], bool]:
    """One page of the account's orders, newest first, with their lines (two queries);
    and whether a next page exists."""
    offset = (page - 1) * ORDERS_PER_PAGE
    rows = list(db.session.scalars(
        select(Order).where(Order.user_id == user_id)
        .order_by(Order.placed_at.desc(), Order.id.desc())
        .offset(offset).limit(ORDERS_PER_PAGE + 1)))
    has_next = len(rows) > ORDERS_PER_PAGE
    rows = rows[:ORDERS_PER_PAGE]
    lines = _lines_of(order.id for order in rows)
    return [OrderView(order, lines[order.id]) for order in rows], has_next


def get_order(user_id: int, number: str) -> OrderView:
    """One of the account's orders with its lines; `NotFound` for anyone else's."""
    if not NUMBER_PATTERN.fullmatch(number or ""):
        raise NotFound(f"order {number!r}")
    order = db.session.scalar(
        select(Order).where(Order.user_id == user_id, Order.number == number))
    if order is None:
        raise NotFound(f"order {number}")
    return OrderView(order, _lines_of([order.id])[order.id])


def payment_instructions(order: Order) -> str:
    """What the shopper must do to pay for this order."""
    method = payments.get_method(order.payment_method)
    return method.instructions(order.number, order.total, order.currency,
                               order.payment_reference)


# Accounts and the books -------------------------------------------------------------------------

def detach_orders(user_id: int) -> int:
    """Before an account is deleted (inside its transaction): its orders stay for the shop's
    books with their totals, lines and countries, but lose the name, the e-mail, the street
    addresses and the phone numbers. The account's deletion then sets their `user_id` to
    NULL (the foreign key's ON DELETE SET NULL, which row-level security lets through: the
    app role itself may never make an order nobody's). Returns how many."""
    blank = {f"{prefix}_{name}": "" for prefix in ("ship", "bill")
             for name in ("name", "line1", "line2", "city", "postal_code", "region")}
    return db.session.execute(
        update(Order).where(Order.user_id == user_id)
        .values(email=None, idempotency_key=None, ship_phone=None, bill_phone=None,
                updated_at=utcnow(), **blank)
        .execution_options(synchronize_session=False)
    ).rowcount


def orders_with_wrong_totals() -> list[str]:
    """Numbers of orders whose subtotal is not the sum of their lines, or whose total is not
    subtotal plus shipping (one query)."""
    sums = (
        select(OrderLine.order_id,
               func.sum(OrderLine.unit_price * OrderLine.quantity).label("lines_sum"))
        .group_by(OrderLine.order_id)
        .subquery()
    )
    lines_sum = func.coalesce(sums.c.lines_sum, 0)
    return list(db.session.scalars(
        select(Order.number)
        .outerjoin(sums, sums.c.order_id == Order.id)
        .where(or_(Order.subtotal != lines_sum, Order.total != Order.subtotal + Order.shipping))
        .order_by(Order.id)
    ))
