"""The OpenAPI 3.1 document of `/api/` (CONTRACT.md, "JSON"), built once at import.

Served by `routes.openapi_document`; `tests/test_api_schema.py` checks it is valid, lists every
`/api/` rule of the app, and that a live server answers exactly as it says. Limits come from
`models.py`, so a rule is written once.
"""

from __future__ import annotations

from typing import Any

from storefront.errors import CSRF_HEADER_MESSAGE, DATABASE_RETRY_SECONDS
from storefront.models import (
    ADDRESS_LINE_MAX_CHARS,
    CART_MAX_LINES,
    CITY_MAX_CHARS,
    EMAIL_MAX_CHARS,
    ID_MAX,
    LINE_MAX_QUANTITY,
    MAX_PAGE,
    NAME_MAX_CHARS,
    ORDER_STATUSES,
    ORDERS_PER_PAGE,
    PHONE_MAX_CHARS,
    PHONE_MAX_DIGITS,
    PHONE_MIN_DIGITS,
    POSTAL_CODE_MAX_CHARS,
    PRODUCT_NAME_MAX_CHARS,
    REGION_MAX_CHARS,
    SKU_MAX_CHARS,
)

OPENAPI_VERSION = "3.1.0"
SESSION_COOKIE = "session"
CSRF_HEADER = "X-CSRFToken"
JSON = "application/json"

# Patterns are anchored ECMA-262 regular expressions, as JSON Schema reads them.
MONEY_PATTERN = r"^[0-9]+\.[0-9]{2}$"
PHONE_SEPARATORS = r"[ +\-().]"
PHONE_PATTERN = (
    rf"^{PHONE_SEPARATORS}*(?:[0-9]{PHONE_SEPARATORS}*){{{PHONE_MIN_DIGITS},{PHONE_MAX_DIGITS}}}$"
)
ORDER_NUMBER_PATTERN = "^SF-[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}$"
# Error ids are the first 12 hex digits of a uuid4 (errors.internal_error).
ERROR_ID_PATTERN = r"^[0-9a-f]{12}$"
# An X-Request-ID is the proxy's (if it looks like one) or a fresh uuid4 hex (request_log.py).
REQUEST_ID_PATTERN = r"^[A-Za-z0-9._-]{8,64}$"


def _ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


def _json(schema: dict[str, Any], description: str, *, headers: tuple[str, ...] = (),
          example: object = None) -> dict[str, Any]:
    """A response whose body is JSON matching `schema`, with the headers every answer has."""
    media: dict[str, Any] = {"schema": schema}
    if example is not None:
        media["example"] = example
    return {
        "description": description,
        "headers": {
            "Cache-Control": _ref("headers", "CacheControl"),
            "X-Request-ID": _ref("headers", "RequestId"),
            **{name: _ref("headers", name) for name in headers},
        },
        "content": {JSON: media},
    }


def _error(description: str) -> dict[str, Any]:
    return _json(_ref("schemas", "Error"), description)


def _responses(ok: dict[str, Any], *codes: str) -> dict[str, Any]:
    """`200` plus the shared error responses named by `codes`, in status order."""
    return {"200": ok, **{code: _ref("responses", code) for code in sorted(codes)}}


