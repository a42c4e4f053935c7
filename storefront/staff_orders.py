"""The staff area's orders: the list (filter, search, pages), one order with its history,
status changes through the one state machine (orders.transition), the CSV export and the
dashboard's order figures.

The history of an order is its `audit_events` rows (object_type `order`, object_id its
number), written by orders.transition in the transaction of each change.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, case, func, or_, select

from storefront import csv_export, orders, payments
from storefront.audit import Actor
from storefront.database import begin_write, db
from storefront.exceptions import NotFound
from storefront.models import AuditEvent, Order, utcnow
from storefront.staff import Page, _paged

STATUSES = (orders.PLACED, orders.PAID, orders.SHIPPED, orders.DELIVERED, orders.CANCELLED)
EXPORT_HEADER = ("number", "placed_at", "status", "email", "name", "country",
                 "payment_method", "payment_reference", "subtotal", "shipping", "total",
                 "currency", "tracking")
EXPORT_BATCH_ROWS = 500


def _filtered(statement: Any, status: str = "", query: str = "") -> Any:
    if status in STATUSES:
        statement = statement.where(Order.status == status)
    query = query.strip()
    if query:
        needle = query.lower()
        statement = statement.where(or_(
            Order.number.contains(query.upper(), autoescape=True),
            func.lower(Order.email).contains(needle, autoescape=True)))
    return statement.order_by(Order.placed_at.desc(), Order.id.desc())


def list_orders(status: str = "", query: str = "", page: int = 1) -> Page:
    """Every order, newest first, filtered by status (one of `STATUSES`, else none) and
    searched by number or e-mail (a literal substring, any case); one query a page."""
    result = _paged(_filtered(select(Order), status, query), page)
    return Page([row[0] for row in result.rows], result.page, result.has_next)


@dataclass(frozen=True)
class Change:
    """One line of an order's history."""

    when: datetime
    who: str
    before: str | None
    after: str
    tracking: str | None
    note: str | None


@dataclass(frozen=True)
class StaffOrder:
    view: orders.OrderView
    history: list[Change]

    @property
    def order(self) -> Order:
        return self.view.order

    @property
    def next_statuses(self) -> list[str]:
        allowed = orders.TRANSITIONS.get(self.order.status, frozenset())
        return [status for status in STATUSES if status in allowed]


def _find(number: str, lock: bool = False) -> Order:
    if not orders.NUMBER_PATTERN.fullmatch(number or ""):
        raise NotFound(f"order {number!r}")
    statement = select(Order).where(Order.number == number)
    if lock:
        statement = statement.with_for_update().execution_options(populate_existing=True)
    order = db.session.scalar(statement)
    if order is None:
        raise NotFound(f"order {number}")
    return order


def get_order(number: str) -> StaffOrder:
    """One order with its lines and status history (three queries); `NotFound`."""
    order = _find(number)
    lines = orders._lines_of([order.id])[order.id]  # noqa: SLF001 - the orders module's read
    history = [
        Change(row.created_at, row.actor_email, (row.before or {}).get("status"),
               (row.after or {}).get("status", ""), (row.after or {}).get("tracking"),
               (row.after or {}).get("note"))
        for row in db.session.scalars(
            select(AuditEvent).where(AuditEvent.object_type == "order",
                                     AuditEvent.object_id == number)
            .order_by(AuditEvent.created_at, AuditEvent.id))]
    return StaffOrder(orders.OrderView(order, lines), history)


def change_status(actor: Actor, number: str, to_status: str,
                  tracking: str | None = None) -> Order:
    """Move an order to `to_status` for staff, in one transaction with its restock (a
    cancel), its audit row and the shopper's notice. The row is locked first, so two staff
    members pressing at once change it once. Raises `NotFound`, `ImpossibleTransition`
    (nothing written)."""
    if not orders.NUMBER_PATTERN.fullmatch(number or ""):
        raise NotFound(f"order {number!r}")
    begin_write()
    try:
        order = _find(number, lock=True)
        orders.transition(order, to_status, by_staff=True, actor=actor, tracking=tracking)
    except BaseException:
        db.session.rollback()
        raise
    db.session.commit()
    return order


def export_csv(status: str = "", query: str = "") -> Iterator[str]:
    """The filtered list as CSV (csv_export: formula-like cells made inert), streamed in
    chunks from one query, whatever the number of orders."""
    columns = (Order.number, Order.placed_at, Order.status, Order.email, Order.ship_name,
               Order.ship_country, Order.payment_method, Order.payment_reference,
               Order.subtotal, Order.shipping, Order.total, Order.currency, Order.tracking)
    rows = db.session.execute(_filtered(select(*columns), status, query)).all()
    yield csv_export.to_csv(EXPORT_HEADER, [])
    for start in range(0, len(rows), EXPORT_BATCH_ROWS):
        batch = rows[start:start + EXPORT_BATCH_ROWS]
        yield csv_export.rows_to_csv(
            (row.number, row.placed_at.isoformat(timespec="seconds"), *row[2:])
            for row in batch)


# Dashboard ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class OrderFigures:
    orders_today: int
    revenue_today: Decimal
    orders_week: int
    revenue_week: Decimal
    awaiting_payment: int
    awaiting_shipping: int


def order_figures(now: datetime | None = None) -> OrderFigures:
    """Today's and this week's (from Monday, UTC) orders and revenue (cancelled orders not
    counted), orders placed by bank transfer awaiting payment, and paid orders awaiting
    shipping: one query."""
    now = now or utcnow()
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    week = today - timedelta(days=today.weekday())
    counted = Order.status != orders.CANCELLED

    def count(*conditions: Any) -> Any:
        return func.coalesce(func.sum(case((and_(*conditions), 1), else_=0)), 0)

    def revenue(since: datetime) -> Any:
        return func.coalesce(func.sum(case((and_(counted, Order.placed_at >= since),
                                            Order.total), else_=0)), 0)

    row = db.session.execute(select(
        count(counted, Order.placed_at >= today), revenue(today),
        count(counted, Order.placed_at >= week), revenue(week),
        count(Order.status == orders.PLACED, Order.payment_method == payments.BANK_TRANSFER),
        count(Order.status == orders.PAID),
    )).one()
    return OrderFigures(int(row[0]), Decimal(row[1]).quantize(Decimal("0.01")), int(row[2]),
                        Decimal(row[3]).quantize(Decimal("0.01")), int(row[4]), int(row[5]))
