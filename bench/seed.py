"""Fill a migrated PostgreSQL database at scale, for `make bench` only (never for a shop).

    python bench/seed.py DATABASE_URL [--products 100000] [--accounts 100000]
        [--cart-lines 1000000] [--events 1000000]

Products (mostly active, a few sold out), accounts with their profiles and a session each,
saved-cart lines (at most 10 an account, distinct products, within every limit of the shop)
and events of every kind spread over the last 60 days. Everything is made by SQL
`generate_series` in a few statements, as the connecting (owner) role, so 100,000 products
and 1,000,000 rows take seconds, not hours. Names are made of words, so searches find some
products and not others, as in a real shop.
"""

from __future__ import annotations

import argparse
import sys
import time

import sqlalchemy as sa
from werkzeug.security import generate_password_hash

ADJECTIVES = ["Red", "Blue", "Green", "Smoky", "Bright", "Quiet", "Golden", "Silver", "Rustic",
              "Modern", "Classic", "Tiny", "Grand", "Soft", "Bold", "Wild", "Calm", "Sharp",
              "Warm", "Cool"]
NOUNS = ["Tea", "Coffee", "Mug", "Kettle", "Teapot", "Blend", "Grinder", "Filter", "Spoon",
         "Tin", "Cup", "Saucer", "Tray", "Whisk", "Scale", "Jar", "Press", "Roast", "Leaf",
         "Bean", "Strainer", "Caddy", "Cosy", "Brush", "Towel"]
CART_LINES_PER_ACCOUNT = 10
SEED_PASSWORD = "seeded account password"  # noqa: S105 - accounts of a benchmark database


def _array(words: list[str]) -> str:
    return "ARRAY[" + ", ".join(f"'{word}'" for word in words) + "]"


def seed(url: str, products: int, accounts: int, cart_lines: int, events: int) -> dict[str, float]:
    """Fill the database; returns the seconds each table took."""
    if cart_lines > accounts * CART_LINES_PER_ACCOUNT:
        raise SystemExit(f"--cart-lines is at most {CART_LINES_PER_ACCOUNT} per account")
    if products < CART_LINES_PER_ACCOUNT:
        raise SystemExit(f"--products must be at least {CART_LINES_PER_ACCOUNT}")
    password_hash = generate_password_hash(SEED_PASSWORD, method="scrypt:1024:8:1")
    statements = {
        "products": (f"""
            INSERT INTO products (sku, slug, name, description, price, stock, active, created_at)
            SELECT 'SEED-' || lpad(n::text, 7, '0'), 'seed-' || n,
                   ({_array(ADJECTIVES)})[1 + n % {len(ADJECTIVES)}] || ' '
                     || ({_array(NOUNS)})[1 + (n / {len(ADJECTIVES)}) % {len(NOUNS)}]
                     || ' #' || n,
                   'Seeded product ' || n || ' for the benchmark.',
                   round((1 + (n * 7919) % 9900) / 100.0, 2),
                   CASE WHEN n % 50 = 0 THEN 0 ELSE (n * 31) % 500 + 1 END,
                   n % 97 <> 0,
                   now() - interval '400 days' + n * interval '1 minute'
            FROM generate_series(1, :products) AS n""", {"products": products}),
        "users": ("""
            INSERT INTO users (email, email_canonical, password_hash, is_active, created_at)
            SELECT 'seed' || n || '@example.com', 'seed' || n || '@example.com', :hash, true,
                   now() - (n % 60) * interval '1 day'
            FROM generate_series(1, :accounts) AS n""",
                  {"accounts": accounts, "hash": password_hash}),
        "profiles": ("""
            INSERT INTO profiles (user_id, first_name, last_name, marketing_opt_in, updated_at)
            SELECT id, 'Seed', 'Shopper ' || id, id % 3 = 0, created_at FROM users
            WHERE email LIKE 'seed%@example.com'""", {}),
        "user_sessions": ("""
            INSERT INTO user_sessions (user_id, token_hash, remember, created_at, last_seen_at,
                                       expires_at, user_agent, ip)
            SELECT id, md5('seed-session-' || id) || md5('seed-' || id), id % 2 = 0, created_at,
                   created_at + (id % 600) * interval '1 minute',
                   created_at + interval '30 days', 'Mozilla/5.0 (X11; Linux x86_64) Firefox/130',
                   '127.0.0.1'
            FROM users WHERE email LIKE 'seed%@example.com'""", {}),
        "user_carts": (f"""
            INSERT INTO user_carts (user_id, product_id, quantity, added_at, updated_at)
            SELECT u.id, p.id, 1 + (u.id + k) % 5, u.created_at + k * interval '1 second',
                   u.created_at + k * interval '1 second'
            FROM (SELECT id, created_at, row_number() OVER (ORDER BY id) - 1 AS rank
                  FROM users WHERE email LIKE 'seed%@example.com') AS u
            CROSS JOIN generate_series(0, {CART_LINES_PER_ACCOUNT - 1}) AS k
            JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS rank FROM products) AS p
              ON p.rank = (u.rank + k * 10007) % :products
            WHERE u.rank * {CART_LINES_PER_ACCOUNT} + k < :cart_lines""",
                       {"products": products, "cart_lines": cart_lines}),
        "events": ("""
            INSERT INTO events (kind, ok, user_id, created_at, detail, lines_merged, lines_capped,
                                lines_dropped)
            SELECT (ARRAY['registration', 'login', 'login', 'cart_merge'])[1 + n % 4],
                   n % 10 <> 0, NULL, now() - (n % 86400) * interval '1 minute', '',
                   CASE WHEN n % 4 = 3 THEN n % 7 END, CASE WHEN n % 4 = 3 THEN n % 2 END,
                   CASE WHEN n % 4 = 3 THEN n % 3 END
            FROM generate_series(1, :events) AS n""", {"events": events}),
    }
    engine = sa.create_engine(url)
    seconds = {}
    try:
        with engine.begin() as connection:
            for table, (sql, parameters) in statements.items():
                started = time.perf_counter()
                connection.execute(sa.text(sql), parameters)
                seconds[table] = time.perf_counter() - started
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE")
    finally:
        engine.dispose()
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("database_url")
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--cart-lines", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    arguments = parser.parse_args()
    if not arguments.database_url.startswith("postgresql"):
        raise SystemExit("bench/seed.py fills PostgreSQL databases only")
    seconds = seed(arguments.database_url, arguments.products, arguments.accounts,
                   arguments.cart_lines, arguments.events)
    for table, taken in seconds.items():
        print(f"{table}: {taken:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
