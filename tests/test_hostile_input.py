"""Every route of the app, walked from `app.url_map`, answers hostile input without a 5xx, and a
refusal (any 4xx) changes no row: on SQLite and PostgreSQL, anonymous and signed in.

Nothing here lists the routes or their fields by hand. The routes come from the url_map; each
route's fields are read from the forms the shop's own pages show for it (the visitor has a line
in the cart, two sessions, an address, an order, a wish and a picture), and for a route no page
shows a form for, from the `FlaskForm`s its view's code names (the shop reads fields through
its forms only). A route added later is covered without a change here.

Values a request guard must refuse (a C0 control character, text that is not UTF-8, a lone
surrogate) answer exactly `400`; a form route that gets JSON, a file part or a body of another
type answers exactly `400`; every other value may be accepted or refused, but never with a 5xx.
"""

from __future__ import annotations

import inspect
import io
import json
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import quote, unquote_to_bytes, urlsplit

import pytest
import sqlalchemy as sa
from flask import Flask
from flask_wtf import FlaskForm
from PIL import Image

from storefront import staff
from storefront.database import WRITING
from storefront.extensions import db
from storefront.models import Category, ProductCategory, User
from tests.factories import make_product
from tests.support import PASSWORD, ShopClient, csrf_token_of

EMAIL = "fuzz@example.com"
AUTOMATIC_METHODS = frozenset({"HEAD", "OPTIONS"})
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
RULE_ARGUMENT = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
# Columns a refused request may still touch: the once-a-minute "last seen" stamp.
VOLATILE_COLUMNS = frozenset({("user_sessions", "last_seen_at")})
# Tables a refused request may write: a failed sign-in is recorded (that is the point).
RECORDS_REFUSALS = frozenset({"events", "alembic_version"})
# Append-only tables (the shop never updates or deletes their rows): their row count and newest id
# tell whether a request wrote to them, without re-reading a log that grows all walk long.
APPEND_ONLY = frozenset({"audit_events"})
# The tables a writing statement names (the walk re-reads only those).
RETURNING = re.compile(r"\bRETURNING\b", re.I)
WRITE_TARGET = re.compile(r'\b(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+"?(\w+)', re.I)


@dataclass(frozen=True)
class Hostile:
    """One hostile value, as the raw bytes a client puts on the wire (percent-encoded)."""

    label: str
    encoded: str  # percent-encoded, ready for a path segment, a query or a form body
    refused_by_guard: bool  # the request guard answers exactly 400, wherever it is
    line_break: bool = False  # tab, CR or LF: 400 in a path, query or cookie, not in a field

    @classmethod
    def text(cls, label: str, value: str, refused: bool = False) -> Hostile:
        return cls(label, quote(value, safe=""), refused, line_break=bool(
            re.search(r"[\t\r\n]", value)))

    @property
    def refused_on_one_line(self) -> bool:
        """Refused in a path, a query string or a header, where no line may break."""
        return self.refused_by_guard or self.line_break


HOSTILE = [
    Hostile.text("NUL", "a\x00b", refused=True),
    Hostile.text("C0 SOH", "\x01", refused=True),
    Hostile.text("escape sequence", "\x1b[31mred", refused=True),
    Hostile.text("DEL", "a\x7fb"),
    Hostile.text("line break", "a\nb"),
    Hostile.text("CR LF", "a\r\nInjected: yes"),
    Hostile.text("tab", "a\tb"),
    Hostile("lone surrogate", "a%ED%A0%80b", refused_by_guard=True),
    Hostile("invalid UTF-8", "a%FFb", refused_by_guard=True),
    Hostile("overlong UTF-8 slash", "%C0%AF", refused_by_guard=True),
    Hostile.text("10 kB", "x" * 10_240),
    Hostile.text("-1", "-1"),
    Hostile.text("0", "0"),
    Hostile.text("2**31", str(2**31)),
    Hostile.text("2**63", str(2**63)),
    Hostile.text("20 digits", "9" * 20),
    Hostile.text("1e9", "1e9"),
    Hostile.text("1.5", "1.5"),
    Hostile.text("empty", ""),
    Hostile.text("blank", "   "),
    Hostile.text("Arabic-Indic digit", "\u0663"),
    Hostile.text("bidi override", "\u202eevil"),
    Hostile.text("zero-width space", "\u200b"),
    Hostile.text("markup", "<script>alert(1)</script>"),
    Hostile.text("SQL", "1' OR '1'='1"),
    Hostile.text("wildcards", "%_%" * 50),
    Hostile.text("path traversal", "../../etc/passwd"),
    Hostile.text("off-site URL", "//evil.example/"),
]
# Sent twice in a field (hostile first): where a form could read the wrong copy of a number.
NUMBERS = frozenset({"-1", "0", "2**31", "2**63", "20 digits", "1e9", "1.5", "empty"})
# Wrong JSON types for a field (a form route must answer 400 to any JSON body).
JSON_VALUES = [123, -1, 2**63, 1.5, True, None, [], ["a"], {}, {"a": 1}, "x" * 10_240]
# JSON an API route must refuse before its view: 400 exactly.
JSON_REFUSED = [
    '{"first_name": "a\\u0000b"}',
    '{"first_name": "a\\ud800b"}',
    '{"first_name": "\\udfff"}',
    '{"a\\u0001": 1}',
    '{"phone": NaN}',
    '{"phone": Infinity}',
    '{"first_name": ' + str(2**64) + "}",
    "[" * 100 + "]" * 100,
    '{"first_name": "Ada"',
]


