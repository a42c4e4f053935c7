"""The outbox and its worker, against a real SMTP server (aiosmtpd on 127.0.0.1): a mail is
written in the action's transaction, sent by `flask mail deliver` with its link minted at
send time, retried with back-off when the server is down, slow or refusing, never lost and
never sent twice (two workers on PostgreSQL, SIGTERM mid-run)."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from sqlalchemy import select, text, update

from storefront import accounts, create_app, mail, tokens
from storefront.config import ConfigError, check_required, load_config
from storefront.extensions import db
from storefront.models import EmailToken, OutboxMail, User, utcnow
from tests.support import PROJECT_ROOT, Mailbox, base_config, count_rows

BASE_URL = "https://shop.example"


@pytest.fixture
def app_config(mailbox):  # noqa: ANN001, ANN201
    return {"MAIL_URL": mailbox.url, "EXTERNAL_BASE_URL": BASE_URL,
            "MAIL_TIMEOUT_SECONDS": 2}


def deliver(runner) -> str:  # noqa: ANN001
    result = runner.invoke(args=["mail", "deliver", "--once"])
    assert result.exit_code == 0, result.output
    return result.output


def outbox() -> list[OutboxMail]:
    db.session.rollback()
    return list(db.session.scalars(select(OutboxMail).order_by(OutboxMail.id)))


def make_due() -> None:
    """Time passes: every waiting mail is due again."""
    db.session.execute(update(OutboxMail).where(OutboxMail.sent_at.is_(None))
                       .values(next_attempt_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()


def queue_notices(count: int, to: str = "ada@example.com") -> None:
    for _ in range(count):
        mail.queue(mail.PASSWORD_CHANGED, None, to)
    db.session.commit()


def test_registration_queues_a_verification_mail_the_worker_sends_with_its_link(
        client, runner, mailbox):
    assert client.register("Ada@Example.com").status_code == 303
    [row] = outbox()
    assert (row.kind, row.recipient, row.token_purpose) == (mail.VERIFY, "Ada@Example.com",
                                                            tokens.VERIFY)
    assert mail.LINK_SLOT in row.body_text and row.sent_at is None
    assert count_rows(EmailToken) == 0  # the token is minted when the mail is sent

    assert "Mail handled: 1." in deliver(runner)

    [received] = mailbox.received
    assert received.recipients == ["Ada@Example.com"]
    assert received.subject == "Confirm your e-mail address · Storefront"
    assert "Storefront" in received.text and "Storefront" in received.html
    link = received.link()
    assert link.startswith(f"{BASE_URL}/auth/verify/")
    token = link.rsplit("/", 1)[1]
    assert f'href="{link}"' in received.html
    [row] = outbox()
    assert row.sent_at is not None and row.attempts == 1 and row.last_error is None
    stored = db.session.scalar(select(EmailToken))
    assert stored.token_hash == tokens.hash_token(token) and stored.purpose == tokens.VERIFY
    assert stored.expires_at - stored.created_at == timedelta(days=3)
    # The token itself is stored nowhere: not in the outbox, not in the token table.
    for table in ("outbox", "email_tokens", "users"):
        rows = db.session.execute(text(f"SELECT * FROM {table}")).all()  # noqa: S608
        assert token not in repr(rows), table


def test_a_rolled_back_action_sends_nothing(app, runner, mailbox):
    mail.queue(mail.PASSWORD_CHANGED, None, "ada@example.com")
    db.session.rollback()
    accounts.register("ada@example.com", "correct horse battery staple", "Ada", "L")
    with pytest.raises(Exception):  # noqa: B017, PT011 - EmailTaken: the sign-up rolled back
        accounts.register("ADA@example.com", "correct horse battery staple", "Ada", "L")
    deliver(runner)
    assert [mail_.recipients for mail_ in mailbox.received] == [["ada@example.com"]]
    assert count_rows(OutboxMail) == 1


def test_mail_is_delivered_once_the_smtp_server_is_back(app, runner, mailbox):
    queue_notices(1)
    deliver(runner)
    assert len(mailbox.received) == 1
    mailbox.stop()  # the server goes down mid-run
    queue_notices(2, "bob@example.com")
    deliver(runner)  # nothing lost, nothing fails a request: the mails wait
    waiting = [row for row in outbox() if row.sent_at is None]
    assert len(waiting) == 2
    assert all(row.attempts == 1 and "ConnectionRefused" in row.last_error for row in waiting)
    assert all(row.next_attempt_at > utcnow() + timedelta(seconds=50) for row in waiting)
    assert "Mail handled: 0." in deliver(runner)  # not due yet: back-off

    back = Mailbox(port=mailbox.port).start()
    try:
        make_due()
        deliver(runner)
        assert sorted(m.outbox_id for m in back.received) == [row.id for row in waiting]
        assert all(row.sent_at is not None and row.last_error is None for row in outbox())
        make_due()
        assert "Mail handled: 0." in deliver(runner)  # each sent exactly once
        assert len(back.received) == 2
    finally:
        back.stop()


def test_a_refused_connection_is_retried_with_back_off_then_marked_failed(app, runner,
                                                                          mailbox):
    mailbox.stop()
    queue_notices(1)
    waits = []
    for attempt in range(1, mail.MAX_ATTEMPTS + 1):
        before = utcnow()
        deliver(runner)
        [row] = outbox()
        assert row.attempts == attempt and row.sent_at is None
        if attempt < mail.MAX_ATTEMPTS:
            assert row.failed_at is None
            waits.append(round((row.next_attempt_at - before).total_seconds() / 60))
            make_due()
    assert waits == [1, 2, 4, 8, 16, 32, 64]
    [row] = outbox()
    assert row.failed_at is not None and "ConnectionRefused" in row.last_error
    make_due()
    assert "Mail handled: 0." in deliver(runner)  # failed for good: left for a person


def test_a_server_that_never_answers_times_out_and_the_mail_waits(app, runner):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    app.config["MAIL_URL"] = f"smtp://127.0.0.1:{silent.getsockname()[1]}"
    app.config["MAIL_TIMEOUT_SECONDS"] = 0.5
    try:
        queue_notices(1)
        started = time.monotonic()
        deliver(runner)
        assert time.monotonic() - started < 5
    finally:
        silent.close()
    [row] = outbox()
    assert row.sent_at is None and row.attempts == 1 and "timed out" in row.last_error


def test_a_rejected_recipient_is_retried_then_failed_and_others_still_go(app, runner, mailbox):
    mailbox.refuse.add("nobody@example.com")
    queue_notices(1, "nobody@example.com")
    queue_notices(1, "ada@example.com")
    for _ in range(mail.MAX_ATTEMPTS):
        deliver(runner)
        make_due()
    refused, sent = outbox()
    assert refused.failed_at is not None and "SMTPRecipientsRefused" in refused.last_error
    assert refused.attempts == mail.MAX_ATTEMPTS
    assert sent.sent_at is not None and sent.attempts == 1
    assert [m.recipients for m in mailbox.received] == [["ada@example.com"]]


def test_a_crashed_workers_claim_expires_and_the_mail_comes_back(app, mailbox):
    queue_notices(1)
    now = utcnow()
    assert mail._claim(now) is not None  # a worker claimed it, then died before sending
    transport = mail.transport_for(app)
    assert mail.deliver_one(transport, clock=lambda: now + timedelta(minutes=4)) is False
    assert mail.deliver_one(transport, clock=lambda: now + timedelta(minutes=6)) is True
    assert len(mailbox.received) == 1
    [row] = outbox()
    assert row.sent_at is not None and row.attempts == 2


def test_a_link_mail_of_a_deleted_account_is_dropped_not_sent(client, runner, mailbox):
    assert client.register("ada@example.com").status_code == 303
    db.session.execute(User.__table__.delete())
    db.session.commit()
    deliver(runner)
    assert mailbox.received == []
    [row] = outbox()
    assert row.failed_at is not None and "no longer exists" in row.last_error


def test_a_new_reset_link_ends_the_older_ones(app, runner, mailbox):
    user = accounts.register("ada@example.com", "correct horse battery staple", "Ada", "L").user
    accounts.request_password_reset("ada@example.com")
    accounts.request_password_reset("ada@example.com")
    deliver(runner)
    first, second = (m.link().rsplit("/", 1)[1] for m in mailbox.to("ada@example.com")
                     if "reset" in m.subject.lower())
    with pytest.raises(tokens.InvalidToken):
        tokens.peek(first, (tokens.RESET,))
    assert tokens.peek(second, (tokens.RESET,)).user_id == user.id


def _worker(database_url: str, mail_url: str, *args: str) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": database_url, "MAIL_URL": mail_url,
           "EXTERNAL_BASE_URL": BASE_URL, "SECRET_KEY": "worker-secret-" + "w" * 40,
           "FLASK_DEBUG": "0"}
    return subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "mail", "deliver",
                             *args], cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def test_two_workers_on_postgresql_deliver_200_mails_exactly_once(app, database_url, mailbox):
    if not database_url.startswith("postgresql"):
        pytest.skip("SKIP LOCKED is PostgreSQL's; SQLite runs one worker")
    queue_notices(200)
    mailbox.delay_seconds = 0.02  # 4 s of work at least: both workers are up by then
    workers = [_worker(database_url, mailbox.url, "--once") for _ in range(2)]
    outputs = [worker.communicate(timeout=120)[0] for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0], outputs
    handled = [int(output.rsplit("Mail handled: ", 1)[1].split(".")[0]) for output in outputs]
    assert sum(handled) == 200 and min(handled) > 0, handled  # both worked, none twice
    ids = [m.outbox_id for m in mailbox.received]
    assert len(ids) == 200 and len(set(ids)) == 200
    rows = outbox()
    assert all(row.sent_at is not None and row.attempts == 1 for row in rows)


def test_sigterm_lets_the_current_mail_finish_then_the_worker_exits(app, database_url, mailbox):
    queue_notices(5)
    mailbox.delay_seconds = 0.5
    worker = _worker(database_url, mailbox.url)
    deadline = time.monotonic() + 30
    while not mailbox.received and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)  # the next mail is on the wire now
    worker.send_signal(signal.SIGTERM)
    output = worker.communicate(timeout=30)[0]
    assert worker.returncode == 0, output
    rows = outbox()
    sent = [row.id for row in rows if row.sent_at is not None]
    assert sorted(m.outbox_id for m in mailbox.received) == sent  # nothing doubled or lost
    assert 1 <= len(sent) < 5
    assert all(row.attempts == 0 for row in rows if row.sent_at is None)  # not claimed


def test_without_mail_url_mail_waits_outside_development(app, runner):
    app.config["MAIL_URL"] = ""
    queue_notices(1)
    result = runner.invoke(args=["mail", "deliver", "--once"])
    assert result.exit_code == 1 and "MAIL_URL is not set" in result.output
    assert outbox()[0].sent_at is None


def test_in_development_without_mail_url_each_mail_goes_to_the_log_as_committed(
        app, client, caplog):
    app.config.update(MAIL_URL="", DEVELOPMENT=True)
    with caplog.at_level(logging.INFO, logger=app.logger.name):
        assert client.register("ada@example.com").status_code == 303
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "mail to ada@example.com" in logged
    assert f"{BASE_URL}/auth/verify/" in logged
    link = [word for word in logged.split() if "/auth/verify/" in word][0]
    assert client.get(link.removeprefix(BASE_URL)).status_code == 200
    [row] = outbox()
    assert row.sent_at is not None


def test_the_report_counts_mails_and_verified_accounts(app, runner, mailbox):
    user = accounts.register("ada@example.com", "correct horse battery staple", "Ada", "L").user
    accounts.register("bob@example.com", "correct horse battery staple", "Bob", "B")
    db.session.execute(update(User).where(User.id == user.id)
                       .values(email_verified_at=utcnow()))
    db.session.commit()
    deliver(runner)
    mailbox.stop()
    queue_notices(1)
    deliver(runner)
    result = runner.invoke(args=["report", "--json"])
    assert '"mails_sent": 2' in result.output and '"mails_waiting": 1' in result.output
    assert '"mails_failed": 0' in result.output
    assert '"email_verification_rate": 0.5' in result.output
    text_report = runner.invoke(args=["report"]).output
    assert "e-mail verification rate     50.0%" in text_report
    assert "mails waiting                1" in text_report


def test_external_base_url_is_required_outside_development_and_tests(database_url):
    production = load_config("/srv/instance", env={"SECRET_KEY": "s" * 64})
    with pytest.raises(ConfigError) as caught:
        check_required(production)
    message = str(caught.value.code)
    assert "EXTERNAL_BASE_URL is not set" in message and "\n" not in message
    assert load_config("/srv/instance", env={"FLASK_DEBUG": "1"})["EXTERNAL_BASE_URL"]
    for bad in ("shop.example", "ftp://shop.example", "https://shop.example/?a=1",
                "https://user:pw@shop.example"):
        with pytest.raises(ConfigError):
            load_config("/srv/instance", env={"SECRET_KEY": "s" * 64, "EXTERNAL_BASE_URL": bad})
    good = load_config("/srv/instance", env={"SECRET_KEY": "s" * 64,
                                             "EXTERNAL_BASE_URL": "https://shop.example/"})
    assert good["EXTERNAL_BASE_URL"] == "https://shop.example"
    assert good["MAIL_FROM"] == "Storefront <no-reply@shop.example>"
    with pytest.raises(ConfigError) as caught:
        load_config("/srv/instance", env={"SECRET_KEY": "s" * 64,
                                          "MAIL_URL": "http://user:secret@mail.example"})
    assert "secret" not in str(caught.value.code)
    create_app(base_config(database_url))  # tests: a default base address


def test_a_production_start_without_external_base_url_stops_with_one_line(tmp_path):
    env = {key: value for key, value in os.environ.items()
           if key not in {"EXTERNAL_BASE_URL", "FLASK_DEBUG"}}
    env.update(SECRET_KEY="p" * 64, DATABASE_URL=f"sqlite:///{tmp_path}/shop.db")
    result = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "report"],
                            cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode != 0
    assert "EXTERNAL_BASE_URL is not set" in result.stderr
    assert len([line for line in result.stderr.splitlines() if "EXTERNAL_BASE_URL" in line]) == 1


def test_smtp_urls_choose_tls_and_authentication():
    plain = mail.SmtpTransport("smtp://mail.example", 3)
    assert (plain.scheme, plain.host, plain.port, plain.username) == (
        "smtp", "mail.example", 25, None)
    starttls = mail.SmtpTransport("smtp+starttls://shop%40x:p%3Ass@mail.example", 3)
    assert (starttls.port, starttls.username, starttls.password) == (587, "shop@x", "p:ss")
    assert mail.SmtpTransport("smtps://mail.example:2465", 3).port == 2465
    assert mail.SmtpTransport("smtps://mail.example", 3).port == 465


def test_authentication_is_sent_to_the_server(app, runner, mailbox):
    """smtplib logs in when MAIL_URL names a user: a server without AUTH refuses, and the
    refusal is kept as the mail's error (the password is not)."""
    app.config["MAIL_URL"] = f"smtp://shop:hunter2hunter2@127.0.0.1:{mailbox.port}"
    queue_notices(1)
    deliver(runner)
    [row] = outbox()
    assert row.sent_at is None and "SMTPNotSupportedError" in row.last_error
    assert "hunter2" not in row.last_error



