"""The shop's mail: written to `outbox` in the transaction of the action it reports, sent by
a worker (`flask mail deliver`) that retries with back-off.

`queue()` renders `templates/mail/<kind>.txt` and `.html` and adds one row to the caller's
transaction: a rolled-back action sends nothing, a committed one is never lost. A mail that
carries a link (verification, reset, e-mail change) holds LINK_SLOT and the token's purpose;
the worker mints the token as it sends, so no token is stored in clear, in the outbox or
anywhere else. Links are built from EXTERNAL_BASE_URL only, never from a request's Host.

The worker claims one due row at a time (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so any
number of workers on any number of hosts never send a mail twice; SQLite's write lock does
the same for its one host). A claim lasts CLAIM_MINUTES: a worker that dies mid-send leaves
its row to come back. A failure is retried after 1, 2, 4 ... minutes; after MAX_ATTEMPTS the
row is marked failed with the error.

Without MAIL_URL, in development (`make run`) each mail is written to the log as its action
commits, links included; elsewhere mails wait in the outbox for a worker with MAIL_URL.
"""

from __future__ import annotations

import contextvars
import logging
import smtplib
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from urllib.parse import unquote, urlsplit

from flask import Flask, Response, current_app, g
from markupsafe import escape
from sqlalchemy import delete, func, insert, literal, select, update
from sqlalchemy.exc import InterfaceError, OperationalError

from storefront import tokens
from storefront.database import begin_write, db
from storefront.models import (
    MAIL_ERROR_MAX_CHARS,
    MAIL_SUBJECT_MAX_CHARS,
    EmailToken,
    OutboxMail,
    User,
    utcnow,
)

log = logging.getLogger(__name__)

VERIFY = "verify_email"
RESET = "password_reset"
EMAIL_CHANGE = "email_change"
PASSWORD_CHANGED = "password_changed"  # noqa: S105 - a mail kind
EMAIL_CHANGED = "email_changed"
# For the orders area (their templates come with it).
ORDER_PLACED = "order_placed"
ORDER_CANCELLED = "order_cancelled"
ORDER_STATUS = "order_status"

SUBJECTS = {
    VERIFY: "Confirm your e-mail address",
    RESET: "Reset your password",
    EMAIL_CHANGE: "Confirm your new e-mail address",
    PASSWORD_CHANGED: "Your password was changed",
    EMAIL_CHANGED: "Your e-mail address was changed",
    ORDER_PLACED: "Your order",
    ORDER_CANCELLED: "Your order was cancelled",
    ORDER_STATUS: "News about your order",
}
# The kinds whose mail carries a link, with the token purpose and the page it opens.
LINKS = {
    VERIFY: (tokens.VERIFY, "auth.verify"),
    RESET: (tokens.RESET, "auth.reset_link"),
    EMAIL_CHANGE: (tokens.EMAIL_CHANGE, "auth.verify"),
}
PURPOSE_PAGES = {purpose: endpoint for purpose, endpoint in LINKS.values()}
LINK_SLOT = "%%LINK%%"
CLAIM_MINUTES = 5
MAX_ATTEMPTS = 8
POLL_SECONDS = 5
DEFAULT_PORTS = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}
QUEUED_KEY = "mail_queued"


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def render(kind: str, **context: object) -> Rendered:
    """The mail of one kind: subject from SUBJECTS (or `subject=` given), bodies from
    `templates/mail/<kind>.txt` and `.html` with the shop's name and base address; the link,
    for kinds that carry one, is LINK_SLOT until the worker sends it."""
    shop = current_app.config["SHOP_NAME"]
    subject = str(context.pop("subject", None) or SUBJECTS[kind])
    values = {"shop_name": shop, "base_url": current_app.config["EXTERNAL_BASE_URL"],
              "link": LINK_SLOT if kind in LINKS else None, "external_url": external_url,
              **context}
    env = current_app.jinja_env
    return Rendered(
        subject=f"{subject} · {shop}"[:MAIL_SUBJECT_MAX_CHARS],
        text=env.get_template(f"mail/{kind}.txt").render(values),
        html=env.get_template(f"mail/{kind}.html").render(values),
    )