class FormFields(HTMLParser):
    """The fields of every `<form>` on a page, by the form's action path."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: dict[str, set[str]] = {}
        self._current: set[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "form":
            action = urlsplit(named.get("action") or "").path
            self._current = self.forms.setdefault(action, set())
        elif (tag in {"input", "select", "textarea", "button"} and self._current is not None
              and named.get("name")):
            self._current.add(named["name"] or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None


def fields_of_form(form: type) -> set[str]:
    return {name for name in dir(form) if hasattr(getattr(form, name, None), "field_class")}


def declared_fields() -> set[str]:
    """Every field name of every FlaskForm subclass the app defines."""
    names: set[str] = set()
    pending = list(FlaskForm.__subclasses__())
    while pending:
        form = pending.pop()
        pending.extend(form.__subclasses__())
        names.update(fields_of_form(form))
    return names


def fields_of_view(app: Flask, endpoint: str) -> set[str]:
    """The fields of the forms a view's code names (`form = WishForm()`), its own or that of
    the shop's functions it calls. The shop reads fields through its forms only (no
    `request.form`), so a view that names none reads no field."""
    names: set[str] = set()
    pending = [inspect.unwrap(app.view_functions[endpoint])]
    seen: set[object] = set()
    while pending:
        function = pending.pop()
        seen.add(function)
        for name in function.__code__.co_names:
            value = function.__globals__.get(name)
            if isinstance(value, type) and issubclass(value, FlaskForm):
                names |= fields_of_form(value)
            elif (inspect.isfunction(value) and value not in seen
                  and value.__module__.startswith("storefront")):
                pending.append(value)
    return names


@dataclass(frozen=True, order=True)
class Route:
    endpoint: str
    rule: str
    method: str
    arguments: tuple[str, ...]

    def path(self, **values: str) -> str:
        return RULE_ARGUMENT.sub(lambda match: values[match.group(1)], self.rule)

    @property
    def under_api(self) -> bool:
        return self.rule.startswith("/api/")


def routes_of(app: Flask) -> list[Route]:
    return sorted(
        Route(rule.endpoint, rule.rule, method, tuple(rule.arguments))
        for rule in app.url_map.iter_rules()
        for method in sorted((rule.methods or set()) - AUTOMATIC_METHODS)
    )


class Shop:
    """The shop under attack: one visitor (anonymous or signed in), a product in the cart, and
    a fingerprint of every table to prove that a refusal wrote nothing."""

    def __init__(self, app: Flask, client: ShopClient, signed_in: bool,
                 staff: bool = False) -> None:
        self.app = app
        self.client = client
        self.signed_in = signed_in
        self.staff = staff
        self.product = make_product(stock=500)
        self.slug = self.product.slug
        # A category with the product's slug, so `/c/<slug>` answers a page with a card.
        category = Category(name="Shelf", slug=self.slug)
        db.session.add(category)
        db.session.flush()
        db.session.add(ProductCategory(product_id=self.product.id, category_id=category.id))
        db.session.commit()
        # A well-formed e-mail token that names nothing (a mailed link's shape).
        self.valid_arguments = {"slug": self.slug, "filename": "style.css", "session_id": "1",
                                "token": "t" * 43, "address_id": "1", "number": "SF-AAAA-AAAA",
                                "product_id": str(self.product.id), "user_id": "1",
                                "key": "k" * 22, "passkey_id": "1", "provider": "idp",
                                "identity_id": "1"}
        self.start()
        self.fields_by_action = self._harvest_forms()
        self.all_fields = declared_fields()
        self.tables = [table for table in db.metadata.sorted_tables
                       if table.name not in RECORDS_REFUSALS]
        # The fingerprint of every table is the walk's main cost: after a request, only the
        # tables its statements inserted into or updated are read again (all of them after a
        # DELETE, whose foreign keys may cascade), none after a request that wrote nothing.
        self.table_names = {table.name for table in self.tables}
        self.touched: set[str] | None = None  # None: read every table
        sa.event.listen(db.engine, "after_cursor_execute", self._note_write)
        self.before = self.fingerprint()

    def _note_write(self, _connection, cursor, statement: str, *_args: object) -> None:
        # A statement that matched no row wrote nothing (a remove of what is not there):
        # counting it would re-read every table after each refused DELETE. Before its rows
        # are fetched, SQLite's count under RETURNING is not final: such a statement counts.
        if not WRITING.search(statement) or (
                cursor.rowcount == 0 and not RETURNING.search(statement)):
            return
        for verb, name in WRITE_TARGET.findall(statement):
            if verb.upper().startswith("DELETE"):
                self.touched = None
            elif self.touched is not None and name.lower() in self.table_names:
                self.touched.add(name.lower())

    @property
    def wrote(self) -> bool:
        return self.touched is None or bool(self.touched)

    def routes(self) -> list[Route]:
        """The routes this visitor walks: a staff member only the staff area's (the rest is
        the signed-in shopper's walk), everyone else all of them (the staff area's answer
        them 404 at its gate)."""
        routes = routes_of(self.app)
        if self.staff:
            return [route for route in routes if route.endpoint.startswith("admin.")]
        return routes

    def close(self) -> None:
        sa.event.remove(db.engine, "after_cursor_execute", self._note_write)

    # The visitor ------------------------------------------------------------------------------

    def restore(self) -> None:
        """Back to the starting state after a request that was accepted: the visitor signed in
        (or not), with a line in the cart."""
        client = self.client
        if not self.signed_in:
            client.delete_cookie("session")
        page = client.page("/")
        if self.signed_in and f'data-user-email="{EMAIL}"' not in page:
            if client.login(EMAIL).status_code != 303:
                assert client.register(EMAIL).status_code == 303
            page = client.page("/")
        self.token = csrf_token_of(page)
        # Adding again keeps the line (capped at 99): cheaper than looking first.
        client.post("/cart/add", data={"product_id": self.product.id, "quantity": "1",
                                       "csrf_token": self.token})

    def start(self) -> None:
        """The visitor as each test begins; signed in, with a second session to revoke."""
        self.restore()
        if self.signed_in:
            assert self.app.test_client().login(EMAIL).status_code == 303

    def _harvest_forms(self) -> dict[str, set[str]]:
        parser = FormFields()
        if self.signed_in:
            self._address_and_order()
        pages = ["/", f"/products/{self.slug}", "/cart", "/auth/login", "/auth/register",
                 "/account", "/account/profile", "/account/password", "/account/sessions",
                 "/auth/forgot", "/account/email",
                 "/checkout", "/account/addresses", "/account/addresses/new",
                 "/account/orders", f"/account/orders/{self.valid_arguments['number']}",
                 "/account/wishlist", "/account/avatar", "/account/data"]
        if self.staff:
            user_id = db.session.scalar(sa.select(User.id).where(User.email == EMAIL))
            self.valid_arguments["user_id"] = str(user_id)
            pages += ["/admin/products/new", f"/admin/products/{self.product.id}/edit",
                      "/admin/products/import", f"/admin/customers/{user_id}",
                      "/admin/orders", f"/admin/orders/{self.valid_arguments['number']}"]
        for page in pages:
            parser.feed(self.client.page(page))
        # The sign-in forms, which a signed-in visitor is not shown.
        visitor = self.app.test_client()
        for page in ("/auth/login", "/auth/register", "/auth/forgot"):
            parser.feed(visitor.get(page).get_data(as_text=True))
        if self.signed_in:
            session_ids = re.findall(r'data-session-id="(\d+)"', self.client.page(
                "/account/sessions"))
            self.valid_arguments["session_id"] = session_ids[-1]
        return parser.forms

    def _address_and_order(self) -> None:
        """An address, an order and a wished item of the visitor's, for the routes and forms
        that name one."""
        address = {"full_name": "Ada", "line1": "1 Road", "city": "London",
                   "postal_code": "SW1A 1AA", "country": "GB", "csrf_token": self.token}
        assert self.client.post("/account/addresses/new", data=address).status_code == 303
        page = self.client.page("/checkout")
        address_id = re.search(r'name="shipping_address_id" value="(\d+)"', page).group(1)
        key = re.search(r'name="idempotency_key"[^>]*value="([^"]+)"', page).group(1)
        placed = self.client.post("/checkout", data={
            "shipping_address_id": address_id, "payment_method": "bank_transfer",
            "idempotency_key": key, "csrf_token": self.token})
        assert placed.status_code == 303, placed.get_data(as_text=True)
        self.valid_arguments["address_id"] = address_id
        self.valid_arguments["number"] = placed.location.rsplit("/", 1)[1]
        self.restore()
        # A picture, so the avatar page shows its remove form.
        picture = io.BytesIO()
        Image.new("RGB", (16, 16), "teal").save(picture, "PNG")
        assert self.client.post("/account/avatar", data={
            "avatar": (io.BytesIO(picture.getvalue()), "me.png"), "csrf_token": self.token},
            content_type="multipart/form-data").status_code == 303
        # A wished item, so the wishlist page shows its remove and move forms.
        assert self.client.post("/wishlist/add", data={
            "product_id": self.product.id, "quantity": "1",
            "csrf_token": self.token}).status_code == 303

    def fields_of(self, route: Route, path: str) -> set[str]:
        if route.rule.startswith("/admin") and not self.staff:
            # The staff gate answers 404 before any field is read; the staff walk sends
            # each field of these forms.
            return {"unexpected"}
        # The form the page shows, or (a page shows no remove form for what the walk's
        # visitor does not have) the forms the view's code names.
        fields = self.fields_by_action.get(path) or fields_of_view(self.app, route.endpoint)
        return (fields - {"csrf_token"}) | {"unexpected"}

    def valid_form(self, fields: set[str]) -> dict[str, str]:
        """Values that pass each field's own checks, so a hostile value in one field meets the
        code behind the others; `new_password` equals the current one so it never changes."""
        plausible = {
            "product_id": str(self.product.id), "quantity": "1", "email": EMAIL,
            "password": PASSWORD, "current_password": PASSWORD, "new_password": PASSWORD,
            "confirm_password": PASSWORD, "first_name": "Ada", "last_name": "Lovelace",
            "phone": "", "marketing_opt_in": "y", "remember": "y", "next": "/cart",
            "new_email": "other@example.com",
            "full_name": "Ada Lovelace", "line1": "1 Road", "line2": "", "city": "London",
            "postal_code": "SW1A 1AA", "region": "", "country": "GB",
            "default_shipping": "y", "default_billing": "y",
            "shipping_address_id": self.valid_arguments["address_id"],
            "billing_address_id": "", "payment_method": "cash_on_delivery",
            # The staff area's forms (the sku is taken: a new product is refused).
            "sku": self.product.sku, "name": "Fuzzed", "description": "", "price": "1.00",
            "stock": "500", "active": "y", "change": "1", "reason": "fuzz",
            # The order status form: the walk's order is placed, so shipping it is refused
            # (409) whatever else the form holds, and the order stays as it is.
            "status": "shipped", "tracking": "TRK-1",
        }
        return {name: plausible.get(name, "x") for name in fields}

    # What the database holds ------------------------------------------------------------------

    def fingerprint(self, base: dict[str, list[tuple]] | None = None) -> dict[str, list[tuple]]:
        """Every table's rows; given the last fingerprint, only the tables written since."""
        db.session.rollback()
        prints = dict(base or {})
        tables = self.tables if base is None or self.touched is None else [
            table for table in self.tables if table.name in self.touched]
        for table in tables:
            if table.name in APPEND_ONLY:
                prints[table.name] = [tuple(db.session.execute(
                    sa.select(sa.func.count(), sa.func.max(table.c.id))).one())]
                continue
            columns = [column for column in table.columns
                       if (table.name, column.name) not in VOLATILE_COLUMNS]
            rows = db.session.execute(sa.select(*columns).order_by(*table.primary_key.columns))
            prints[table.name] = [tuple(row) for row in rows]
        db.session.rollback()
        self.touched = set()
        return prints

    # Sending ----------------------------------------------------------------------------------

    def send(self, route: Route, path: str, *, query: str = "", body: bytes | None = None,
             content_type: str = "application/x-www-form-urlencoded",
             headers: dict[str, str] | None = None, csrf: bool = True,
             cookieless: bool = False) -> int:
        """One request; checks it was not a 5xx and, if refused, that nothing changed."""
        sent_headers = dict(headers or {})
        if route.method in BODY_METHODS and csrf:
            sent_headers["X-CSRFToken"] = self.token
            if body is not None and content_type == "application/x-www-form-urlencoded":
                body = b"csrf_token=" + quote(sent_headers["X-CSRFToken"]).encode() + b"&" + body
        # The test client sets Cookie from its jar: a cookie of the test's own needs another.
        client = self.app.test_client(use_cookies=False) if cookieless else self.client
        response = client.open(
            path + ("?" + query if query else ""), method=route.method, data=body,
            content_type=content_type if body is not None else None, headers=sent_headers,
            # As a real server does: the path's bytes, unquoted, as latin-1 (PEP 3333). The
            # test client would replace bytes that are not UTF-8 by U+FFFD.
            environ_overrides={"PATH_INFO": unquote_to_bytes(path).decode("latin-1")},
        )
        status = response.status_code
        where = f"{route.method} {path}?{query} body={(body or b'')[:120]!r}"
        assert status < 500, f"{where} answered {status}"
        if route.under_api:
            assert response.is_json, f"{where} answered {response.mimetype} under /api/"
        after = self.fingerprint(self.before) if self.wrote else self.before
        if 400 <= status < 500:
            changed = {name for name in after if after[name] != self.before[name]}
            assert not changed, f"{where} answered {status} but changed {sorted(changed)}"
        elif route.method in BODY_METHODS:
            self.restore()
            after = self.fingerprint(after)
        self.before = after
        return status


