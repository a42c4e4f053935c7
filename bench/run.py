"""`make bench`: the shop under load next to a floor, with SQL statements per request.

1. A fresh PostgreSQL database (SQLite in a temp dir when PostgreSQL is unreachable, and the
   output says so), migrated, with the demo catalog.
2. The shop under gunicorn (2 workers); shoppers set up over HTTP: a guest with 10 lines, a
   signed-in shopper with 10 lines, an account for the add-to-cart POSTs and one to sign in to.
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
from storefront.extensions import db
from storefront.models import CART_MAX_LINES, CartMerge, Product

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = BENCH_DIR.parent
# `python bench/run.py` puts bench/ on the path, not the project root that holds `tests`.
sys.path.insert(0, str(PROJECT_ROOT))

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
HTTP_TIMEOUT_SECONDS = 30
SETTLE_SECONDS = 1  # for the one request per worker still running after the probe (below)
FLOOR_GOAL = 0.5
P99_GOAL_MS = 50
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
class Scenario:
    name: str
    path: str
    statements: int
    cookie: str = ""  # sent with every GET
    post_lines: tuple[Path, Path] | None = None  # POST request files: warm-up, measured run
    floor_goal: bool = False  # one of the pages that should reach half the floor's rate
    load: Load | None = None


def run_wrk(command: list[str], seconds: int, label: str) -> Load:
    result = subprocess.run(command, capture_output=True, text=True, check=False,
                            timeout=seconds + 30)
    (OUT_DIR / f"wrk-{label}.txt").write_text(" ".join(command) + "\n\n" + result.stdout
                                              + result.stderr)
    if result.returncode != 0:
        raise BenchError(f"wrk failed ({label}):\n{result.stderr or result.stdout}")
    return parse_wrk(result.stdout)


def _label(scenario: Scenario) -> str:
    return re.sub(r"[^a-z0-9]+", "-", scenario.name.lower()).strip("-")


def warm_up(scenario: Scenario, server: Server, seconds: int) -> None:
    """A run whose figures are thrown away: templates compiled, pools filled, caches warm."""
    post_lines = scenario.post_lines[0] if scenario.post_lines else None
    command = wrk_command(server.url + scenario.path, seconds, scenario.cookie, post_lines)
    run_wrk(command, seconds, _label(scenario) + "-warmup")
    server.drain()


def measure(scenario: Scenario, server: Server, seconds: int) -> None:
    post_lines = scenario.post_lines[1] if scenario.post_lines else None
    command = wrk_command(server.url + scenario.path, seconds, scenario.cookie, post_lines)
    load = scenario.load = run_wrk(command, seconds, _label(scenario))
    server.drain()
    say(f"{scenario.name}: {load.rate:.1f} requests/s, p50 {load.p50_ms:.1f} ms, "
        f"p99 {load.p99_ms:.1f} ms" + (f" ({load.problems})" if load.problems else ""))


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
class Report:
    database_kind: str  # e.g. "PostgreSQL 15.20" or "SQLite 3.40.1"
    floor: Scenario
    scenarios: list[Scenario]
    cart_counts: CartCounts
    catalog_bytes: int
    seconds: int
    warmup: int
    load_averages: tuple[float, float]  # 1-minute load average at the start and the end
    notes: list[str] = field(default_factory=list)


def _rate(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def _ratio(value: float) -> str:
    return f"{value:.2f}" if value >= 0.1 else f"{value:.3f}"  # sign-in is far below 0.01


def table(report: Report) -> str:
    floor_rate = report.floor.load.rate
    rows = [
        "| scenario | requests/s | p50 ms | p99 ms | ratio to floor | SQL statements/request |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for scenario in [report.floor, *report.scenarios]:
        load = scenario.load
        rows.append(
            f"| {scenario.name} | {_rate(load.rate)} | {load.p50_ms:.1f} | {load.p99_ms:.1f} "
            f"| {_ratio(load.rate / floor_rate)} | {scenario.statements} |"
        )
    return "\n".join(rows)


def goals(report: Report) -> list[str]:
    floor_rate = report.floor.load.rate
    pages = [s for s in report.scenarios if s.floor_goal]
    slow = [s for s in pages if s.load.rate < FLOOR_GOAL * floor_rate]
    share = "; ".join(f"{s.name}: {s.load.rate / floor_rate:.0%}" for s in pages)
    late = [s for s in report.scenarios if s.load.p99_ms >= P99_GOAL_MS]
    late_text = "; ".join(f"{s.name}: {s.load.p99_ms:,.0f} ms" for s in late)
    counts = report.cart_counts
    return [
        f"Catalog, product and cart pages at least {FLOOR_GOAL:.0%} of the floor's requests/s: "
        + ("met" if not slow else "**not met**") + f" ({share}).",
        f"p99 under {P99_GOAL_MS} ms at {CONNECTIONS} connections: "
        + ("met for every scenario." if not late else f"**not met** ({late_text}); met for "
           "the other scenarios.")
        + (" A sign-in spends about 0.25 s in its password hash alone: it cannot meet this."
           if any(s.path == "/auth/login" for s in late) else ""),
        "SQL statements per request the same at 1 and 50 cart lines: "
        + ("met" if counts.equal else "**not met**")
        + f" (guest {counts.guest[0]} and {counts.guest[1]}, signed in "
        f"{counts.signed_in[0]} and {counts.signed_in[1]}).",
    ]


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
    return "\n".join([
        "# Benchmark results",
        "",
        f"Measured {when:%Y-%m-%d %H:%M} UTC by `make bench` (`bench/run.py`).",
        "",
        *machine(report),
        "",
        f"The shop: `{server}` from the project root, "
        "with `SECRET_KEY` (random), `DATABASE_URL`, `SESSION_COOKIE_SECURE=0`, "
        "`RATELIMIT_ENABLED=0` and `FLASK_DEBUG=0`, on a fresh database with the demo catalog. "
        f"Each scenario: `{command}` (POSTs add `-s bench/post.lua`), after a "
        f"{report.warmup} s warm-up run that is not counted; all on 127.0.0.1. The floor is "
        f"`bench/floor_app.py`: bare Flask, a {report.catalog_bytes:,}-byte page (the catalog "
        "page's size) and one `SELECT 1` per request, under the same gunicorn and wrk "
        "settings. SQL statements are counted in-process with the Flask test client on the "
        "same database (transaction plumbing aside).",
        "",
        table(report),
        "",
        f"Cart page SQL statements at 1 and 50 lines: guest {report.cart_counts.guest[0]} and "
        f"{report.cart_counts.guest[1]}, signed in {report.cart_counts.signed_in[0]} and "
        f"{report.cart_counts.signed_in[1]}.",
        "",
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


def run(seconds: int, warmup: int, tmp_dir: Path, cleanup: list[Callable[[], None]]) -> Report:
    load_at_start = os.getloadavg()[0]
    cpus = len(os.sched_getaffinity(0))
    if load_at_start > cpus / 2:
        say(f"the machine is busy (load average {load_at_start:.2f} on {cpus} CPUs): "
            "the figures will suffer")
    secret_key = secrets.token_hex(32)
    database, kind = open_database(tmp_dir)
    cleanup.append(database.drop)
    notes = []
    if kind.startswith("SQLite"):
        notes.append("**PostgreSQL was not reachable: these figures are SQLite's.**")
    app = bench_app(database.url, secret_key)
    with app.app_context():
        engine = db.engine
    cleanup.append(engine.dispose)
    products = prepare_catalog(app)
    # Else each in-process request (the statement counts) prints a line. After the migration,
    # whose logging set-up re-enables every logger.
    logging.getLogger("storefront.request").disabled = True
    say(f"{kind} database ready with {len(products)} products in stock")

    # The in-process app's secret key, so the guest cookies made here are valid there.
    # DATABASE_URL, SESSION_COOKIE_SECURE=0 and FLASK_DEBUG=0 come with support.start_server.
    server_env = {"SECRET_KEY": secret_key, "RATELIMIT_ENABLED": "0"}
    shop = start_gunicorn("wsgi:app", database.url, server_env, "shop", "/healthz")
    cleanup.append(shop.stop)
    cart_ids = [product.id for product in products[:CART_LINES]]
    added = products[0]

    catalog_page = requests.get(shop.url + "/", timeout=HTTP_TIMEOUT_SECONDS)
    expect(catalog_page, 200, "the catalog page")
    catalog_bytes = len(catalog_page.content)
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

    sessions = guest_sessions(app, cart_ids, 2 * SIGN_IN_SESSIONS + 3)
    by_hand, for_counts, sessions = sessions[0], iter(sessions[1:3]), sessions[3:]
    check_sign_in_by_hand(app, shop.url, sign_in_email, by_hand)
    sign_in_files = tuple(
        write_post_lines(OUT_DIR / f"sign-in-{run_name}.txt", [
            (s.cookie, sign_in_fields(sign_in_email, s)) for s in chunk
        ])
        for run_name, chunk in (("warmup", sessions[:SIGN_IN_SESSIONS]),
                                ("measured", sessions[SIGN_IN_SESSIONS:]))
    )
    add_file = write_post_lines(OUT_DIR / "add-to-cart.txt", [(adder.cookie, add_fields)])
    say(f"{len(sessions)} guest sessions with {CART_LINES}-line carts made; one sign-in checked")

    client = app.test_client(use_cookies=False)

    def get(path: str, cookie: str = "") -> Callable[[], TestResponse]:
        return lambda: client.get(path, headers=cookie_header(cookie) if cookie else {})

    def sign_in() -> TestResponse:
        guest_session = next(for_counts)
        return client.post("/auth/login", data=sign_in_fields(sign_in_email, guest_session),
                           headers=cookie_header(guest_session.cookie))

    def count(send: Callable[[], TestResponse], status: int, what: str) -> int:
        return statements_of(engine, send, status, what)[0]

    product_path = f"/products/{added.slug}"
    signing_in = Scenario(f"sign-in + {CART_LINES}-line merge (POST)", "/auth/login",
                          count(sign_in, 303, "sign-in"), post_lines=sign_in_files)
    scenarios = [
        Scenario("catalog page `/`", "/", count(get("/"), 200, "catalog"), floor_goal=True),
        Scenario("product page", product_path, count(get(product_path), 200, "product"),
                 floor_goal=True),
        Scenario("search `/?q=coffee`", "/?q=coffee", count(get("/?q=coffee"), 200, "search")),
        Scenario(f"guest cart, {CART_LINES} lines", "/cart",
                 count(get("/cart", guest.cookie), 200, "guest cart"), guest.cookie,
                 floor_goal=True),
        Scenario(f"signed-in cart, {CART_LINES} lines", "/cart",
                 count(get("/cart", shopper.cookie), 200, "signed-in cart"), shopper.cookie,
                 floor_goal=True),
        Scenario("add to cart (POST, signed in)", "/cart/add",
                 count(lambda: client.post("/cart/add", data=add_fields,
                                           headers=cookie_header(adder.cookie)), 303, "add"),
                 post_lines=(add_file, add_file)),
        signing_in,
    ]
    say("SQL statements per request counted")

    floor_server = start_gunicorn("bench.floor_app:create_app()", database.url,
                                  {"FLOOR_PAGE_BYTES": str(catalog_bytes)}, "floor", "/")
    floor = Scenario("floor (bare Flask + `SELECT 1`)", "/", 1)
    try:
        floor_bytes = len(requests.get(floor_server.url, timeout=HTTP_TIMEOUT_SECONDS).content)
        if floor_bytes != catalog_bytes:
            raise BenchError(f"the floor page has {floor_bytes} bytes, not {catalog_bytes}")
        warm_up(floor, floor_server, warmup)
        measure(floor, floor_server, seconds)
    finally:
        floor_server.stop()

    for scenario in scenarios[:-1]:
        warm_up(scenario, shop, warmup)
        measure(scenario, shop, seconds)
    warm_up(signing_in, shop, warmup)
    merges_before = merges_so_far(app)
    measure(signing_in, shop, seconds)
    merged = merges_so_far(app) - merges_before
    notes.append(
        f"Sign-in: {signing_in.load.requests} sign-ins completed in the measured run and "
        f"{merged} merges recorded in `cart_merges` meanwhile (requests still in flight when "
        "wrk stopped finish too), so "
        + ("each sign-in merged a fresh 10-line guest cart. " if merged >= signing_in.load.requests
           else "**some sign-ins merged nothing: guest sessions ran out or merges failed.** ")
        + "Its rate is bound by the deliberately slow password hash (`scrypt:32768:8:3`, about "
        "0.25 s of one core per sign-in): that is the real cost, reported as is."
    )
    notes.append(f"Add to cart posts the same product (`{added.name}`) for one signed-in "
                 "shopper every time: once the line reaches the stock it is capped, still one "
                 "upsert per request.")
    for scenario in [floor, *scenarios]:
        if scenario.load.problems:
            notes.append(f"**{scenario.name}: {scenario.load.problems}**")
    if (PROJECT_ROOT / "gunicorn.conf.py").exists():
        notes.append("Both servers start in the project root, so gunicorn reads its "
                     "`gunicorn.conf.py` (access log included); `-w`, `-b` and `--max-requests` "
                     "on the command line win over it. Worker recycling is off because at these "
                     "rates both workers would reach `max_requests` in the same second, mid-run, "
                     "and their reboot stall would be all a p99 shows.")
    for server in (shop, floor_server):
        errors = server.errors()
        if errors:
            notes.append(f"**{len(errors)} error lines in `bench/out/{server.log_path.name}`**"
                         f", the first: `{errors[0].strip()}`")
        if server.restarts():
            notes.append(f"**`bench/out/{server.log_path.name}`: {server.restarts()} workers "
                         "were replaced during the run (a crash or a timeout)**; each shows in "
                         "that run's p99.")

    cart_counts = count_cart_pages(app, engine)
    say("cart page statements counted at 1 and 50 lines")
    return Report(kind, floor, scenarios, cart_counts, catalog_bytes, seconds, warmup,
                  (load_at_start, os.getloadavg()[0]), notes)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=DURATION_SECONDS,
                        help="measured wrk run per scenario (default %(default)s)")
    parser.add_argument("--warmup", type=int, default=WARMUP_SECONDS,
                        help="warm-up wrk run per scenario (default %(default)s)")
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
            report = run(args.seconds, args.warmup, Path(tmp), cleanup)
        except BenchError as error:
            say(f"failed: {error}")
            return 1
        finally:
            for step in reversed(cleanup):
                step()
    RESULTS.write_text(results_markdown(report, started))
    print(table(report))
    say(f"figures on {report.database_kind}"
        + (" (PostgreSQL was not reachable)" if report.database_kind.startswith("SQLite") else ""))
    say(f"written to {RESULTS.relative_to(PROJECT_ROOT)} in {datetime.now(UTC) - started}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