def _row(kind: str, mail: Rendered) -> dict[str, object]:
    now = utcnow()
    return {"kind": kind, "subject": mail.subject, "body_text": mail.text,
            "body_html": mail.html, "token_purpose": LINKS[kind][0] if kind in LINKS else None,
            "created_at": now, "attempts": 0, "next_attempt_at": now}


def queue(kind: str, user_id: int | None, to: str, **context: object) -> None:
    """Add one mail to the caller's transaction (it is sent once that commits). A plain
    INSERT: under row-level security a request may add mail but never read it back."""
    db.session.execute(insert(OutboxMail.__table__).inline().values(
        user_id=user_id, recipient=to, **_row(kind, render(kind, **context))))
    _note_queued()


def queue_to_account(kind: str, canonical_email: str, **context: object) -> None:
    """Add a mail for the active account with this canonical e-mail, if there is one, sent
    to the address stored for it (never the one typed): one INSERT ... SELECT, the same work
    whether or not the account exists."""
    values = _row(kind, render(kind, **context))
    columns = ["user_id", "recipient", *values]
    db.session.execute(insert(OutboxMail.__table__).from_select(
        columns,
        select(User.id, User.email, *(literal(value, OutboxMail.__table__.c[name].type)
                                      for name, value in values.items()))
        .where(User.email_canonical == canonical_email, User.is_active),
    ))
    _note_queued()


def _note_queued() -> None:
    g.setdefault(QUEUED_KEY, True)


# Sending ------------------------------------------------------------------------------------

class SmtpTransport:
    """Sends through the server MAIL_URL names: `smtp://` (plain), `smtp+starttls://`,
    `smtps://` (implicit TLS), with `user:password@` for authentication."""

    def __init__(self, url: str, timeout: float) -> None:
        parts = urlsplit(url)
        self.scheme = parts.scheme
        self.host = parts.hostname or "localhost"
        self.port = parts.port or DEFAULT_PORTS[parts.scheme]
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password or "")
        self.timeout = timeout

    def send(self, message: EmailMessage) -> None:
        context = ssl.create_default_context()
        if self.scheme == "smtps":
            client: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout,
                                                    context=context)
        else:
            client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with client:
            if self.scheme == "smtp+starttls":
                client.starttls(context=context)
            if self.username:
                client.login(self.username, self.password)
            client.send_message(message)


class ConsoleTransport:
    """Development without MAIL_URL: each mail goes to the log, link included."""

    def send(self, message: EmailMessage) -> None:
        body = message.get_body(("plain",))
        text = body.get_content() if body is not None else ""
        current_app.logger.info("mail to %s: %s\n%s", message["To"], message["Subject"], text)


Transport = SmtpTransport | ConsoleTransport


def transport_for(app: Flask) -> Transport | None:
    """The configured way out: SMTP, the console in development, or None (mail waits)."""
    if app.config["MAIL_URL"]:
        return SmtpTransport(app.config["MAIL_URL"], app.config["MAIL_TIMEOUT_SECONDS"])
    if app.config["DEVELOPMENT"]:
        return ConsoleTransport()
    return None


@dataclass(frozen=True)
class Claimed:
    id: int
    user_id: int | None
    kind: str
    recipient: str
    subject: str
    body_text: str
    body_html: str
    token_purpose: str | None
    attempts: int


def external_url(endpoint: str, **values: object) -> str:
    """A page's public address, from EXTERNAL_BASE_URL (never a request's Host); usable in
    and out of requests (the worker has none)."""
    path = current_app.url_map.bind("localhost").build(endpoint, values)
    return current_app.config["EXTERNAL_BASE_URL"] + path


def _link(purpose: str, token: str) -> str:
    return external_url(PURPOSE_PAGES[purpose], token=token)


