"""Error pages: HTML in the shop's layout, JSON under /api/, never a stack trace."""

from __future__ import annotations

import logging
import uuid

from flask import Flask, g, jsonify, render_template, request
from flask_login import AnonymousUserMixin
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException, InternalServerError, ServiceUnavailable

from storefront.extensions import db

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
    429: "Too many attempts. Please wait a moment and try again.",
    500: "Something went wrong on our side. We have been told and will look into it.",
    503: "The shop is briefly unavailable. Please try again in a moment.",
}


def wants_json() -> bool:
    return request.path.startswith("/api/")


def error_response(code: int, name: str, headers=None, error_id: str | None = None):  # noqa: ANN001, ANN201
    message = MESSAGES.get(code, name)
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


def register(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):  # noqa: ANN202
        if error.code is None or error.code >= 500:
            _rollback_quietly()
        headers = [(k, v) for k, v in error.get_headers() if k.lower() != "content-type"]
        return error_response(error.code or 500, error.name, headers)

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    @app.errorhandler(PoolTimeout)
    def database_unavailable(error: Exception):  # noqa: ANN202
        _rollback_quietly()
        g.database_unavailable = True
        g._login_user = AnonymousUserMixin()  # the page must not ask the database who this is
        log.error("database unavailable: %s", type(error).__name__)
        return error_response(503, ServiceUnavailable.name, [("Retry-After", "5")])

    @app.errorhandler(InternalServerError)
    def internal_error(error: InternalServerError):  # noqa: ANN202
        _rollback_quietly()
        error_id = uuid.uuid4().hex[:12]
        original = getattr(error, "original_exception", None) or error
        log.error("unhandled error %s on %s %s", error_id, request.method, request.path,
                  exc_info=original)
        return error_response(500, InternalServerError.name, error_id=error_id)
