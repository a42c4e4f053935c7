"""`make bench`: the shop under load next to a floor, with SQL statements per request.

1. A fresh PostgreSQL database (SQLite in a temp dir when PostgreSQL is unreachable, and the
   output says so), migrated, with the demo catalog.
2. The shop under gunicorn (2 workers); shoppers set up over HTTP: a guest with 10 lines, a
   signed-in shopper with 10 lines, an account for the add-to-cart POSTs and one to sign in to;
   and, offline, thousands of shoppers each with a 10-line cart reviewed at checkout, so every
   checkout POST places an order.
   Guest sessions for the sign-ins are made offline with the app's own session serializer, each
   with a 10-line cart under a token of its own, so every sign-in really merges.
3. SQL statements per request, in-process with the Flask test client on the same database.
4. wrk from this second process: a warm-up run, then a measured run per scenario; first the
   floor (`bench/floor_app.py`), then the shop.
5. The cart page's statements at 1 and at 50 lines, then one table printed and written to
   `bench/RESULTS.md`. The database is dropped at the end.

Logs, wrk's raw output and the request files stay in `bench/out/` (git-ignored). Databases,
gunicorn servers, the statement counter and the CSRF meta come from `tests/support.py`, as the
tests use them.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import re
import secrets
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import requests
import sqlalchemy as sa
from flask import Flask, session
from flask_wtf.csrf import generate_csrf
from werkzeug.test import TestResponse

from storefront import catalog, create_app
from storefront.accounts import hash_token
from storefront.extensions import db
from storefront.models import (
    BROWSER_SESSION_HOURS,
    CART_MAX_LINES,
    STOCK_MAX,
    Address,
    CartMerge,
    Order,
    Product,
    Profile,
    User,
    UserCart,
    UserSession,
    utcnow,
)

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = BENCH_DIR.parent
# `python bench/run.py` puts bench/ on the path, not the project root that holds `tests`.
sys.path.insert(0, str(PROJECT_ROOT))

import seed  # noqa: E402 - bench/seed.py, beside this file

from tests import support  # noqa: E402

OUT_DIR = BENCH_DIR / "out"
RESULTS = BENCH_DIR / "RESULTS.md"
POST_SCRIPT = BENCH_DIR / "post.lua"
POSTGRES_SERVER_URL = support.DEFAULT_POSTGRES_URL

WORKERS = 2
THREADS = 2
CONNECTIONS = 8
DURATION_SECONDS = 10
WARMUP_SECONDS = 2
# wrk's default (2 s) would drop the slowest sign-ins from the latencies instead of timing them.
WRK_TIMEOUT_SECONDS = 10
CART_LINES = 10
SIGN_IN_SESSIONS = 2000  # per wrk run; sign-in manages about 10/s, so none is reused
# Per wrk run: each a shopper of its own with a 10-line cart reviewed at checkout, so every
# POST places an order (a reused line would only be redirected to the order it placed).
CHECKOUT_SESSIONS = 3000
HTTP_TIMEOUT_SECONDS = 30
SETTLE_SECONDS = 1  # for the one request per worker still running after the probe (below)
P99_GOAL_MS = 20
ROUNDS = 3
SCALE_GOAL = 1.5
REPORT_GOAL_SECONDS = 2.0
MEMORY_GROWTH_GOAL_MIB = 10.0
SEARCH_WORD = "coffee"
SCALE = {"products": 100_000, "accounts": 100_000, "cart_lines": 1_000_000,
         "events": 1_000_000}
# The in-process profile (bench/profile.py) kept at the end of RESULTS.md.
PROFILE_SECTION = BENCH_DIR / "PROFILE.md"
# What the goals missed and why (written by hand from the figures), also appended.
ANALYSIS = BENCH_DIR / "ANALYSIS.md"
PASSWORD = "bench " + secrets.token_hex(8)
CART_LINE = re.compile(r'data-product-id="\d+" data-quantity="\d+"')
# Worker recycling (`max_requests` in gunicorn.conf.py) is off: at these rates both workers would
# reach it within the same second, mid-run, and their reboot would be all a p99 shows.
GUNICORN_ARGS = ("--max-requests", "0")


class BenchError(Exception):
    """Something that makes the figures meaningless: stop, clean up, say what."""


def say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


# The database -----------------------------------------------------------------------------

def postgres_version(server_url: str) -> str:
    engine = sa.create_engine(server_url)
    try:
        with engine.connect() as connection:
            return connection.exec_driver_sql("SHOW server_version").scalar().split()[0]
    finally:
        engine.dispose()


def open_database(tmp_dir: Path) -> tuple[support.Database, str]:
    """A new migrated database on the PostgreSQL server, or a SQLite file when the server does
    not answer; with what RESULTS.md calls it, e.g. "PostgreSQL 15.20"."""
    problem = support.postgres_answers(POSTGRES_SERVER_URL, timeout_seconds=3)
    if problem is not None:
        server = sa.make_url(POSTGRES_SERVER_URL)
        say(f"PostgreSQL at {server.host}:{server.port} is not reachable ({problem}): "
            "FALLING BACK TO SQLITE in a temp dir; these figures are not PostgreSQL's")
        database = support.Database(f"sqlite:///{tmp_dir / 'bench.db'}")
        support.migrate(database.url)
        return database, f"SQLite {sqlite3.sqlite_version}"
    kind = f"PostgreSQL {postgres_version(POSTGRES_SERVER_URL)}"
    return support.create_postgres_database(POSTGRES_SERVER_URL, "storefront_bench"), kind


# Servers ----------------------------------------------------------------------------------

@dataclass
class Server:
    """One of the run's gunicorn servers (the tests' LiveServer) and what the bench asks of it."""

    live: support.LiveServer
    probe: str  # a cheap path that answers 200

    @property
    def url(self) -> str:
        return self.live.url

    @property
    def log_path(self) -> Path:
        return self.live.log_path

    def stop(self) -> None:
        self.live.stop()

    def errors(self) -> list[str]:
        return [line for line in self.live.log().splitlines()
                if "Traceback" in line or "[ERROR]" in line or "[CRITICAL]" in line]

    def drain(self) -> None:
        """Wait for the requests wrk left queued when it stopped: the workers still serve
        them, and a probe queues behind them."""
        requests.get(self.url + self.probe, timeout=support.START_TIMEOUT_SECONDS)
        time.sleep(SETTLE_SECONDS)

    def restarts(self) -> int:
        """Workers booted after the first ones: a worker died or timed out."""
        return self.live.log().count("Booting worker") - WORKERS


def start_gunicorn(app_spec: str, database_url: str, env: dict[str, str], label: str,
                   probe: str) -> Server:
    """gunicorn (`WORKERS` workers, no recycling) from the project root, with its log in
    `bench/out/`, once `probe` answers 200."""
    try:
        live = support.start_server(database_url, OUT_DIR, WORKERS, app_spec=app_spec,
                                    probe=probe, gunicorn_args=GUNICORN_ARGS, env=env,
                                    label=label)
    except RuntimeError as error:
        raise BenchError(f"{label}: {error}") from error
    return Server(live, probe)


def shown_gunicorn_command(app_spec: str) -> str:
    """The command line `support.start_server` runs, for RESULTS.md."""
    return " ".join(["python", "-m", "gunicorn", "-w", str(WORKERS), "-b", "127.0.0.1:PORT",
                     *GUNICORN_ARGS, app_spec])


# Shoppers ---------------------------------------------------------------------------------

def expect(response: requests.Response | TestResponse, status: int, what: str) -> None:
    code = response.status_code
    if code != status:
        raise BenchError(f"{what}: expected HTTP {status}, got {code}")


def csrf_of(page: str) -> str:
    match = support.CSRF_META.search(page)
    if not match:
        raise BenchError("no csrf-token meta on the page")
    return match.group(1)


class Shopper:
    """One browser over HTTP, with its cookie jar."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = requests.Session()

    def get(self, path: str) -> requests.Response:
        return self.http.get(self.base_url + path, timeout=HTTP_TIMEOUT_SECONDS)

    def post(self, path: str, fields: dict[str, object], what: str) -> None:
        fields = {"csrf_token": csrf_of(self.get("/").text), **fields}
        response = self.http.post(self.base_url + path, data=fields, allow_redirects=False,
                                  timeout=HTTP_TIMEOUT_SECONDS)
        expect(response, 303, what)

    def register(self, email: str) -> None:
        self.post("/auth/register", {
            "email": email, "password": PASSWORD, "confirm_password": PASSWORD,
            "first_name": "Bench", "last_name": "Shopper",
        }, f"registering {email}")

    def add_lines(self, product_ids: list[int]) -> None:
        for product_id in product_ids:
            self.post("/cart/add", {"product_id": product_id, "quantity": 1}, "adding to cart")
        lines = len(CART_LINE.findall(self.get("/cart").text))
        if lines != len(product_ids):
            raise BenchError(f"the cart page shows {lines} lines, not {len(product_ids)}")

    @property
    def cookie(self) -> str:
        return self.http.cookies["session"]