def _link_unwanted(claimed: Claimed) -> str | None:
    """Why a link mail must not go out now, or None: its account is gone, or (but for an
    e-mail change, which goes to the new address) the account's address is no longer the one
    the mail was written for, whose mailbox must not get a working link any more."""
    current = (db.session.scalar(select(User.email).where(User.id == claimed.user_id))
               if claimed.user_id is not None else None)
    if current is None:
        return "the account no longer exists"
    if claimed.token_purpose != tokens.EMAIL_CHANGE and current != claimed.recipient:
        return "the account's address changed since this mail was written"
    return None


def _claim(now: datetime) -> tuple[Claimed, str | None] | None:
    """Claim the next due mail for CLAIM_MINUTES and, if it carries a link, mint its token,
    in one transaction; None when nothing is due."""
    begin_write()
    due = (select(OutboxMail.id)
           .where(OutboxMail.sent_at.is_(None), OutboxMail.failed_at.is_(None),
                  OutboxMail.next_attempt_at <= now)
           .order_by(OutboxMail.next_attempt_at, OutboxMail.id)
           .limit(1)
           .with_for_update(skip_locked=True)
           .scalar_subquery())
    row = db.session.execute(
        update(OutboxMail).where(OutboxMail.id == due)
        .values(attempts=OutboxMail.attempts + 1,
                next_attempt_at=now + timedelta(minutes=CLAIM_MINUTES))
        .returning(OutboxMail.id, OutboxMail.user_id, OutboxMail.kind, OutboxMail.recipient,
                   OutboxMail.subject, OutboxMail.body_text, OutboxMail.body_html,
                   OutboxMail.token_purpose, OutboxMail.attempts)
    ).first()
    if row is None:
        db.session.rollback()
        return None
    claimed = Claimed(*row)
    token = None
    if claimed.token_purpose:
        dropped = _link_unwanted(claimed)
        if dropped:
            _finish(claimed, now, error=dropped, final=True)
            db.session.commit()
            return claimed, None
        new_email = claimed.recipient if claimed.token_purpose == tokens.EMAIL_CHANGE else None
        token = tokens.mint(claimed.user_id, claimed.token_purpose, new_email)
    db.session.commit()
    return claimed, token or ""


def _message(claimed: Claimed, token: str) -> EmailMessage:
    config = current_app.config
    text, html = claimed.body_text, claimed.body_html
    if token:
        link = _link(claimed.token_purpose or "", token)
        text, html = text.replace(LINK_SLOT, link), html.replace(LINK_SLOT, str(escape(link)))
    message = EmailMessage()
    message["From"] = config["MAIL_FROM"]
    message["To"] = claimed.recipient
    message["Subject"] = claimed.subject
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = make_msgid(idstring=f"outbox-{claimed.id}",
                                       domain=urlsplit(config["EXTERNAL_BASE_URL"]).hostname)
    message["X-Storefront-Outbox-Id"] = str(claimed.id)
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


def _finish(claimed: Claimed, now: datetime, error: str | None = None,
            final: bool = False) -> None:
    """Mark a claimed mail sent, or failed for now (back-off) or for good."""
    if error is None:
        values: dict[str, object] = {"sent_at": now, "last_error": None}
    elif final or claimed.attempts >= MAX_ATTEMPTS:
        values = {"failed_at": now, "last_error": error[:MAIL_ERROR_MAX_CHARS]}
    else:
        wait = timedelta(minutes=2 ** (claimed.attempts - 1))
        values = {"next_attempt_at": now + wait, "last_error": error[:MAIL_ERROR_MAX_CHARS]}
    db.session.execute(update(OutboxMail).where(OutboxMail.id == claimed.id).values(**values))


def deliver_one(transport: Transport, clock: Callable[[], datetime] = utcnow) -> bool:
    """Send the next due mail, if any; True when one was handled (sent or not)."""
    claim = _claim(clock())
    if claim is None:
        return False
    claimed, token = claim
    if token is None:  # finished at the claim (no account left for its link)
        return True
    error = None
    try:
        transport.send(_message(claimed, token))
    except (smtplib.SMTPException, OSError) as failure:
        error = f"{type(failure).__name__}: {failure}"
        log.warning("mail %s to outbox recipient not sent (attempt %s): %s",
                    claimed.id, claimed.attempts, error)
    begin_write()
    _finish(claimed, clock(), error)
    db.session.commit()
    return True


