"""The staff audit trail: every staff change adds one `audit_events` row in the change's own
transaction (so a change without its row cannot commit, nor a row without its change)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from storefront.database import db
from storefront.exceptions import NotFound
from storefront.models import AUDIT_ACTION_MAX_CHARS, MAX_PAGE, AuditEvent, utcnow

AUDIT_PER_PAGE = 50


@dataclass(frozen=True)
class Actor:
    """The staff member making a change, as the audit row keeps them."""

    id: int | None  # None: the command line
    email: str


def record(actor: Actor, action: str, object_type: str, object_id: object,
           before: dict[str, Any] | None = None, after: dict[str, Any] | None = None) -> None:
    """Add the audit row of a change to the open transaction (the caller commits)."""
    db.session.add(AuditEvent(
        actor_id=actor.id, actor_email=actor.email, action=action[:AUDIT_ACTION_MAX_CHARS],
        object_type=object_type, object_id=str(object_id),
        before=_plain(before), after=_plain(after), created_at=utcnow(),
    ))


def _plain(values: dict[str, Any] | None) -> dict[str, Any] | None:
    """JSON-ready values: money and times as text."""
    if values is None:
        return None
    return {key: value if isinstance(value, bool | int | str | type(None)) else str(value)
            for key, value in values.items()}


@dataclass(frozen=True)
class AuditPage:
    events: list[AuditEvent]
    page: int
    has_next: bool


def list_events(page: int = 1, object_type: str = "", action: str = "",
                actor: str = "", object_id: str = "") -> AuditPage:
    """Audit rows, newest first, `AUDIT_PER_PAGE` a page, filtered by object type, action,
    actor e-mail (exact) or object id; raises `NotFound` for a page past the last."""
    if not 1 <= page <= MAX_PAGE:
        raise NotFound(f"page {page}")
    statement = select(AuditEvent)
    if object_type:
        statement = statement.where(AuditEvent.object_type == object_type)
    if action:
        statement = statement.where(AuditEvent.action == action)
    if actor:
        statement = statement.where(AuditEvent.actor_email == actor)
    if object_id:
        statement = statement.where(AuditEvent.object_id == object_id)
    rows = list(db.session.scalars(
        statement.order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
        .limit(AUDIT_PER_PAGE + 1).offset((page - 1) * AUDIT_PER_PAGE)
    ))
    if not rows and page > 1:
        raise NotFound(f"page {page}")
    return AuditPage(rows[:AUDIT_PER_PAGE], page, len(rows) > AUDIT_PER_PAGE)


def latest(limit: int) -> list[tuple[datetime, str, str]]:
    """The latest changes for the dashboard: (when, who, what)."""
    return [(row.created_at, row.actor_email, f"{row.action} {row.object_type} {row.object_id}")
            for row in db.session.scalars(
                select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit))]