def takes_files(app: Flask, route: Route) -> bool:
    return getattr(app.view_functions[route.endpoint], "accepts_files", False)


def takes_json(app: Flask, route: Route) -> bool:
    """A view outside `/api/` that takes a JSON body (the passkey steps): walked with the
    JSON writes, not the forms."""
    return route.endpoint in app.view_functions and getattr(
        app.view_functions[route.endpoint], "accepts_json", False)


def encode_form(pairs: list[tuple[str, str]]) -> bytes:
    """A form body from (name, already-encoded value) pairs."""
    return "&".join(f"{quote(name, safe='')}={value}" for name, value in pairs).encode()


@pytest.fixture
def app_config(tmp_path) -> dict[str, object]:  # noqa: ANN001
    # Every limit is tested on its own; here they would only turn answers into 429s.
    return {"RATELIMIT_ENABLED": False, "MEDIA_ROOT": str(tmp_path / "media")}


@pytest.fixture(params=["anonymous", "signed-in", "staff"])
def shop(request: pytest.FixtureRequest, app: Flask, client: ShopClient) -> Iterator[Shop]:
    if request.param != "anonymous":
        assert client.register(EMAIL).status_code == 303
    if request.param == "staff":
        staff.set_staff(EMAIL, True)  # the staff area's routes, walked by a staff member
    shop = Shop(app, client, signed_in=request.param != "anonymous",
                staff=request.param == "staff")
    yield shop
    shop.close()