def deliver(transport: Transport, once: bool = False, stop: threading.Event | None = None,
            poll_seconds: float = POLL_SECONDS) -> int:
    """Send due mail until `stop` is set (or, with `once`, until nothing is due); returns
    how many mails were handled. A mail being sent when `stop` is set is finished first."""
    stop = stop or threading.Event()
    handled = 0
    while not stop.is_set():
        try:
            sent = deliver_one(transport)
        except (OperationalError, InterfaceError) as error:
            # The database is away: a long-running worker waits for it (a mail it was
            # sending comes back when its claim expires); --once reports it and fails.
            db.session.rollback()
            if once:
                raise
            log.warning("mail worker: database unavailable (%s); retrying in %ss",
                        type(getattr(error, "orig", error)).__name__, poll_seconds)
            stop.wait(poll_seconds)
            continue
        if sent:
            handled += 1
            continue
        if once:
            break
        stop.wait(poll_seconds)
    return handled


# Cleanup ------------------------------------------------------------------------------------

CLEANUP_BATCH_ROWS = 1000
KEEP_SENT_DAYS = 30


@dataclass(frozen=True)
class Cleanup:
    mails: int
    tokens: int


def _delete_in_batches(model: type, condition: object, dry_run: bool) -> int:
    if dry_run:
        return int(db.session.scalar(select(func.count()).select_from(model).where(condition)))
    removed = 0
    while True:
        begin_write()
        batch = select(model.id).where(condition).limit(CLEANUP_BATCH_ROWS).scalar_subquery()
        count = db.session.execute(delete(model).where(model.id.in_(batch))).rowcount
        db.session.commit()
        removed += count
        if count < CLEANUP_BATCH_ROWS:
            return removed


def cleanup(days: int = KEEP_SENT_DAYS, dry_run: bool = False) -> Cleanup:
    """Remove mails sent over `days` ago and e-mail tokens used or expired over `days` ago,
    in batches of CLEANUP_BATCH_ROWS (each its own transaction, so the tables stay open to
    the worker and the shop). Waiting and failed mails stay: the first are still to go, the
    second are for a person to look at."""
    cutoff = utcnow() - timedelta(days=days)
    mails = _delete_in_batches(OutboxMail, OutboxMail.sent_at < cutoff, dry_run)
    stale = (EmailToken.used_at < cutoff) | (EmailToken.expires_at < cutoff)
    return Cleanup(mails, _delete_in_batches(EmailToken, stale, dry_run))


# Figures ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MailCounts:
    sent: int
    waiting: int
    failed: int


def count_mail(since: datetime) -> MailCounts:
    """Mails sent and failed since a moment, and all those waiting now."""
    sent, failed, waiting = db.session.execute(select(
        func.count().filter(OutboxMail.sent_at >= since),
        func.count().filter(OutboxMail.failed_at >= since),
        func.count().filter(OutboxMail.sent_at.is_(None), OutboxMail.failed_at.is_(None)),
    )).one()
    return MailCounts(int(sent), int(waiting), int(failed))


# Development: the console ---------------------------------------------------------------------

def _deliver_to_console(app: Flask) -> None:
    with app.app_context():
        try:
            deliver(ConsoleTransport(), once=True)
        finally:
            db.session.remove()


def write_queued_to_console(response: Response) -> Response:
    """In development without MAIL_URL, the mails this request committed go to the log now.
    Run outside the request's context, as the worker runs: not in its row-level scope."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if g.pop(QUEUED_KEY, False) and app.config["DEVELOPMENT"] and not app.config["MAIL_URL"]:
        contextvars.Context().run(_deliver_to_console, app)
    return response


def register(app: Flask) -> None:
    app.after_request(write_queued_to_console)
