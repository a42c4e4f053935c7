"""Where a request's time goes, in-process: the catalog, product, cart and add-to-cart
requests profiled with pyinstrument on PostgreSQL with the demo catalog.

    python bench/profile.py LABEL      # e.g. "before" or "after"

Writes (or replaces) the section LABEL of bench/PROFILE.md: each request's time without the
profiler, then its largest costs by the time spent in the function itself, grouped by where
they live (the shop's code, SQLAlchemy, psycopg and the database, Jinja, Flask and werkzeug,
the extensions). `make bench` appends PROFILE.md to RESULTS.md.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = BENCH_DIR.parent
sys.path.insert(0, str(PROJECT_ROOT))

from pyinstrument import Profiler  # noqa: E402

from storefront import catalog, create_app  # noqa: E402
from storefront.extensions import db  # noqa: E402
from storefront.models import Product  # noqa: E402
from tests import support  # noqa: E402

PROFILE = BENCH_DIR / "PROFILE.md"
REQUESTS = int(__import__("os").environ.get("PROFILE_REQUESTS", "2000"))
TOP = 10
# Where a function lives, by its file: the first pattern that matches names its group.
GROUPS = (
    ("the shop's code", r"/storefront/|/templates/"),
    ("psycopg (and the wait for PostgreSQL)", r"/psycopg/"),
    ("SQLAlchemy", r"/sqlalchemy/"),
    ("Jinja and markupsafe", r"/jinja2/|/markupsafe/"),
    ("Flask-WTF, Flask-Login, Flask-Limiter",
     r"/flask_wtf/|/flask_login/|/flask_limiter/|/limits/"),
    ("itsdangerous (signed cookie, CSRF token)", r"/itsdangerous/"),
    ("Flask and werkzeug", r"/flask/|/werkzeug/"),
)


def group_of(path: str) -> str:
    return next((name for name, pattern in GROUPS if re.search(pattern, path)), "other")


def self_times(frame, totals: Counter, groups: Counter) -> None:  # noqa: ANN001
    own = frame.total_self_time
    if frame.file_path:
        totals[f"{frame.function} ({Path(frame.file_path).name}:{frame.line_no})"] += own
        groups[group_of(frame.file_path)] += own
    for child in frame.children:
        self_times(child, totals, groups)


def profile(send, requests: int = REQUESTS) -> tuple[float, list[tuple[str, float]],  # noqa: ANN001
                                                     list[tuple[str, float]]]:
    for _ in range(100):
        send()
    started = time.perf_counter()
    for _ in range(requests):
        send()
    wall_ms = (time.perf_counter() - started) / requests * 1000
    # The test client runs each request in a context of its own: profile them all.
    profiler = Profiler(interval=0.0001, async_mode="disabled")
    profiler.start()
    for _ in range(requests):
        send()
    session = profiler.stop()
    totals: Counter = Counter()
    groups: Counter = Counter()
    self_times(profiler.last_session.root_frame(), totals, groups)
    whole = session.duration
    top = [(name, seconds / whole) for name, seconds in totals.most_common(TOP)]
    return wall_ms, top, [(name, seconds / whole) for name, seconds in groups.most_common()]


def section(label: str) -> str:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT_ROOT,
                            capture_output=True, text=True, check=False).stdout.strip()
    database = support.create_postgres_database(support.DEFAULT_POSTGRES_URL, "profile")
    try:
        app = create_app(support.base_config(database.url, RATELIMIT_ENABLED=False))
        with app.app_context():
            catalog.load_demo_catalog()
            product = db.session.scalars(db.select(Product).order_by(Product.id)).first()
            db.session.remove()
        import logging

        logging.getLogger("storefront.request").disabled = True
        app.test_client_class = support.ShopClient
        guest = app.test_client()
        shopper = app.test_client()
        shopper.register("profile@example.com")
        token = shopper.csrf_token()
        for client in (guest, shopper):
            client.post_form("/cart/add", {"product_id": product.id})
        shopper.get("/cart")  # the flashes shown, so the cookie below carries none
        signed_in_cookie = shopper.get_cookie("session").value

        def add() -> object:
            # The same cookie each time, as a browser that follows each redirect would have:
            # else every flash stays in the cookie and the cookie grows with the run.
            shopper.set_cookie("session", signed_in_cookie)
            return shopper.post("/cart/add", data={"product_id": product.id, "csrf_token": token})

        requests = {
            "catalog `/`, new visitor": (lambda: app.test_client().get("/"), 200),
            "product page": (lambda: guest.get(f"/products/{product.slug}"), 200),
            "guest cart page": (lambda: guest.get("/cart"), 200),
            "signed-in cart page": (lambda: shopper.get("/cart"), 200),
            "add to cart (POST, signed in)": (add, 303),
        }
        lines = [f"## In-process profile: {label}", "",
                 f"Commit `{commit}`, PostgreSQL, demo catalog, Flask test client, {REQUESTS} "
                 "requests each (pyinstrument, 0.1 ms samples; the time per request is "
                 "measured without the profiler).", ""]
        for name, (send, status) in requests.items():
            if send().status_code != status:
                raise SystemExit(f"{name}: not {status}")
            wall_ms, top, groups = profile(send)
            lines += [f"**{name}**: {wall_ms:.2f} ms a request. By where the time goes: "
                      + ", ".join(f"{group} {share:.0%}" for group, share in groups
                                  if share >= 0.01)
                      + ".", "", "| function (self time) | share |", "| --- | ---: |"]
            lines += [f"| `{function}` | {share:.1%} |" for function, share in top]
            lines.append("")
        with app.app_context():
            db.engine.dispose()
        return "\n".join(lines)
    finally:
        database.drop()


def main() -> int:
    label = sys.argv[1] if len(sys.argv) > 1 else "now"
    new = section(label)
    old = PROFILE.read_text() if PROFILE.exists() else ""
    parts = [part for part in re.split(r"(?m)^(?=## In-process profile: )", old)
             if part.strip() and not part.startswith(f"## In-process profile: {label}\n")]
    PROFILE.write_text("\n".join(part.rstrip() + "\n" for part in [*parts, new]))
    print(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