def test_every_route_is_walked(app):
    """The walk reaches every rule and method of the app (a guard against an empty walk)."""
    routes = routes_of(app)
    endpoints = {route.endpoint for route in routes}
    assert {"cart.add", "auth.login", "api.put_profile", "account.revoke_session",
            "catalog.product", "static", "checkout.review", "checkout.edit_address",
            "checkout.cancel_order", "api.get_order", "admin.orders_list", "admin.order",
            "catalog.category", "catalog.sitemap"} <= endpoints
    assert len(routes) == sum(len((rule.methods or set()) - AUTOMATIC_METHODS)
                              for rule in app.url_map.iter_rules())


def test_hostile_path_arguments(app, shop):
    """Each path argument of each route, replaced by each hostile value."""
    for route in shop.routes():
        for argument in route.arguments:
            for hostile in HOSTILE:
                values = {**shop.valid_arguments, argument: hostile.encoded}
                status = shop.send(route, route.path(**values))
                if hostile.refused_on_one_line:
                    assert status == 400, f"{route.rule} with {hostile.label}: {status}"
                elif route.endpoint == "account.revoke_session" or (
                        route.rule.startswith("/admin") and argument.endswith("_id")):
                    assert status == 404, f"{route.rule} with {hostile.label}: {status}"


def test_hostile_query_strings(app, shop):
    """`?page=`, `?q=`, `?next=` and an unknown key (and a hostile key) on every route."""
    for route in shop.routes():
        path = route.path(**shop.valid_arguments)
        writes = route.method in BODY_METHODS
        for hostile in HOSTILE:
            if writes and not hostile.refused_on_one_line:
                continue  # a write reads no query: only the guard's answer is of interest
            for query in (f"page={hostile.encoded}", f"q={hostile.encoded}",
                          f"next={hostile.encoded}", f"{hostile.encoded}=1",
                          f"sort={hostile.encoded}&min={hostile.encoded}"
                          f"&max={hostile.encoded}&in_stock={hostile.encoded}"):
                status = shop.send(route, path, query=query, body=b"" if writes else None)
                if hostile.refused_on_one_line:
                    assert status == 400, f"{route.rule}?{query} ({hostile.label}): {status}"