@dataclass(frozen=True)
class GuestSession:
    """A guest's signed session cookie and the form token that goes with it."""

    cookie: str
    form_token: str


def guest_sessions(app: Flask, product_ids: list[int], count: int) -> list[GuestSession]:
    """Guest cookies as the shop itself would sign them: a CSRF token and a cart of
    `product_ids` (1 of each) under a token of its own. Call outside any app context, so each
    test request context gets a fresh `g` and `generate_csrf()` a fresh token."""
    serializer = app.session_interface.get_signing_serializer(app)
    lines = [[product_id, 1] for product_id in product_ids]
    made = []
    for _ in range(count):
        raw = secrets.token_hex(20)
        with app.test_request_context():
            session["csrf_token"] = raw  # flask_wtf keeps the raw token under this key
            form_token = generate_csrf()
        cookie = serializer.dumps(
            {"csrf_token": raw, "cart": {"token": secrets.token_urlsafe(16), "lines": lines}}
        )
        made.append(GuestSession(cookie, form_token))
    return made


@dataclass(frozen=True)
class CheckoutSession:
    """A signed-in shopper's cookie right after the checkout review, and the form it shows."""

    cookie: str
    fields: dict[str, object]


def checkout_sessions(app: Flask, products: list[Product], count: int) -> list[CheckoutSession]:
    """`count` shoppers, each with an address, a cart of `products` (1 of each) and a signed
    session cookie holding what the checkout review puts there (its idempotency key and the
    lines with their prices), made offline in bulk: accounts, profiles, sessions, addresses
    and saved carts by a few multi-row INSERTs, cookies by the app's own serializer. The
    products' stock is raised so every order can be met. Call outside any app context."""
    from datetime import timedelta

    from storefront import orders

    serializer = app.session_interface.get_signing_serializer(app)
    tokens = [secrets.token_urlsafe(32) for _ in range(count)]
    now = utcnow()
    with app.app_context():
        db.session.execute(sa.update(Product).where(Product.id.in_([p.id for p in products]))
                           .values(stock=STOCK_MAX))
        tag = secrets.token_hex(4)
        new_users = sa.insert(User).returning(User.id, sort_by_parameter_order=True)
        user_ids = db.session.scalars(new_users, [
            {"email": f"buyer-{tag}-{n}@example.com",
             "email_canonical": f"buyer-{tag}-{n}@example.com", "password_hash": "unusable",
             "created_at": now} for n in range(count)]).all()
        db.session.execute(sa.insert(Profile), [
            {"user_id": uid, "first_name": "Bench", "last_name": "Buyer", "updated_at": now}
            for uid in user_ids])
        db.session.execute(sa.insert(UserSession), [
            {"user_id": uid, "token_hash": hash_token(token), "created_at": now,
             "last_seen_at": now, "expires_at": now + timedelta(hours=BROWSER_SESSION_HOURS)}
            for uid, token in zip(user_ids, tokens, strict=True)])
        address_ids = db.session.scalars(
            sa.insert(Address).returning(Address.id, sort_by_parameter_order=True), [
                {"user_id": uid, "full_name": "Bench Buyer", "line1": "1 Load Street",
                 "city": "London", "postal_code": "SW1A 1AA", "country": "GB",
                 "default_shipping": True} for uid in user_ids]).all()
        db.session.execute(sa.insert(UserCart), [
            {"user_id": uid, "product_id": product.id, "quantity": 1,
             "added_at": now + timedelta(microseconds=index), "updated_at": now}
            for uid in user_ids for index, product in enumerate(products)])
        db.session.commit()
        db.session.remove()
    lines = [[product.id, 1, f"{product.price:.2f}"] for product in products]
    made = []
    for token, address_id in zip(tokens, address_ids, strict=True):
        raw, key = secrets.token_hex(20), orders.new_idempotency_key()
        with app.test_request_context():
            session["csrf_token"] = raw
            form_token = generate_csrf()
        cookie = serializer.dumps({"_user_id": token, "_fresh": True, "csrf_token": raw,
                                   "checkout": {"key": key, "lines": lines}})
        made.append(CheckoutSession(cookie, {
            "shipping_address_id": address_id, "billing_address_id": "",
            "payment_method": "bank_transfer", "idempotency_key": key,
            "csrf_token": form_token}))
    return made