PROFILE_KEYS = ("first_name", "last_name", "phone", "marketing_opt_in")
NAME = {
    "type": "string",
    "minLength": 1,
    "maxLength": NAME_MAX_CHARS,
    "description": f"1 to {NAME_MAX_CHARS} characters after trimming, at least one of them "
    "visible (a letter, digit, punctuation or symbol), no control characters.",
}
# What the profile holds: names as checked above, or empty in a profile that
# `flask accounts check --fix` created for an account that had none.
STORED_NAME = {
    "type": "string",
    "maxLength": NAME_MAX_CHARS,
    "description": "Trimmed; empty only in a profile created by `flask accounts check --fix`.",
}
PHONE = {
    "type": ["string", "null"],
    "maxLength": PHONE_MAX_CHARS,
    "pattern": PHONE_PATTERN,
    "description": f"{PHONE_MIN_DIGITS} to {PHONE_MAX_DIGITS} digits; spaces and + - ( ) . are "
    f"allowed; at most {PHONE_MAX_CHARS} characters. `null` when none is given.",
}
MONEY = {
    "type": "string",
    "pattern": MONEY_PATTERN,
    "description": "A decimal amount with two places, as text: `12.50`.",
    "examples": ["12.50"],
}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "description": "Every error under /api/ except 422; `error_id` (500 only) is the "
        "reference the server log holds.",
        "required": ["error"],
        "properties": {
            "error": {"type": "string", "minLength": 1},
            "error_id": {"type": "string", "pattern": ERROR_ID_PATTERN},
        },
        "additionalProperties": False,
    },
    "ValidationErrors": {
        "type": "object",
        "description": "422: the messages for each profile key that was refused; nothing "
        "was changed.",
        "required": ["errors"],
        "properties": {
            "errors": {
                "type": "object",
                "minProperties": 1,
                "propertyNames": {"enum": list(PROFILE_KEYS)},
                "additionalProperties": {
                    "type": "array",
                    "minItems": 1,
                    "items": {"type": "string", "minLength": 1},
                },
            },
        },
        "additionalProperties": False,
    },
    "Profile": {
        "type": "object",
        "required": list(PROFILE_KEYS),
        "properties": {
            "first_name": STORED_NAME,
            "last_name": STORED_NAME,
            "phone": PHONE,
            "marketing_opt_in": {"type": "boolean"},
        },
        "additionalProperties": False,
    },
    "ProfileChanges": {
        "type": "object",
        "description": "Any subset of the profile keys; other keys are ignored. Names are "
        "trimmed, and a phone that is empty after trimming is stored as `null`.",
        "properties": {
            "first_name": NAME,
            "last_name": NAME,
            "phone": PHONE,
            "marketing_opt_in": {"type": "boolean"},
        },
        "example": {"phone": "+44 20 7946 0958", "marketing_opt_in": True},
    },
    "Me": {
        "type": "object",
        "required": ["id", "email", "profile", "avatar_url"],
        "properties": {
            "id": {"type": "integer", "minimum": 1, "maximum": ID_MAX},
            "avatar_url": {
                "type": ["string", "null"],
                "pattern": "^/media/[0-9a-f]{32}-256\\.webp$",
                "description": "The profile picture (256 px square WebP), null without one.",
            },
            "email": {
                "type": "string",
                "minLength": 3,
                "maxLength": EMAIL_MAX_CHARS,
                "pattern": "@",
                "description": "The address as the shopper typed it.",
            },
            "profile": _ref("schemas", "Profile"),
        },
        "additionalProperties": False,
    },
    "CartLine": {
        "type": "object",
        "required": ["product_id", "name", "unit_price", "quantity", "line_total", "available"],
        "properties": {
            "product_id": {"type": "integer", "minimum": 1, "maximum": ID_MAX},
            "name": {"type": "string", "minLength": 1, "maxLength": PRODUCT_NAME_MAX_CHARS},
            "unit_price": MONEY,
            "quantity": {"type": "integer", "minimum": 1, "maximum": LINE_MAX_QUANTITY},
            "line_total": MONEY,
            "available": {
                "type": "boolean",
                "description": "The line can be bought now (its product is sold and in stock): "
                "only such lines count in the subtotal and the count.",
            },
        },
        "additionalProperties": False,
    },
    "Cart": {
        "type": "object",
        "description": "Lines in the order they were first added, withdrawn and sold-out "
        "products included; `subtotal` and `count` (total quantity) cover only what can be "
        "bought now.",
        "required": ["lines", "subtotal", "count"],
        "properties": {
            "lines": {
                "type": "array",
                "maxItems": CART_MAX_LINES,
                "items": _ref("schemas", "CartLine"),
            },
            "subtotal": MONEY,
            "count": {
                "type": "integer",
                "minimum": 0,
                "maximum": CART_MAX_LINES * LINE_MAX_QUANTITY,
            },
        },
        "additionalProperties": False,
    },
    "OrderLine": {
        "type": "object",
        "description": "A product as it was sold: name, SKU and unit price copied into the "
        "order when it was placed.",
        "required": ["product_id", "sku", "name", "unit_price", "quantity", "line_total"],
        "properties": {
            "product_id": {
                "type": ["integer", "null"], "minimum": 1, "maximum": ID_MAX,
                "description": "`null` if the product was deleted since.",
            },
            "sku": {"type": "string", "minLength": 1, "maxLength": SKU_MAX_CHARS},
            "name": {"type": "string", "minLength": 1, "maxLength": PRODUCT_NAME_MAX_CHARS},
            "unit_price": MONEY,
            "quantity": {"type": "integer", "minimum": 1, "maximum": LINE_MAX_QUANTITY},
            "line_total": MONEY,
        },
        "additionalProperties": False,
    },
    "OrderAddress": {
        "type": "object",
        "description": "An address as it was when the order was placed.",
        "required": ["name", "line1", "line2", "city", "postal_code", "region", "country",
                     "phone"],
        "properties": {
            "name": {"type": "string", "maxLength": NAME_MAX_CHARS},
            "line1": {"type": "string", "maxLength": ADDRESS_LINE_MAX_CHARS},
            "line2": {"type": "string", "maxLength": ADDRESS_LINE_MAX_CHARS},
            "city": {"type": "string", "maxLength": CITY_MAX_CHARS},
            "postal_code": {"type": "string", "maxLength": POSTAL_CODE_MAX_CHARS},
            "region": {"type": "string", "maxLength": REGION_MAX_CHARS},
            "country": {"type": "string", "pattern": "^[A-Z]{2}$"},
            "phone": {"type": ["string", "null"], "pattern": r"^\+[1-9][0-9]{1,14}$",
                      "description": "E.164, or `null`."},
        },
        "additionalProperties": False,
    },
    "Order": {
        "type": "object",
        "required": ["number", "status", "placed_at", "currency", "subtotal", "shipping",
                     "total", "payment_method", "payment_reference", "shipping_address",
                     "billing_address", "lines"],
        "properties": {
            "number": {"type": "string", "pattern": ORDER_NUMBER_PATTERN},
            "status": {"enum": list(ORDER_STATUSES),
                       "description": "`placed` (awaiting payment) → `paid` → `shipped` → "
                       "`delivered`; or `cancelled`."},
            "placed_at": {"type": "string", "format": "date-time"},
            "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
            "subtotal": MONEY,
            "shipping": MONEY,
            "total": MONEY,
            "payment_method": {"enum": ["bank_transfer", "cash_on_delivery"]},
            "payment_reference": {
                "type": ["string", "null"],
                "description": "The reference a bank transfer must carry; `null` for cash.",
            },
            "shipping_address": _ref("schemas", "OrderAddress"),
            "billing_address": _ref("schemas", "OrderAddress"),
            "lines": {"type": "array", "minItems": 1, "maxItems": CART_MAX_LINES,
                      "items": _ref("schemas", "OrderLine")},
        },
        "additionalProperties": False,
    },
    "OrderList": {
        "type": "object",
        "required": ["orders", "page", "has_next"],
        "properties": {
            "orders": {"type": "array", "maxItems": ORDERS_PER_PAGE,
                       "items": _ref("schemas", "Order")},
            "page": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE},
            "has_next": {"type": "boolean"},
        },
        "additionalProperties": False,
    },
    "OpenApiDocument": {
        "type": "object",
        "required": ["openapi", "info", "paths", "components"],
        "properties": {"openapi": {"const": OPENAPI_VERSION}},
    },
}