def test_hostile_page_numbers_name_no_page(client):
    """`?page=` beyond what any page can be is the 404 of a page that does not exist."""
    for page in ("-1", "0", str(2**31), str(2**63), "9" * 20, "1e9", "1.5", "", "\u0663"):
        assert client.get(f"/?page={quote(page)}").status_code == 404, page


def test_hostile_form_fields(app, shop):
    """Each field of each form route, hostile on its own, and given twice (hostile first)."""
    for route in shop.routes():
        if route.method not in BODY_METHODS or route.under_api or takes_json(app, route):
            continue
        path = route.path(**shop.valid_arguments)
        fields = shop.fields_of(route, path)
        valid = shop.valid_form(fields)
        for field in sorted(fields):
            others = [(name, quote(value, safe="")) for name, value in valid.items()
                      if name != field]
            for hostile in HOSTILE:
                status = shop.send(route, path, body=encode_form([(field, hostile.encoded),
                                                                  *others]))
                if hostile.refused_by_guard:
                    assert status == 400, f"{route.rule} {field}={hostile.label}: {status}"
                    continue
                if hostile.label in NUMBERS:
                    # Given twice, the form must read the hostile first value.
                    twice = [(field, hostile.encoded), (field, quote(valid[field])), *others]
                    shop.send(route, path, body=encode_form(twice))
        for hostile in HOSTILE:  # a hostile field name
            if hostile.refused_on_one_line:
                body = encode_form([("quantity", "1")]) + f"&{hostile.encoded}=1".encode()
                assert shop.send(route, path, body=body) == 400, hostile.label