def orders_so_far(app: Flask) -> int:
    with app.app_context():
        count = db.session.scalar(sa.select(sa.func.count()).select_from(Order))
        db.session.remove()
    return count


def write_post_lines(path: Path, cookies_and_fields: list[tuple[str, dict[str, object]]]) -> Path:
    """The request file post.lua replays: one "<cookie>\\t<form body>" a line."""
    path.write_text("".join(
        f"{cookie}\t{urllib.parse.urlencode(fields)}\n" for cookie, fields in cookies_and_fields
    ))
    return path


def sign_in_fields(email: str, guest: GuestSession) -> dict[str, object]:
    return {"email": email, "password": PASSWORD, "csrf_token": guest.form_token}


def check_sign_in_by_hand(app: Flask, base_url: str, email: str, guest: GuestSession) -> None:
    """One sign-in over HTTP with a made-up guest cookie: 303 to /account with the merge
    receipt in the new session, i.e. the cookie, the form token and the merge all work."""
    response = requests.post(
        base_url + "/auth/login", data=sign_in_fields(email, guest),
        cookies={"session": guest.cookie}, allow_redirects=False, timeout=HTTP_TIMEOUT_SECONDS,
    )
    expect(response, 303, "signing in with a made-up guest session")
    if not response.headers["Location"].endswith("/account"):
        raise BenchError(f"sign-in went to {response.headers['Location']}, not /account")
    new_session = app.session_interface.get_signing_serializer(app).loads(
        response.cookies["session"]
    )
    receipts = [message for _, message in new_session.get("_flashes", [])
                if "Your cart from this visit" in message]
    if not receipts:
        raise BenchError("signing in with a made-up guest cart merged nothing")


# SQL statements per request ---------------------------------------------------------------

def statements_of(engine: sa.Engine, send: Callable[[], TestResponse], status: int,
                  what: str) -> tuple[int, str]:
    """Statements of one request, counted on the second of two, so one-off work (the first
    template render, `last_seen_at` written once a minute) is left out. Also the page."""
    expect(send(), status, what)
    with support.recorded_statements(engine) as statements:
        response = send()
    expect(response, status, what)
    return len(statements), response.get_data(as_text=True)


def cookie_header(cookie: str) -> dict[str, str]:
    return {"Cookie": f"session={cookie}"}


# Load -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Load:
    requests: int
    rate: float
    p50_ms: float
    p99_ms: float
    problems: str  # wrk's non-2xx/3xx and socket error lines, if any


UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _percentile_ms(output: str, percent: int) -> float:
    match = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.MULTILINE)
    if not match:
        raise BenchError(f"no {percent}% latency in wrk's output:\n{output}")
    return float(match.group(1)) * UNIT_MS[match.group(2)]


def parse_wrk(output: str) -> Load:
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    if not rate or not total:
        raise BenchError(f"unexpected wrk output:\n{output}")
    problems = "; ".join(
        [line.strip() for line in output.splitlines()
         if "Non-2xx" in line or "Socket errors" in line]
        + (["no request completed"] if total.group(1) == "0" else [])
    )
    return Load(int(total.group(1)), float(rate.group(1)), _percentile_ms(output, 50),
                _percentile_ms(output, 99), problems)


def wrk_command(url: str, seconds: int, cookie: str = "", post_lines: Path | None = None
                ) -> list[str]:
    command = ["wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency",
               "--timeout", f"{WRK_TIMEOUT_SECONDS}s"]
    if cookie:
        command += ["-H", f"Cookie: session={cookie}"]
    if post_lines:
        command += ["-s", str(POST_SCRIPT), url, "--", str(post_lines), str(THREADS)]
    else:
        command.append(url)
    return command


@dataclass
class Run:
    """One measured wrk run of a scenario and the floor run right before it."""

    floor: Load
    load: Load

    @property
    def ratio(self) -> float:
        return self.load.rate / self.floor.rate


@dataclass
class Scenario:
    name: str
    path: str
    statements: int
    round_trips: int | None = None  # PostgreSQL round trips (libpq's trace), in-process
    cookie: str = ""  # sent with every GET
    post_lines: list[Path] | None = None  # POST request files: warm-up, then one a round
    goal: float | None = None  # the share of the floor's rate it should reach
    scale: bool = False  # served by the shop on the 100,000-product database
    runs: list[Run] = field(default_factory=list)

    def median(self, value: Callable[[Run], float]) -> float:
        return statistics.median(value(run) for run in self.runs)

    @property
    def ratio(self) -> float:
        return self.median(lambda run: run.ratio)