HEADERS: dict[str, Any] = {
    "CacheControl": {
        "description": "Answers carry the account and the cart: never stored in a cache.",
        "required": True,
        "schema": {"const": "no-store"},
    },
    "RequestId": {
        "description": "The request's id in the server log: the proxy's `X-Request-ID` if "
        "it looks like one, else a new one.",
        "required": True,
        "schema": {"type": "string", "pattern": REQUEST_ID_PATTERN},
    },
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "required": True,
        "schema": {"type": "string", "pattern": "^[1-9][0-9]*$"},
    },
}

RESPONSES: dict[str, Any] = {
    "400": _error(
        "Refused before any view ran: a control character or non-UTF-8 text in the path, "
        "query, session cookie or a header the shop reads; a body that is not JSON, JSON with "
        "NaN or Infinity, a number out of range or nesting too deep. On writes also a body "
        f"that is not a JSON object, or a missing or wrong `{CSRF_HEADER}` header "
        f"(`{CSRF_HEADER_MESSAGE}`)."
    ),
    "401": _json(
        _ref("schemas", "Error"), "Not signed in.", example={"error": "Sign in to use this."}
    ),
    "404": _error("The account has no profile (repaired by `flask accounts check --fix`)."),
    "413": _error("The body is longer than 1 MiB."),
    "422": _json(
        _ref("schemas", "ValidationErrors"), "A value was refused; nothing was changed.",
        example={"errors": {"first_name": ["This field is required."]}},
    ),
    "500": _error("An unexpected error; `error_id` names it in the server log."),
    "503": _json(
        _ref("schemas", "Error"),
        f"The database is unavailable; try again after `Retry-After` seconds "
        f"({DATABASE_RETRY_SECONDS}).",
        headers=("Retry-After",),
    ),
}

SIGNED_IN = [{"sessionCookie": []}]
# A write also proves it comes from the shop's own pages: the session's CSRF token.
SIGNED_IN_WRITE = [{"sessionCookie": [], "csrfToken": []}]
ANYONE = [{}, {"sessionCookie": []}]