def test_form_routes_take_form_data_only(app, shop):
    """JSON (of every type), a file part, or another body type on an HTML form route: 400."""
    for route in shop.routes():
        if route.method not in BODY_METHODS or route.under_api or takes_json(app, route):
            continue
        path = route.path(**shop.valid_arguments)
        for field in sorted(shop.fields_of(route, path)):
            for value in JSON_VALUES:
                body = json.dumps({field: value}).encode()
                assert shop.send(route, path, body=body, content_type="application/json") == 400
            if takes_files(app, route):
                continue  # an upload form: a file part is its normal body
            boundary = "fuzzboundary"
            multipart = (
                f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; "
                f"filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
                f"--{boundary}--\r\n"
            ).encode()
            assert shop.send(route, path, body=multipart,
                             content_type=f"multipart/form-data; boundary={boundary}") == 400
        for content_type in ("text/plain", "application/xml", "application/octet-stream"):
            assert shop.send(route, path, body=b"product_id=1", content_type=content_type) == 400
        # Multipart without a boundary, and a form body of bytes that are not UTF-8.
        assert shop.send(route, path, body=b"x", content_type="multipart/form-data") == 400
        assert shop.send(route, path, body=b"email=\xff\xfe") == 400


def test_hostile_json_keys_and_values(app, shop):
    """Every JSON write (of `/api/`, and the passkey steps): each key with each wrong type and hostile string; JSON the
    guard must refuse; a body that is not JSON."""
    for route in shop.routes():
        if route.method not in BODY_METHODS or not (route.under_api or takes_json(app, route)):
            continue
        path = route.path(**shop.valid_arguments)
        keys = shop.all_fields | {"first_name", "last_name", "phone", "marketing_opt_in",
                                  "credential", "name"}
        for key in sorted(keys):
            for value in JSON_VALUES:
                shop.send(route, path, body=json.dumps({key: value}).encode(),
                          content_type="application/json")
        for raw in JSON_REFUSED:
            status = shop.send(route, path, body=raw.encode(), content_type="application/json")
            assert status in ({400, 401} if not shop.signed_in else {400}), (raw, status)
        for content_type in ("application/x-www-form-urlencoded", "text/plain"):
            status = shop.send(route, path, body=b"first_name=Ada", content_type=content_type)
            assert status in ({400, 401} if not shop.signed_in else {400}), content_type
        assert shop.send(route, path, body=b'{"first_name": "\xff"}',
                         content_type="application/json") in {400, 401}


