"""The JSON API's OpenAPI document (blueprints/api/openapi.py): valid OpenAPI 3.1, one entry for
every `/api/` rule of the app, and true of a real server, which schemathesis fuzzes from it
anonymously and signed in."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import jsonschema_rs
import pytest
import requests
import schemathesis
from flask import Flask

from storefront.extensions import db
from storefront.models import LINE_MAX_QUANTITY, PRICE_MAX, PRODUCT_NAME_MAX_CHARS, Product
from tests.factories import make_product
from tests.support import PASSWORD, LiveServer, ShopClient, app_on, csrf_token_of

HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})
# Flask answers these on every rule by itself; the document describes the routes' own methods.
AUTOMATIC_METHODS = frozenset({"HEAD", "OPTIONS"})
RULE_ARGUMENT = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
# Every response must be a documented status with the documented content type, body and headers,
# and nothing may be a 5xx.
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
)
# Examples per operation and phase: the two runs take about half a minute together.
MAX_EXAMPLES = 60
SCHEMATHESIS_TIMEOUT_SECONDS = 240


def document_of(client: ShopClient) -> dict:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    return response.get_json()


def api_operations(app: Flask) -> set[tuple[str, str]]:
    """(path as OpenAPI spells it, method) for every `/api/` rule of the app."""
    return {
        (RULE_ARGUMENT.sub(r"{\1}", rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/")
        for method in (rule.methods or set()) - AUTOMATIC_METHODS
    }


def documented_operations(document: dict) -> set[tuple[str, str]]:
    return {
        (path, method)
        for path, item in document["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }


def references(node: object) -> list[str]:
    """Every `$ref` in the document, wherever it is."""
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in references(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in references(value)]
    return []


def resolve(document: dict, ref: str) -> object:
    assert ref.startswith("#/"), f"{ref} points outside the document"
    node: object = document
    for part in ref[2:].split("/"):
        key = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and key in node, f"{ref} does not resolve"
        node = node[key]
    return node


def json_schemas(document: dict) -> list[dict]:
    """The JSON Schemas the document holds: its components and each `schema` of a header."""
    components = document["components"]
    return [*components["schemas"].values(),
            *(header["schema"] for header in components["headers"].values())]


def test_openapi_document_is_valid_openapi_3_1(client):
    document = document_of(client)
    assert document["openapi"].startswith("3.1.")
    schemathesis.openapi.from_dict(document).validate()
    for schema in json_schemas(document):
        jsonschema_rs.meta.validate(schema)
    for ref in references(document):
        resolve(document, ref)


def test_openapi_document_is_public_and_never_cached(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"


def test_openapi_document_lists_exactly_the_api_routes(app, client):
    assert documented_operations(document_of(client)) == api_operations(app)


def test_every_documented_operation_has_its_own_id(client):
    document = document_of(client)
    ids = [document["paths"][path][method]["operationId"]
           for path, method in documented_operations(document)]
    assert len(ids) == len(set(ids))


# Live: schemathesis against gunicorn ---------------------------------------------------------

class Visitor:
    """One browser over real HTTP, whose cookie and CSRF token schemathesis then borrows."""

    def __init__(self, server: LiveServer) -> None:
        self.url = server.url
        self.http = requests.Session()

    def csrf(self) -> str:
        return csrf_token_of(self.http.get(self.url + "/", timeout=10).text)

    def post(self, path: str, data: dict[str, str]) -> None:
        response = self.http.post(self.url + path, data={"csrf_token": self.csrf(), **data},
                                  allow_redirects=False, timeout=30)
        assert response.status_code == 303, response.text

    def register(self) -> None:
        self.post("/auth/register", {
            "email": "schema@example.com", "password": PASSWORD, "confirm_password": PASSWORD,
            "first_name": "Ada", "last_name": "Lovelace",
        })
        assert self.http.get(self.url + "/api/me", timeout=10).status_code == 200

    def add_to_cart(self, quantities: dict[int, int]) -> None:
        for product_id, quantity in quantities.items():
            self.post("/cart/add", {"product_id": str(product_id), "quantity": str(quantity)})

    def place_order(self, server: LiveServer) -> None:
        """An order of this shopper's, so the order operations have something to answer."""
        with app_on(server.database_url):
            product = make_product(price="7.25").id
        self.add_to_cart({product: 2})
        self.post("/account/addresses/new", {
            "full_name": "Ada Lovelace", "line1": "10 Downing Street", "city": "London",
            "postal_code": "SW1A 2AA", "country": "GB", "phone": "020 7946 0958"})
        page = self.http.get(self.url + "/checkout", timeout=10).text
        self.post("/checkout", {
            "shipping_address_id": re.search(r'name="shipping_address_id" value="(\d+)"',
                                             page).group(1),
            "payment_method": "bank_transfer",
            "idempotency_key": re.search(r'name="idempotency_key"[^>]*value="([^"]+)"',
                                         page).group(1)})
        orders = self.http.get(self.url + "/api/orders", timeout=10).json()["orders"]
        assert len(orders) == 1 and orders[0]["total"] == "19.40"

    def schemathesis_headers(self) -> list[str]:
        """`-H` options: this browser's session cookie and its CSRF token (read last, as
        signing up starts a new session with a new token)."""
        token = self.csrf()
        return ["-H", f"Cookie: session={self.http.cookies['session']}", "-H",
                f"X-CSRFToken: {token}"]


