"""Error pages: HTML in the shop's layout, JSON under /api/, never a stack trace."""

from __future__ import annotations

import logging
import time
import uuid

from flask import Flask, g, jsonify, render_template, request
from flask_limiter.errors import RateLimitExceeded
from flask_login import AnonymousUserMixin
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import (
    HTTPException,
    InternalServerError,
    NotFound,
    ServiceUnavailable,
    TooManyRequests,
)

from storefront import exceptions
from storefront.database import loggable_error
from storefront.extensions import db, limiter
from storefront.request_log import loggable

log = logging.getLogger(__name__)

MESSAGES = {
    400: "The request could not be understood. "
    "If you submitted a form, reload the page and try again.",
    401: "Please sign in to continue.",
    403: "You cannot do that.",
    404: "We could not find that page.",
    405: "That action is not allowed here.",
    413: "That request was too large.",
    422: "Some of what you sent could not be accepted.",
    429: "Too many attempts. Please wait {wait} and try again.",
    500: "Something went wrong on our side. We have been told and will look into it.",
    503: "The shop is briefly unavailable. Please try again in a moment.",
}
CSRF_HEADER_MESSAGE = "Missing or wrong X-CSRFToken header: send the csrf_token of your session."
DATABASE_RETRY_SECONDS = 5


def wants_json() -> bool:
    return request.path.startswith("/api/")


def wait_in_words(seconds: int) -> str:
    """`900` → `about 15 minutes`: the Retry-After figure as a shopper reads it."""
    if seconds < 45:
        return f"about {seconds} second{'' if seconds == 1 else 's'}"
    if seconds < 90:
        return "about a minute"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"about {minutes} minutes"
    hours = round(seconds / 3600)
    return "about an hour" if hours == 1 else f"about {hours} hours"


def error_response(code: int, name: str, headers=None, error_id: str | None = None,  # noqa: ANN001, ANN201
                   message: str | None = None):
    message = message or MESSAGES.get(code, name)
    if wants_json():
        body = {"error": message}
        if error_id:
            body["error_id"] = error_id
        response = jsonify(body)
    else:
        response = render_template(
            "errors/error.html", code=code, name=name, message=message, error_id=error_id
        )
    return response, code, headers or []


def _rollback_quietly() -> None:
    try:
        db.session.rollback()
    except (OperationalError, InterfaceError):
        log.warning("rollback failed: the database connection is gone")


def retry_after_seconds(error: TooManyRequests) -> int:
    """How long until the refused attempt may be made again, in whole seconds (at least 1)."""
    seconds = getattr(error, "retry_after", None)
    if seconds is None and isinstance(error, RateLimitExceeded):
        current = limiter.current_limit
        seconds = current.reset_at - time.time() if current else 60
    return max(1, int(round(seconds or 60)))


def register(app: Flask) -> None:
    # An unhandled error is logged once, by `internal_error` below (with its reference, and a
    # database error without its text); Flask's own copy would repeat it in full.
    app.log_exception = lambda _exc_info: None  # type: ignore[method-assign]

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):  # noqa: ANN202
        if error.code is None or error.code >= 500:
            _rollback_quietly()
        headers = [(k, v) for k, v in error.get_headers() if k.lower() != "content-type"]
        return error_response(error.code or 500, error.name, headers)

    @app.errorhandler(TooManyRequests)
    def too_many(error: TooManyRequests):  # noqa: ANN202
        seconds = retry_after_seconds(error)
        message = MESSAGES[429].format(wait=wait_in_words(seconds))
        return error_response(429, error.name, [("Retry-After", str(seconds))], message=message)

    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError):  # noqa: ANN202
        message = CSRF_HEADER_MESSAGE if wants_json() else None
        return error_response(400, error.name, message=message)

    @app.errorhandler(exceptions.NotFound)
    def not_found(_error: exceptions.NotFound):  # noqa: ANN202
        """A service found nothing (gone, inactive, someone else's): the same 404 as a URL."""
        _rollback_quietly()
        return error_response(404, NotFound().name)

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    @app.errorhandler(PoolTimeout)
    def database_unavailable(error: Exception):  # noqa: ANN202
        _rollback_quietly()
        g.plain_page = True  # the 503 page must not ask the database who this is
        g._login_user = AnonymousUserMixin()
        log.error("database unavailable: %s", type(error).__name__)
        return error_response(
            503, ServiceUnavailable().name, [("Retry-After", str(DATABASE_RETRY_SECONDS))]
        )

    @app.errorhandler(InternalServerError)
    def internal_error(error: InternalServerError):  # noqa: ANN202
        _rollback_quietly()
        error_id = uuid.uuid4().hex[:12]
        original = getattr(error, "original_exception", None) or error
        log.error("unhandled error %s on %s %s", error_id, loggable(request.method),
                  loggable(request.path), exc_info=loggable_error(original))
        return error_response(500, InternalServerError().name, error_id=error_id)
