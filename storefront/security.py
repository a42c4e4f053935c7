"""Security headers on every response (SECURITY.md, "headers")."""

from __future__ import annotations

from flask import Flask, Response, current_app, request

from storefront.extensions import csrf

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)
HSTS_MAX_AGE_SECONDS = 31_536_000


# Responses the same for everyone, that keep their own Cache-Control.
CACHEABLE_ENDPOINTS = frozenset({"static", "media.image"})
CSRF_CHECKED_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def protect_forms() -> None:
    """Every form POST carries the session's CSRF token (400 otherwise).

    Runs after the request guard, so the token is read from checked input, and inside the
    request's row-level scope. The JSON API checks its `X-CSRFToken` header itself, after
    telling an anonymous caller to sign in (401).
    """
    if request.endpoint is None:  # no such route (404) or method (405): nothing to protect
        return
    if request.method in CSRF_CHECKED_METHODS and not request.path.startswith("/api/"):
        csrf.protect()


def set_security_headers(response: Response) -> Response:
    """Every response's security headers (an `after_request` hook, at module level so that
    `make mutate` reaches it)."""
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("X-Frame-Options", "DENY")
    # Pages carry the cart, the account and a CSRF token: never store them in a cache.
    if request.endpoint not in CACHEABLE_ENDPOINTS:
        headers["Cache-Control"] = "no-store"
    if current_app.config["SESSION_COOKIE_SECURE"] and request.is_secure:
        headers.setdefault(
            "Strict-Transport-Security", f"max-age={HSTS_MAX_AGE_SECONDS}; includeSubDomains"
        )
    return response


def register(app: Flask) -> None:
    app.after_request(set_security_headers)