def fill_cart(server: LiveServer, visitor: Visitor) -> None:
    """A cart with every kind of line: plain, the largest price at the largest quantity, one
    sold out since it was added and one withdrawn (both still listed, not counted)."""
    with app_on(server.database_url):
        plain = make_product(price="12.50").id
        dearest = make_product(price=str(PRICE_MAX), stock=LINE_MAX_QUANTITY,
                               name="Thé " + "x" * (PRODUCT_NAME_MAX_CHARS - 4)).id
        sold_out = make_product(price="0.05").id
        withdrawn = make_product().id
    visitor.add_to_cart({plain: 2, dearest: LINE_MAX_QUANTITY, sold_out: 1, withdrawn: 3})
    with app_on(server.database_url):
        db.session.get(Product, sold_out).stock = 0
        db.session.get(Product, withdrawn).active = False
        db.session.commit()
    cart = visitor.http.get(server.url + "/api/cart", timeout=10).json()
    assert len(cart["lines"]) == 4 and cart["count"] == 2 + LINE_MAX_QUANTITY


def run_schemathesis(server: LiveServer, workdir: Path, *extra: str) -> None:
    """Fuzz every documented operation, the document's own included (schemathesis leaves out
    the URL it loaded the document from, so it reads the served document from a file)."""
    document = requests.get(server.url + "/api/openapi.json", timeout=10)
    assert document.status_code == 200
    (workdir / "openapi.json").write_bytes(document.content)
    command = [
        str(SCHEMATHESIS), "run", "openapi.json", "--url", server.url,
        "--checks", ",".join(CHECKS),
        "--max-examples", str(MAX_EXAMPLES),
        "--workers", "2",
        "--request-timeout", "10",
        "--generation-database", "none",
        "--no-color",
        *extra,
    ]
    result = subprocess.run(command, cwd=workdir, capture_output=True, text=True,
                            timeout=SCHEMATHESIS_TIMEOUT_SECONDS)
    assert result.returncode == 0, (
        f"schemathesis found answers the document does not allow:\n{result.stdout}\n"
        f"{result.stderr}\n--- server log (tail) ---\n{server.log()[-4000:]}"
    )
    assert "7 selected / 7 total" in result.stdout, result.stdout


@pytest.mark.live
@pytest.mark.parametrize("visitor_kind", ["anonymous", "guest-with-cart", "signed-in-with-cart"])
def test_live_api_answers_only_as_its_document_says(start_live_server, tmp_path, visitor_kind):
    server = start_live_server(RATELIMIT_ENABLED="0")
    headers: list[str] = []
    if visitor_kind != "anonymous":
        visitor = Visitor(server)
        if visitor_kind == "signed-in-with-cart":
            visitor.register()
            visitor.place_order(server)
        fill_cart(server, visitor)
        headers = visitor.schemathesis_headers()
    run_schemathesis(server, tmp_path, *headers)
