"""The seed's figures: events recorded beside the actions they count, and the report."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import case, func, insert, select

from storefront.database import db
from storefront.mail import count_mail
from storefront.models import (
    EVENT_DETAIL_MAX_CHARS,
    Event,
    Order,
    Profile,
    User,
    UserSession,
    utcnow,
)

REGISTRATION = "registration"
LOGIN = "login"  # every successful one starts a session (sign-up, sign-in)
CART_MERGE = "cart_merge"
CHECKOUT_VIEW = "checkout_view"  # a checkout review begun (once per idempotency key)
ORDER_PLACED = "order_placed"
ORDER_CANCELLED = "order_cancelled"
SESSION_CAME_BACK_AFTER = timedelta(hours=1)
CENT = Decimal("0.01")


def record(kind: str, ok: bool, user_id: int | None = None, detail: str = "",
           lines_merged: int | None = None, lines_capped: int | None = None,
           lines_dropped: int | None = None) -> None:
    """Add an event to the current transaction; it commits (or not) with the action.

    A plain INSERT (`inline`: no RETURNING, no id fetched first): under row-level security the
    app may write events but not read them back, and it costs one statement.
    """
    db.session.execute(insert(Event.__table__).inline().values(
        kind=kind, ok=ok, user_id=user_id, detail=detail[:EVENT_DETAIL_MAX_CHARS],
        created_at=utcnow(), lines_merged=lines_merged, lines_capped=lines_capped,
        lines_dropped=lines_dropped,
    ))


def record_failure(kind: str, user_id: int | None = None, detail: str = "") -> None:
    """Record a failed action in a transaction of its own (the action's was rolled back)."""
    record(kind, False, user_id, detail)
    db.session.commit()


def _rate(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


@dataclass(frozen=True)
class Report:
    """The figures of one period. Each comes from one source, and a rate is computed from
    the very counts shown beside it: events for what happened (they outlive deleted
    accounts), the tables for what is true now of the accounts that still exist."""

    days: int
    # From events.
    registration_attempts: int
    accounts_created: int
    registration_success_rate: float | None
    sign_ins: int
    failed_sign_ins: int
    sessions_started: int
    cart_merges_attempted: int
    cart_merges_succeeded: int
    cart_merges_failed: int
    cart_merge_success_rate: float | None
    cart_lines_merged: int
    cart_lines_capped: int
    cart_lines_dropped: int
    # From the tables: accounts created in the period that still exist, their sessions.
    accounts_remaining: int
    profiles_created: int
    profile_creation_success_rate: float | None
    sessions_remaining: int
    sessions_active: int
    sessions_revoked: int
    sessions_expired: int
    sessions_of_deleted_accounts: int
    session_persistence_rate: float | None
    median_session_minutes: float | None
    # Mail: verification of the accounts above, and the outbox.
    accounts_verified: int = 0
    email_verification_rate: float | None = None
    mails_sent: int = 0
    mails_waiting: int = 0
    mails_failed: int = 0
    # Orders (issue 14): from the orders table (detached orders included), checkout views
    # from events.
    orders_placed: int = 0
    orders_cancelled: int = 0
    revenue: str = "0.00"
    average_order_value: str | None = None
    checkout_views: int = 0
    checkout_conversion_rate: float | None = None
    # Successful sign-ins by how they were made (issue 18): "password", "registration" (a
    # password sign-up), "passkey", "oidc:<provider>" (a provider's sign-in or sign-up).
    sign_ins_by_method: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _event_counts(kind: str, since: datetime) -> tuple[int, int]:
    """(all, ok) events of one kind since a moment."""
    total, ok = db.session.execute(
        select(func.count(), func.coalesce(func.sum(case((Event.ok, 1), else_=0)), 0)).where(
            Event.kind == kind, Event.created_at >= since
        )
    ).one()
    return int(total), int(ok)


def sign_in_method(detail: str | None) -> str:
    """The method a successful sign-in event records in its detail ("" is a password)."""
    return detail or "password"


def _sign_ins_by_method(since: datetime) -> dict[str, int]:
    rows = db.session.execute(
        select(Event.detail, func.count()).where(
            Event.kind == LOGIN, Event.ok, Event.created_at >= since)
        .group_by(Event.detail)
    ).all()
    counts: dict[str, int] = {}
    for detail, count in rows:
        method = sign_in_method(detail)
        counts[method] = counts.get(method, 0) + int(count)
    return dict(sorted(counts.items()))


def _merge_line_counts(since: datetime) -> tuple[int, int, int]:
    """Lines merged, capped and dropped by the successful merges since a moment."""
    merged, capped, dropped = db.session.execute(
        select(
            func.coalesce(func.sum(Event.lines_merged), 0),
            func.coalesce(func.sum(Event.lines_capped), 0),
            func.coalesce(func.sum(Event.lines_dropped), 0),
        ).where(Event.kind == CART_MERGE, Event.ok, Event.created_at >= since)
    ).one()
    return int(merged), int(capped), int(dropped)


def _order_figures(since: datetime) -> tuple[int, int, Decimal, Decimal | None]:
    """Orders placed since a moment, how many of them are cancelled, the revenue of the
    others and its average per order (one query)."""
    kept = Order.status != "cancelled"
    placed, cancelled, revenue = db.session.execute(
        select(func.count(), func.coalesce(func.sum(case((kept, 0), else_=1)), 0),
               func.coalesce(func.sum(case((kept, Order.total), else_=0)), 0))
        .where(Order.placed_at >= since)
    ).one()
    revenue = Decimal(revenue).quantize(CENT)
    counted = int(placed) - int(cancelled)
    average = (revenue / counted).quantize(CENT) if counted else None
    return int(placed), int(cancelled), revenue, average


def build_report(days: int = 30) -> Report:
    """The figures for the last `days` days.

    Registration success = successful registrations / valid registration attempts (both
    events, so an account deleted later changes neither). Sign-ins and failed sign-ins are
    separate counts of events; every successful one started a session, so sessions started
    counts them too, deleted accounts included. Profile creation success is measured from
    the tables (accounts created in the period that still exist and have a profile / those
    accounts), so a profile lost by any path shows. The sessions of accounts that still exist
    are split into active, revoked and expired; the rest of the sessions started belonged to
    accounts deleted since. Session persistence is the share of those remaining sessions seen
    again more than an hour after they began; the median length runs from creation to last
    activity (or revocation).
    """
    now = utcnow()
    since = now - timedelta(days=days)
    registration_attempts, registrations_ok = _event_counts(REGISTRATION, since)
    login_attempts, logins_ok = _event_counts(LOGIN, since)
    merges_attempted, merges_ok = _event_counts(CART_MERGE, since)
    merged, capped, dropped = _merge_line_counts(since)
    checkout_views, _ok = _event_counts(CHECKOUT_VIEW, since)
    orders_placed, orders_cancelled, revenue, average = _order_figures(since)

    accounts_remaining, with_profile, verified = db.session.execute(
        select(func.count(User.id), func.count(Profile.user_id),
               func.count(User.email_verified_at))
        .select_from(User)
        .outerjoin(Profile, Profile.user_id == User.id)
        .where(User.created_at >= since)
    ).one()

    sessions = db.session.execute(
        select(
            UserSession.created_at, UserSession.last_seen_at, UserSession.revoked_at,
            UserSession.expires_at,
        ).where(UserSession.created_at >= since)
    ).all()
    lengths = [
        (min(row.last_seen_at, row.revoked_at or row.last_seen_at) - row.created_at)
        for row in sessions
    ]
    revoked = sum(1 for row in sessions if row.revoked_at is not None)
    expired = sum(1 for row in sessions if row.revoked_at is None and row.expires_at <= now)
    came_back = sum(1 for length in lengths if length > SESSION_CAME_BACK_AFTER)
    mail_counts = count_mail(since)
    median_minutes = (
        round(statistics.median(length.total_seconds() for length in lengths) / 60, 1)
        if lengths else None
    )
    return Report(
        days=days,
        registration_attempts=registration_attempts,
        accounts_created=registrations_ok,
        registration_success_rate=_rate(registrations_ok, registration_attempts),
        sign_ins=logins_ok,
        failed_sign_ins=login_attempts - logins_ok,
        sessions_started=logins_ok,
        cart_merges_attempted=merges_attempted,
        cart_merges_succeeded=merges_ok,
        cart_merges_failed=merges_attempted - merges_ok,
        cart_merge_success_rate=_rate(merges_ok, merges_attempted),
        cart_lines_merged=merged,
        cart_lines_capped=capped,
        cart_lines_dropped=dropped,
        accounts_remaining=accounts_remaining,
        profiles_created=with_profile,
        profile_creation_success_rate=_rate(with_profile, accounts_remaining),
        sessions_remaining=len(sessions),
        sessions_active=len(sessions) - revoked - expired,
        sessions_revoked=revoked,
        sessions_expired=expired,
        sessions_of_deleted_accounts=max(0, logins_ok - len(sessions)),
        session_persistence_rate=_rate(came_back, len(sessions)),
        median_session_minutes=median_minutes,
        accounts_verified=verified,
        email_verification_rate=_rate(verified, accounts_remaining),
        mails_sent=mail_counts.sent,
        mails_waiting=mail_counts.waiting,
        mails_failed=mail_counts.failed,
        orders_placed=orders_placed,
        orders_cancelled=orders_cancelled,
        revenue=f"{revenue:.2f}",
        average_order_value=None if average is None else f"{average:.2f}",
        checkout_views=checkout_views,
        checkout_conversion_rate=_rate(orders_placed, checkout_views),
        sign_ins_by_method=_sign_ins_by_method(since),
    )