DOCUMENT: dict[str, Any] = {
    "openapi": OPENAPI_VERSION,
    "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
    "info": {
        "title": "Storefront JSON API",
        "version": "1",
        "description": "The signed-in shopper, their profile, the cart and the orders, for "
        "scripts. Every "
        "error is JSON: `{\"error\": \"...\"}` (or `{\"errors\": {...}}` for 422), never HTML. "
        "Other methods on these paths answer 405 and unknown paths under /api/ 404, in the "
        "same `Error` shape.",
    },
    "paths": {
        "/api/me": {
            "get": {
                "operationId": "getMe",
                "summary": "The signed-in account: id, e-mail, profile and picture.",
                "security": SIGNED_IN,
                "responses": _responses(
                    _json(_ref("schemas", "Me"), "The account."), "400", "401", "404", "500",
                    "503",
                ),
            },
        },
        "/api/profile": {
            "get": {
                "operationId": "getProfile",
                "summary": "The signed-in shopper's profile.",
                "security": SIGNED_IN,
                "responses": _responses(
                    _json(_ref("schemas", "Profile"), "The profile."), "400", "401", "404",
                    "500", "503",
                ),
            },
            "put": {
                "operationId": "updateProfile",
                "summary": "Change some profile keys; answers the whole updated profile.",
                "description": "Checked in this order: the request guard (400, 413), "
                f"sign-in (401), `{CSRF_HEADER}` (400), the body's shape (400), the values "
                "(422). A key that is not sent keeps its value, but the whole profile must "
                "pass: a profile with an empty name answers 422 until the name is given.",
                "security": SIGNED_IN_WRITE,
                "requestBody": {
                    "required": True,
                    "content": {JSON: {"schema": _ref("schemas", "ProfileChanges")}},
                },
                "responses": _responses(
                    _json(_ref("schemas", "Profile"), "The updated profile."), "400", "401",
                    "404", "413", "422", "500", "503",
                ),
            },
        },
        "/api/cart": {
            "get": {
                "operationId": "getCart",
                "summary": "The cart of whoever asks: a guest's (in the session) or the "
                "signed-in shopper's saved cart.",
                "security": ANYONE,
                "responses": _responses(
                    _json(_ref("schemas", "Cart"), "The cart."), "400", "500", "503"
                ),
            },
        },
        "/api/orders": {
            "get": {
                "operationId": "listOrders",
                "summary": f"The signed-in shopper's orders, newest first, {ORDERS_PER_PAGE} "
                "a page.",
                "security": SIGNED_IN,
                "parameters": [{
                    "name": "page", "in": "query", "required": False,
                    "description": "The page, from 1; a page past the last is empty; a value "
                    f"that is not a whole number from 1 to {MAX_PAGE} answers 404.",
                    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE},
                }],
                "responses": {
                    **_responses(_json(_ref("schemas", "OrderList"), "One page of orders."),
                                 "400", "401", "500", "503"),
                    "404": _error("`page` is not a whole number from 1 to " f"{MAX_PAGE}."),
                },
            },
        },
        "/api/orders/{number}": {
            "get": {
                "operationId": "getOrder",
                "summary": "One of the signed-in shopper's orders.",
                "security": SIGNED_IN,
                "parameters": [{
                    "name": "number", "in": "path", "required": True,
                    "description": "The order's number, such as `SF-7KQ2-M9XD`.",
                    "schema": {"type": "string", "pattern": ORDER_NUMBER_PATTERN},
                }],
                "responses": {
                    **_responses(_json(_ref("schemas", "Order"), "The order."),
                                 "400", "401", "500", "503"),
                    "404": _error("No order of this account has this number (another "
                                  "account's order included)."),
                },
            },
        },
        "/api/openapi.json": {
            "get": {
                "operationId": "getOpenApiDocument",
                "summary": "This document.",
                "security": [],
                "responses": _responses(
                    _json(_ref("schemas", "OpenApiDocument"), "The OpenAPI 3.1 document."),
                    "400", "500",
                ),
            },
        },
    },
    "components": {
        "schemas": SCHEMAS,
        "responses": RESPONSES,
        "headers": HEADERS,
        "securitySchemes": {
            "sessionCookie": {
                "type": "apiKey",
                "in": "cookie",
                "name": SESSION_COOKIE,
                "description": "The signed session cookie set at sign-in (POST /auth/login "
                "or /auth/register).",
            },
            "csrfToken": {
                "type": "apiKey",
                "in": "header",
                "name": CSRF_HEADER,
                "description": "The session's CSRF token, as a page of the shop shows it in "
                "`<meta name=\"csrf-token\" content=\"...\">`.",
            },
        },
    },
}