def run_wrk(command: list[str], seconds: int, label: str) -> Load:
    result = subprocess.run(command, capture_output=True, text=True, check=False,
                            timeout=seconds + 30)
    (OUT_DIR / f"wrk-{label}.txt").write_text(" ".join(command) + "\n\n" + result.stdout
                                              + result.stderr)
    if result.returncode != 0:
        raise BenchError(f"wrk failed ({label}):\n{result.stderr or result.stdout}")
    return parse_wrk(result.stdout)


def _label(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def wrk_run(server: Server, path: str, seconds: int, label: str, cookie: str = "",
            post_lines: Path | None = None) -> Load:
    load = run_wrk(wrk_command(server.url + path, seconds, cookie, post_lines), seconds, label)
    server.drain()
    return load


FLOOR_NAME = "floor (Flask, 1 primary-key query, 24 Jinja cards)"


def measure_round(scenario: Scenario, round_number: int, servers: dict[str, Server],
                  seconds: int, warmup: int) -> None:
    """A warm-up of the scenario, then the floor and the scenario measured back to back, so
    the ratio compares two runs under the same conditions."""
    server = servers["scale" if scenario.scale else "shop"]
    label = f"{_label(scenario.name)}-round{round_number}"
    posts = scenario.post_lines
    wrk_run(server, scenario.path, warmup, label + "-warmup", scenario.cookie,
            posts[0] if posts else None)
    floor = wrk_run(servers["floor"], "/", seconds, f"floor-before-{label}")
    load = wrk_run(server, scenario.path, seconds, label, scenario.cookie,
                   posts[round_number + 1] if posts else None)
    scenario.runs.append(Run(floor, load))
    say(f"round {round_number + 1}, {scenario.name}: {load.rate:,.1f} requests/s "
        f"({load.rate / floor.rate:.2f} of the floor's {floor.rate:,.0f}), p99 {load.p99_ms:.1f} ms"
        + (f" ({load.problems})" if load.problems else ""))


# Memory of the shop's workers -------------------------------------------------------------

def worker_rss_mib(server: Server) -> list[float]:
    """Resident memory of each of a gunicorn's workers (the master's children), in MiB."""
    children = Path(f"/proc/{server.live.process.pid}/task/{server.live.process.pid}/children")
    sizes = []
    for pid in children.read_text().split():
        status = Path(f"/proc/{pid}/status").read_text()
        match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
        if match:
            sizes.append(int(match.group(1)) / 1024)
    return sizes


# Flat at scale: server time in-process ----------------------------------------------------

def server_time_ms(client, path: str, cookie: str, requests_count: int = 300) -> float:  # noqa: ANN001
    """Median time of one request in this process (no network, no gunicorn): what the
    server spends, on the database included."""
    headers = cookie_header(cookie) if cookie else {}
    expect(client.get(path, headers=headers), 200, f"in-process {path}")
    times = []
    for _ in range(requests_count):
        started = time.perf_counter()
        client.get(path, headers=headers)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def timed_command(args: list[str], database_url: str, secret_key: str) -> float:
    """Seconds a `flask --app wsgi ...` command takes on a database, start-up included."""
    env = {**os.environ, "DATABASE_URL": database_url, "SECRET_KEY": secret_key,
           "FLASK_DEBUG": "0", "EXTERNAL_BASE_URL": "https://shop.example"}
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", *args],
                            cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                            check=False, timeout=600)
    taken = time.perf_counter() - started
    if result.returncode != 0:
        raise BenchError(f"flask {' '.join(args)} failed:\n{result.stderr}")
    return taken


# The report -------------------------------------------------------------------------------

@dataclass
class CartCounts:
    """The cart page's statements at 1 and at 50 lines, for a guest and a signed-in shopper."""

    guest: tuple[int, int]
    signed_in: tuple[int, int]

    @property
    def equal(self) -> bool:
        return self.guest[0] == self.guest[1] and self.signed_in[0] == self.signed_in[1]


@dataclass
class Scale:
    """The shop with the demo catalog and with 100,000 products, side by side."""

    sizes: str
    server_times: list[tuple[str, float, float]]  # page, ms with the demo catalog, at scale
    report_seconds: float
    cleanup_seconds: float


@dataclass
class Report:
    database_kind: str  # e.g. "PostgreSQL 15.20" or "SQLite 3.40.1"
    scenarios: list[Scenario]
    cart_counts: CartCounts
    catalog_bytes: int
    floor_bytes: int
    seconds: int
    warmup: int
    load_averages: tuple[float, float]  # 1-minute load average at the start and the end
    memory: tuple[list[float], list[float], int]  # RSS after warm-up, at the end; requests
    scale: Scale | None
    notes: list[str] = field(default_factory=list)