def test_hostile_cookies_and_headers(app, shop):
    """A control character or bytes that are not UTF-8 in the session cookie or a header the
    shop reads: 400 on every route, before the visitor is looked up."""
    for route in shop.routes():
        path = route.path(**shop.valid_arguments)
        body = b"" if route.method in BODY_METHODS else None
        for header, value in (("Cookie", "session=a\x01b"), ("Cookie", "session=\x00"),
                              ("Cookie", "session=\xff"),
                              ("User-Agent", "evil\x00agent"), ("X-Request-ID", "id\x1b[2J"),
                              ("X-CSRFToken", "token\x00")):
            status = shop.send(route, path, body=body, headers={header: value}, csrf=False,
                               cookieless=header == "Cookie")
            assert status == 400, f"{route.method} {path} with {header}: {status}"
        # A forged cookie that is merely wrong is an anonymous visitor, never an error.
        shop.send(route, path, body=body, headers={"Cookie": "session=" + "A" * 3000},
                  csrf=False, cookieless=True)


def test_methods_a_route_does_not_take_are_405(app, shop):
    taken: dict[str, set[str]] = {}
    for route in shop.routes():
        taken.setdefault(route.rule, set()).add(route.method)
    for rule, methods in taken.items():
        # Under /admin, whoever is not staff gets 404 whatever the method.
        expected = 404 if rule.startswith("/admin") and not shop.staff else 405
        for method in sorted({"GET", "POST", "PUT", "DELETE", "PATCH"} - methods):
            route = Route("", rule, method, ())
            status = shop.send(route, RULE_ARGUMENT.sub("1", rule))
            assert status == expected, f"{method} {rule}: {status}"


@pytest.mark.live
def test_a_real_server_refuses_raw_hostile_bytes(start_live_server):
    """Over a real socket (gunicorn passes the path's bytes as they came): NUL, bytes that are
    not UTF-8 and a lone surrogate in the path or query answer 400, never 500."""
    server = start_live_server()
    host, port = urlsplit(server.url).hostname, urlsplit(server.url).port
    for target in (b"/products/a%00b", b"/products/a%FFb", b"/products/a%ED%A0%80b",
                   b"/?q=%00", b"/?q=%ED%A0%80", b"/?page=%FF", b"/cart?x=\xff",
                   b"/products/\xff\xfe"):
        with socket.create_connection((host, port), timeout=10) as connection:
            connection.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: localhost\r\n"
                               b"Connection: close\r\n\r\n")
            reply = b""
            while chunk := connection.recv(65536):
                reply += chunk
        status = int(reply.split(b" ", 2)[1])
        assert status == 400, f"{target!r} answered {status}"
