"""The seed's figures: events recorded beside the actions they count, and the report."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass
from datetime import timedelta

from sqlalchemy import case, func, select

from storefront.database import db
from storefront.models import EVENT_DETAIL_MAX_CHARS, Event, Profile, User, UserSession, utcnow

REGISTRATION = "registration"
LOGIN = "login"
CART_MERGE = "cart_merge"
SESSION_CAME_BACK_AFTER = timedelta(hours=1)


def record(kind: str, ok: bool, user_id: int | None = None, detail: str = "") -> None:
    """Add an event to the current transaction; it commits (or not) with the action."""
    db.session.add(
        Event(kind=kind, ok=ok, user_id=user_id, detail=detail[:EVENT_DETAIL_MAX_CHARS])
    )


def record_failure(kind: str, user_id: int | None = None, detail: str = "") -> None:
    """Record a failed action in a transaction of its own (the action's was rolled back)."""
    record(kind, False, user_id, detail)
    db.session.commit()


def _rate(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


@dataclass(frozen=True)
class Report:
    days: int
    registration_attempts: int
    accounts_created: int
    registration_success_rate: float | None
    profiles_created: int
    profile_creation_success_rate: float | None
    sign_ins: int
    failed_sign_ins: int
    sessions_started: int
    sessions_active: int
    sessions_revoked: int
    session_persistence_rate: float | None
    median_session_minutes: float | None
    cart_merges_attempted: int
    cart_merges_succeeded: int
    cart_merges_failed: int
    cart_merge_success_rate: float | None
    cart_lines_merged: int
    cart_lines_capped: int
    cart_lines_dropped: int

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _event_counts(kind: str, since) -> tuple[int, int]:  # noqa: ANN001
    """(all, ok) events of one kind since a moment."""
    total, ok = db.session.execute(
        select(func.count(), func.coalesce(func.sum(case((Event.ok, 1), else_=0)), 0)).where(
            Event.kind == kind, Event.created_at >= since
        )
    ).one()
    return int(total), int(ok)


def _merge_line_counts(since) -> tuple[int, int, int]:  # noqa: ANN001
    """Lines merged, capped and dropped, from the `merged=N capped=N dropped=N` details."""
    merged = capped = dropped = 0
    for detail in db.session.scalars(
        select(Event.detail).where(
            Event.kind == CART_MERGE, Event.ok, Event.created_at >= since
        )
    ):
        fields = dict(part.split("=", 1) for part in detail.split() if "=" in part)
        merged += int(fields.get("merged", 0))
        capped += int(fields.get("capped", 0))
        dropped += int(fields.get("dropped", 0))
    return merged, capped, dropped


def build_report(days: int = 30) -> Report:
    """The figures for the last `days` days.

    Registration success = accounts created / valid registration attempts (events). Profile
    creation success is measured from the tables (accounts created in the period that have a
    profile / accounts created), so a profile lost by any path shows. Session persistence is
    the share of sessions started in the period that were seen again more than an hour after
    they began; the median length runs from creation to last activity (or revocation).
    """
    now = utcnow()
    since = now - timedelta(days=days)
    registration_attempts, registrations_ok = _event_counts(REGISTRATION, since)
    login_attempts, logins_ok = _event_counts(LOGIN, since)
    merges_attempted, merges_ok = _event_counts(CART_MERGE, since)
    merged, capped, dropped = _merge_line_counts(since)

    accounts_created, with_profile = db.session.execute(
        select(func.count(User.id), func.count(Profile.user_id))
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
    active = sum(1 for row in sessions if row.revoked_at is None and row.expires_at > now)
    revoked = sum(1 for row in sessions if row.revoked_at is not None)
    came_back = sum(1 for length in lengths if length > SESSION_CAME_BACK_AFTER)
    median_minutes = (
        round(statistics.median(length.total_seconds() for length in lengths) / 60, 1)
        if lengths else None
    )
    return Report(
        days=days,
        registration_attempts=registration_attempts,
        accounts_created=accounts_created,
        registration_success_rate=_rate(registrations_ok, registration_attempts),
        profiles_created=with_profile,
        profile_creation_success_rate=_rate(with_profile, accounts_created),
        sign_ins=logins_ok,
        failed_sign_ins=login_attempts - logins_ok,
        sessions_started=len(sessions),
        sessions_active=active,
        sessions_revoked=revoked,
        session_persistence_rate=_rate(came_back, len(sessions)),
        median_session_minutes=median_minutes,
        cart_merges_attempted=merges_attempted,
        cart_merges_succeeded=merges_ok,
        cart_merges_failed=merges_attempted - merges_ok,
        cart_merge_success_rate=_rate(merges_ok, merges_attempted),
        cart_lines_merged=merged,
        cart_lines_capped=capped,
        cart_lines_dropped=dropped,
    )