def test_cleanup_removes_old_sent_mail_and_spent_tokens_in_batches(app, runner, mailbox,
                                                                   monkeypatch):
    accounts.register("ada@example.com", "correct horse battery staple", "Ada", "L")
    queue_notices(4)
    deliver(runner)
    queue_notices(1)  # still waiting: stays
    old = utcnow() - timedelta(days=31)
    db.session.execute(update(OutboxMail).where(OutboxMail.sent_at.is_not(None))
                       .values(sent_at=old))
    db.session.execute(update(EmailToken).values(used_at=old))
    db.session.commit()
    monkeypatch.setattr(mail, "CLEANUP_BATCH_ROWS", 2)
    dry = runner.invoke(args=["mail", "cleanup", "--dry-run"])
    assert "Would remove 5 mail(s) sent over 30 days ago." in dry.output
    assert count_rows(OutboxMail) == 6
    result = runner.invoke(args=["mail", "cleanup"])
    assert result.exit_code == 0, result.output
    assert "Removed 5 mail(s)" in result.output
    assert "Removed 1 e-mail token(s)" in result.output
    assert [row.sent_at for row in outbox()] == [None]
    assert count_rows(EmailToken) == 0


def test_a_long_running_worker_waits_out_a_database_outage_and_stops_on_sigterm(tmp_path):
    """No database at all: the worker keeps waiting (it would send once it is back) and a
    SIGTERM still ends it cleanly; `--once` fails instead."""
    nowhere = f"postgresql+psycopg://postgres@127.0.0.1:{_closed_port()}/shop"
    once = _worker(nowhere, "smtp://127.0.0.1:25", "--once")
    once.communicate(timeout=60)
    assert once.returncode != 0
    worker = _worker(nowhere, "smtp://127.0.0.1:25")
    time.sleep(3)
    assert worker.poll() is None  # still running
    worker.send_signal(signal.SIGTERM)
    output = worker.communicate(timeout=30)[0]
    assert worker.returncode == 0, output
    assert "database unavailable" in output


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