def _rate(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def _ratio(value: float) -> str:
    return f"{value:.2f}" if value >= 0.1 else f"{value:.3f}"  # sign-in is far below 0.01


def table(report: Report) -> str:
    rows = [
        "| scenario | requests/s | floor requests/s | ratio to floor | p50 ms | p99 ms "
        "| SQL statements | round trips |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for scenario in report.scenarios:
        trips = "" if scenario.round_trips is None else str(scenario.round_trips)
        rows.append(
            f"| {scenario.name} | {_rate(scenario.median(lambda run: run.load.rate))} "
            f"| {_rate(scenario.median(lambda run: run.floor.rate))} "
            f"| {_ratio(scenario.ratio)} "
            f"| {scenario.median(lambda run: run.load.p50_ms):.1f} "
            f"| {scenario.median(lambda run: run.load.p99_ms):.1f} "
            f"| {scenario.statements} | {trips} |"
        )
    return "\n".join(rows)


def scale_table(scale: Scale) -> str:
    rows = ["| page (in-process server time) | demo catalog ms | 100,000 products ms | ratio |",
            "| --- | ---: | ---: | ---: |"]
    for page, demo, large in scale.server_times:
        rows.append(f"| {page} | {demo:.2f} | {large:.2f} | {large / demo:.2f} |")
    return "\n".join(rows)


def goals(report: Report) -> list[str]:
    lines = []
    for scenario in report.scenarios:
        if scenario.goal is not None:
            met = scenario.ratio >= scenario.goal
            lines.append(f"{scenario.name}: at least {scenario.goal:.2f} of the floor: "
                         + ("met" if met else "**not met**") + f" ({scenario.ratio:.2f}).")
    late = [s for s in report.scenarios if s.post_lines is None
            and s.median(lambda run: run.load.p99_ms) >= P99_GOAL_MS]
    lines.append(f"p99 under {P99_GOAL_MS} ms at {CONNECTIONS} connections for every GET: "
                 + ("met." if not late else "**not met** ("
                    + "; ".join(f"{s.name}: {s.median(lambda run: run.load.p99_ms):.1f} ms"
                                for s in late) + ")."))
    counts = report.cart_counts
    lines.append("SQL statements per request the same at 1 and 50 cart lines: "
                 + ("met" if counts.equal else "**not met**")
                 + f" (guest {counts.guest[0]} and {counts.guest[1]}, signed in "
                 f"{counts.signed_in[0]} and {counts.signed_in[1]}).")
    if report.scale:
        worst = max(report.scale.server_times, key=lambda row: row[2] / row[1])
        flat = all(large <= SCALE_GOAL * demo for _, demo, large in report.scale.server_times)
        lines.append(f"Every page's server time with 100,000 products within {SCALE_GOAL}x of "
                     "the demo catalog's: " + ("met" if flat else "**not met**")
                     + f" (the most: {worst[0]}, {worst[2] / worst[1]:.2f}x).")
        lines.append(f"`flask report` over 1,000,000 events under {REPORT_GOAL_SECONDS} s: "
                     + ("met" if report.scale.report_seconds < REPORT_GOAL_SECONDS
                        else "**not met**")
                     + f" ({report.scale.report_seconds:.2f} s, start-up included).")
    before, after, served = report.memory
    growth = max((b - a for a, b in zip(before, after, strict=False)), default=0.0)
    lines.append(f"Worker memory flat: {growth:+.1f} MiB at most over {served:,} requests "
                 f"(RSS {', '.join(f'{v:.0f}' for v in before)} MiB after warm-up, "
                 f"{', '.join(f'{v:.0f}' for v in after)} MiB at the end): "
                 + ("met." if growth < MEMORY_GROWTH_GOAL_MIB else "**not met**."))
    return lines


def machine(report: Report) -> list[str]:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    memory = re.search(r"^MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text(), re.MULTILINE)
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    return [
        f"- CPUs (nproc): {len(os.sched_getaffinity(0))}, "
        f"{model.group(1).strip() if model else 'model unknown'}",
        f"- Memory: {int(memory.group(1)) / 1024 / 1024:.1f} GiB" if memory else "- Memory: ?",
        f"- Python {platform.python_version()}, gunicorn {version('gunicorn')} "
        f"({WORKERS} sync workers), Flask {version('flask')}, SQLAlchemy {version('sqlalchemy')}",
        f"- Database: {report.database_kind}, on the same machine",
        f"- Load generator: {(wrk_version.stdout + wrk_version.stderr).split(' [')[0].strip()}, "
        "on the same machine",
        f"- Load average (1 min) at the start and the end of the run: "
        f"{report.load_averages[0]:.2f} and {report.load_averages[1]:.2f} (anything else "
        "running on these cores lowers and scatters the figures)",
    ]


def results_markdown(report: Report, when: datetime) -> str:
    command = " ".join(wrk_command("http://127.0.0.1:PORT/PATH", report.seconds))
    server = shown_gunicorn_command("wsgi:app")
    scale = report.scale
    return "\n".join([
        "# Benchmark results",
        "",
        f"Measured {when:%Y-%m-%d %H:%M} UTC by `make bench` (`bench/run.py`).",
        "",
        *machine(report),
        "",
        f"The shop: `{server}` from the project root, with `SECRET_KEY` (random), "
        "`DATABASE_URL`, `SESSION_COOKIE_SECURE=0`, `RATELIMIT_ENABLED=0` and `FLASK_DEBUG=0`, "
        "on a fresh database with the demo catalog (the scale rows: a second shop on a "
        f"database filled by `bench/seed.py`: {scale.sizes if scale else 'not run'}). The "
        f"floor: `bench/floor_app.py` under the same gunicorn settings: bare Flask, one "
        f"primary-key query and a Jinja page of 24 product cards with `url_for`, escaping "
        f"and an add form ({report.floor_bytes:,} bytes; the shop's catalog page has "
        f"{report.catalog_bytes:,}). Each scenario: a {report.warmup} s warm-up, then the "
        f"floor and the scenario measured back to back with `{command}` (POSTs add "
        f"`-s bench/post.lua`); {ROUNDS} rounds; the table shows medians, and the ratio is "
        "the median of each round's scenario rate over the floor's rate of the run just "
        "before it. SQL statements and PostgreSQL round trips are counted in-process.",
        "",
        table(report),
        "",
        f"Cart page SQL statements at 1 and 50 lines: guest {report.cart_counts.guest[0]} and "
        f"{report.cart_counts.guest[1]}, signed in {report.cart_counts.signed_in[0]} and "
        f"{report.cart_counts.signed_in[1]}.",
        "",
        *(["## Flat at scale", "", scale_table(scale), "",
           f"`flask report` over the seeded events: {scale.report_seconds:.2f} s; "
           f"`flask carts cleanup` (in batches of 5,000 rows, each its own transaction): "
           f"{scale.cleanup_seconds:.2f} s, start-up included.", ""] if scale else []),
        "## Goals",
        "",
        *(f"- {goal}" for goal in goals(report)),
        "",
        "## Notes",
        "",
        *(f"- {note}" for note in report.notes),
        "",
    ])


# The run ----------------------------------------------------------------------------------

def bench_app(database_url: str, secret_key: str) -> Flask:
    """The shop in this process, configured as the gunicorn workers are."""
    return create_app({
        "SECRET_KEY": secret_key,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SESSION_COOKIE_SECURE": False,
        "RATELIMIT_ENABLED": False,
        "EXTERNAL_BASE_URL": "https://shop.example",
    })


def prepare_catalog(app: Flask) -> list[Product]:
    """Load the demo catalog; the products that can be added to a cart, oldest first."""
    with app.app_context():
        catalog.load_demo_catalog()
        products = list(db.session.scalars(
            sa.select(Product).where(Product.active, Product.stock > 0).order_by(Product.id)
        ))
        db.session.remove()
    if len(products) < CART_LINES:
        raise BenchError(f"the demo catalog has only {len(products)} products in stock")
    return products


def cart_page_statements(app: Flask, engine: sa.Engine, product_ids: list[int]
                          ) -> tuple[int, int]:
    """The cart page's statements for a guest with these lines, then for a new account whose
    saved cart got them by registering with that guest cart (the merge)."""
    lines = len(product_ids)
    guest = guest_sessions(app, product_ids, 1)[0]
    anonymous = app.test_client(use_cookies=False)
    guest_count, guest_page = statements_of(
        engine, lambda: anonymous.get("/cart", headers=cookie_header(guest.cookie)),
        200, f"guest cart page with {lines} lines",
    )
    browser = app.test_client()
    browser.set_cookie("session", guest.cookie)
    expect(browser.post("/auth/register", data={
        "email": f"bench-{lines}-lines@example.com", "password": PASSWORD,
        "confirm_password": PASSWORD, "first_name": "Bench", "last_name": "Lines",
        "csrf_token": guest.form_token,
    }), 303, f"registering with a {lines}-line guest cart")
    saved_count, saved_page = statements_of(
        engine, lambda: browser.get("/cart"), 200, f"saved cart page with {lines} lines"
    )
    for page in (guest_page, saved_page):
        if len(CART_LINE.findall(page)) != lines:
            raise BenchError(f"a {lines}-line cart page does not show {lines} lines")
    return guest_count, saved_count


def count_cart_pages(app: Flask, engine: sa.Engine) -> CartCounts:
    """Cart page statements at 1 and 50 lines (a full cart). The demo catalog has fewer than 50
    products in stock, so filler products come first (after the load runs, whose pages they
    would change)."""
    in_stock = sa.select(Product.id).where(Product.active, Product.stock > 0)
    with app.app_context():
        missing = CART_MAX_LINES - len(db.session.scalars(in_stock).all())
        if missing > 0:
            rows = "".join(f"BENCH-{n:03},Bench filler {n:03},1.00,10,\n" for n in range(missing))
            catalog.import_products(f"sku,name,price,stock,description\n{rows}".encode())
        ids = list(db.session.scalars(in_stock.order_by(Product.id)))[:CART_MAX_LINES]
        db.session.remove()
    one, full = (cart_page_statements(app, engine, ids[:lines]) for lines in (1, CART_MAX_LINES))
    return CartCounts((one[0], full[0]), (one[1], full[1]))


def merges_so_far(app: Flask) -> int:
    with app.app_context():
        merges = db.session.scalar(sa.select(sa.func.count()).select_from(CartMerge))
        db.session.remove()
    return merges


def open_scale_database(kind: str, cleanup: list[Callable[[], None]]) -> support.Database | None:
    """A second database with 100,000 products, accounts, 1,000,000 saved-cart lines and
    1,000,000 events (bench/seed.py); PostgreSQL only."""
    if not kind.startswith("PostgreSQL"):
        return None
    database = support.create_postgres_database(POSTGRES_SERVER_URL, "storefront_scale")
    cleanup.append(database.drop)
    started = time.perf_counter()
    seed.seed(database.url, **SCALE)
    say(f"scale database seeded in {time.perf_counter() - started:.0f} s")
    return database


def in_process_counts(app: Flask, engine: sa.Engine, send: Callable[[], TestResponse],
                      status: int, what: str, postgres: bool) -> tuple[int, int | None]:
    """Statements and (PostgreSQL) round trips of one request, counted on the second of two."""
    statements = statements_of(engine, send, status, what)[0]
    if not postgres:
        return statements, None
    expect(send(), status, what)
    with support.round_trips(engine) as trips:
        expect(send(), status, what)
    return statements, trips.count


def measure_scale(app: Flask, scale_app: Flask, guest_cookie: str, secret_key: str,
                  database: support.Database, scale_database: support.Database) -> Scale:
    """Server time of each page with the demo catalog and with 100,000 products, in this
    process, and the maintenance commands on the big database."""
    pages = [("catalog `/`", "/", ""), ("catalog page 2", "/?page=2", ""),
             (f"search `{SEARCH_WORD}`", f"/?q={SEARCH_WORD}", ""),
             ("search of two words (`smoky tea`)", "/?q=smoky+tea", ""),
             ("search of a word in every sku (`seed`, the worst case)", "/?q=seed", ""),
             ("search of 200 `%`", "/?q=" + "%25" * 200, ""),
             ("search of 200 `a`", "/?q=" + "a" * 200, ""),
             ("product page", "/products/{slug}", ""),
             ("guest cart page, 10 lines", "/cart", guest_cookie)]
    times = []
    for name, path, cookie in pages:
        measured = []
        for shop_app in (app, scale_app):
            with shop_app.app_context():
                slug = db.session.scalar(sa.select(Product.slug).where(Product.active)
                                         .order_by(Product.id))
                db.session.remove()
            client = shop_app.test_client(use_cookies=False)
            # The guest cookie names demo products; at scale, products with the same ids.
            measured.append(server_time_ms(client, path.format(slug=slug), cookie))
        times.append((name, *measured))
    report_seconds = timed_command(["report"], scale_database.url, secret_key)
    cleanup_seconds = timed_command(["carts", "cleanup"], scale_database.url, secret_key)
    sizes = ", ".join(f"{value:,} {name.replace('_', ' ')}" for name, value in SCALE.items())
    return Scale(sizes, times, report_seconds, cleanup_seconds)


def run(seconds: int, warmup: int, tmp_dir: Path, cleanup: list[Callable[[], None]],
        with_scale: bool) -> Report:
    load_at_start = os.getloadavg()[0]
    cpus = len(os.sched_getaffinity(0))
    if load_at_start > cpus / 2:
        say(f"the machine is busy (load average {load_at_start:.2f} on {cpus} CPUs): "
            "the figures will suffer")
    secret_key = secrets.token_hex(32)
    database, kind = open_database(tmp_dir)
    cleanup.append(database.drop)
    postgres = kind.startswith("PostgreSQL")
    notes = []
    if not postgres:
        notes.append("**PostgreSQL was not reachable: these figures are SQLite's, without "
                     "the scale rows.**")
    app = bench_app(database.url, secret_key)
    with app.app_context():
        engine = db.engine
    cleanup.append(engine.dispose)
    products = prepare_catalog(app)
    say(f"{kind} database ready with {len(products)} products in stock")
    scale_database = open_scale_database(kind, cleanup) if with_scale else None
    # Else each in-process request (the statement counts) prints a line. After the
    # migrations, whose logging set-up re-enables every logger.
    logging.getLogger("storefront.request").disabled = True

    # The in-process app's secret key, so the guest cookies made here are valid there.
    # DATABASE_URL, SESSION_COOKIE_SECURE=0 and FLASK_DEBUG=0 come with support.start_server.
    server_env = {"SECRET_KEY": secret_key, "RATELIMIT_ENABLED": "0"}
    servers = {"shop": start_gunicorn("wsgi:app", database.url, server_env, "shop", "/healthz"),
               "floor": start_gunicorn("bench.floor_app:create_app()", database.url, {},
                                       "floor", "/")}
    if scale_database:
        servers["scale"] = start_gunicorn("wsgi:app", scale_database.url, server_env, "scale",
                                          "/healthz")
    for server in servers.values():
        cleanup.append(server.stop)
    shop = servers["shop"]
    cart_ids = [product.id for product in products[:CART_LINES]]
    added = products[0]

    catalog_page = requests.get(shop.url + "/", timeout=HTTP_TIMEOUT_SECONDS)
    expect(catalog_page, 200, "the catalog page")
    floor_page = requests.get(servers["floor"].url + "/", timeout=HTTP_TIMEOUT_SECONDS)
    expect(floor_page, 200, "the floor page")
    guest = Shopper(shop.url)
    guest.add_lines(cart_ids)
    shopper = Shopper(shop.url)
    shopper.register("shopper@example.com")
    shopper.add_lines(cart_ids)
    if 'data-user-email="shopper@example.com"' not in shopper.get("/cart").text:
        raise BenchError("the shopper's cart page does not show them signed in")
    adder = Shopper(shop.url)
    adder.register("adder@example.com")
    add_fields = {"product_id": added.id, "quantity": 1,
                  "csrf_token": csrf_of(adder.get("/").text)}
    sign_in_email = "returning@example.com"
    Shopper(shop.url).register(sign_in_email)
    say("shoppers set up over HTTP")

    # One to check by hand, four for the in-process counts (two requests each), then files.
    sessions = guest_sessions(app, cart_ids, (ROUNDS + 1) * SIGN_IN_SESSIONS + 5)
    by_hand, for_counts, sessions = sessions[0], iter(sessions[1:5]), sessions[5:]
    check_sign_in_by_hand(app, shop.url, sign_in_email, by_hand)
    sign_in_files = [
        write_post_lines(OUT_DIR / f"sign-in-{number}.txt", [
            (s.cookie, sign_in_fields(sign_in_email, s))
            for s in sessions[number * SIGN_IN_SESSIONS:(number + 1) * SIGN_IN_SESSIONS]
        ])
        for number in range(ROUNDS + 1)
    ]
    add_file = write_post_lines(OUT_DIR / "add-to-cart.txt", [(adder.cookie, add_fields)])
    buyers = checkout_sessions(app, products[:CART_LINES], (ROUNDS + 1) * CHECKOUT_SESSIONS + 4)
    buyers_for_counts, buyers = iter(buyers[:4]), buyers[4:]
    checkout_files = [
        write_post_lines(OUT_DIR / f"checkout-{number}.txt", [
            (b.cookie, b.fields)
            for b in buyers[number * CHECKOUT_SESSIONS:(number + 1) * CHECKOUT_SESSIONS]])
        for number in range(ROUNDS + 1)
    ]
    say(f"{len(sessions)} guest sessions with {CART_LINES}-line carts made; one sign-in checked")

    client = app.test_client(use_cookies=False)

    def get(path: str, cookie: str = "") -> Callable[[], TestResponse]:
        return lambda: client.get(path, headers=cookie_header(cookie) if cookie else {})

    def sign_in() -> TestResponse:
        guest_session = next(for_counts)
        return client.post("/auth/login", data=sign_in_fields(sign_in_email, guest_session),
                           headers=cookie_header(guest_session.cookie))

    def place_order() -> TestResponse:
        buyer = next(buyers_for_counts)
        return client.post("/checkout", data=buyer.fields, headers=cookie_header(buyer.cookie))

    def counted(name: str, path: str, send: Callable[[], TestResponse], status: int = 200,
                **options: object) -> Scenario:
        statements, trips = in_process_counts(app, engine, send, status, name, postgres)
        return Scenario(name, path, statements, trips, **options)

    product_path = f"/products/{added.slug}"
    search_path = f"/?q={SEARCH_WORD}"
    scenarios = [
        counted("catalog `/`, new visitor", "/", get("/"), goal=0.70),
        counted(f"catalog `/`, returning guest with {CART_LINES} lines", "/",
                get("/", guest.cookie), cookie=guest.cookie, goal=0.70),
        counted("catalog page 2", "/?page=2", get("/?page=2")),
        counted("product page", product_path, get(product_path), goal=0.80),
        counted(f"search `{search_path}`", search_path, get(search_path)),
        counted(f"guest cart, {CART_LINES} lines", "/cart", get("/cart", guest.cookie),
                cookie=guest.cookie, goal=0.60),
        counted(f"signed-in cart, {CART_LINES} lines", "/cart", get("/cart", shopper.cookie),
                cookie=shopper.cookie, goal=0.60),
        counted("add to cart (POST, signed in)", "/cart/add",
                lambda: client.post("/cart/add", data=add_fields,
                                    headers=cookie_header(adder.cookie)), 303,
                post_lines=[add_file] * (ROUNDS + 1), goal=0.50),
        counted(f"sign-in + {CART_LINES}-line merge (POST)", "/auth/login", sign_in, 303,
                post_lines=sign_in_files),
        counted(f"checkout, {CART_LINES}-line order placed (POST)", "/checkout", place_order,
                303, post_lines=checkout_files),
    ]
    if scale_database:
        scale_app = bench_app(scale_database.url, secret_key)
        scale_client = scale_app.test_client(use_cookies=False)
        for name, path in (("catalog `/`, 100,000 products", "/"),
                           (f"search `{search_path}`, 100,000 products", search_path)):
            statements, trips = in_process_counts(
                scale_app, engine_of(scale_app), lambda path=path: scale_client.get(path), 200,
                name, postgres)
            scenarios.append(Scenario(name, path, statements, trips, scale=True))
    say("SQL statements and round trips per request counted")

    served_before = None
    rss_before: list[float] = []
    for round_number in range(ROUNDS):
        for scenario in scenarios:
            if scenario.post_lines and scenario.path == "/auth/login":
                merges_before = merges_so_far(app)
            if scenario.path == "/checkout":
                orders_before = orders_so_far(app)
            measure_round(scenario, round_number, servers, seconds, warmup)
            if served_before is None:  # after the first warm-up: what a worker needs
                rss_before = worker_rss_mib(shop)
                served_before = 0
            if scenario.path == "/auth/login":
                merged = merges_so_far(app) - merges_before
                if merged < scenario.runs[-1].load.requests:
                    notes.append(f"**Round {round_number + 1}: {merged} merges for "
                                 f"{scenario.runs[-1].load.requests} sign-ins.**")
            if scenario.path == "/checkout":
                placed = orders_so_far(app) - orders_before
                if placed < scenario.runs[-1].load.requests:
                    notes.append(f"**Round {round_number + 1}: {placed} orders for "
                                 f"{scenario.runs[-1].load.requests} checkout POSTs (the "
                                 "others were repeats, answered with a redirect).**")
    rss_after = worker_rss_mib(shop)
    served = sum(run.load.requests for scenario in scenarios if not scenario.scale
                 for run in scenario.runs)
    notes.append("Sign-in: every sign-in merges a fresh 10-line guest cart of its own (the "
                 "run checks one by hand and counts the `cart_merges` rows). Its rate is bound "
                 "by the deliberately slow password hash (`scrypt:32768:8:3`, about 0.25 s of "
                 "one core per sign-in): that is its real cost, reported as is.")
    notes.append(f"Checkout: every POST places a {CART_LINES}-line order for a shopper of its "
                 "own (made offline: account, address, saved cart, and the session the review "
                 "page leaves), taking stock by one guarded UPDATE; the run counts the orders.")
    notes.append(f"Add to cart posts the same product (`{added.name}`) for one signed-in "
                 "shopper every time: once the line reaches the stock it is capped, still one "
                 "upsert per request.")
    for scenario in scenarios:
        for run_ in scenario.runs:
            if run_.load.problems:
                notes.append(f"**{scenario.name}: {run_.load.problems}**")
    for server in servers.values():
        errors = server.errors()
        if errors:
            notes.append(f"**{len(errors)} error lines in `bench/out/{server.log_path.name}`**"
                         f", the first: `{errors[0].strip()}`")
        if server.restarts():
            notes.append(f"**`bench/out/{server.log_path.name}`: {server.restarts()} workers "
                         "were replaced during the run (a crash or a timeout)**.")

    scale = None
    if scale_database:
        scale = measure_scale(app, scale_app, guest.cookie, secret_key, database,
                              scale_database)
        say("server times with the demo catalog and with 100,000 products measured")
    cart_counts = count_cart_pages(app, engine)
    say("cart page statements counted at 1 and 50 lines")
    return Report(kind, scenarios, cart_counts, len(catalog_page.content),
                  len(floor_page.content), seconds, warmup,
                  (load_at_start, os.getloadavg()[0]), (rss_before, rss_after, served), scale,
                  notes)


def engine_of(app: Flask) -> sa.Engine:
    with app.app_context():
        return db.engine


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=DURATION_SECONDS,
                        help="measured wrk run per scenario (default %(default)s)")
    parser.add_argument("--warmup", type=int, default=WARMUP_SECONDS,
                        help="warm-up wrk run per scenario (default %(default)s)")
    parser.add_argument("--no-scale", action="store_true",
                        help="leave out the 100,000-product database (a quicker run)")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        say("wrk is not installed (`apt-get install -y wrk`; `make bench` does it)")
        return 1
    shutil.rmtree(OUT_DIR, ignore_errors=True)
    OUT_DIR.mkdir()
    cleanup: list[Callable[[], None]] = []
    started = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="storefront-bench-") as tmp:
        try:
            report = run(args.seconds, args.warmup, Path(tmp), cleanup, not args.no_scale)
        except BenchError as error:
            say(f"failed: {error}")
            return 1
        finally:
            for step in reversed(cleanup):
                step()
    appended = [path.read_text() for path in (ANALYSIS, PROFILE_SECTION) if path.exists()]
    RESULTS.write_text("\n".join([results_markdown(report, started), *appended]))
    print(table(report))
    if report.scale:
        print(scale_table(report.scale))
    say(f"figures on {report.database_kind}"
        + (" (PostgreSQL was not reachable)" if report.database_kind.startswith("SQLite") else ""))
    say(f"written to {RESULTS.relative_to(PROJECT_ROOT)} in {datetime.now(UTC) - started}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
