"""One structured line per request, and its id in `X-Request-ID`.

The line holds the request id, method, path (never the query string, and a mailed link's
token replaced by `[token]`), status, duration in milliseconds and the user id or `-`: no
form data, cookie or token, so no secret can leak.
Whatever the client chose (method, path) passes through `loggable` first.
"""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid

from flask import Flask, Response, g, request

log = logging.getLogger("storefront.request")
# An id handed in by the proxy is kept only if it looks like one (no log injection).
INCOMING_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")
MAX_LOGGED_CHARS = 300
# Path arguments that are secrets (a mailed link's token): logged as their name only.
SECRET_ARGUMENTS = frozenset({"token"})


def loggable(text: str) -> str:
    """Client text for a log line: non-ASCII and control characters escaped (`\\n`, `\\x00`),
    and spaces (`\\x20`), so it can neither start a forged line, nor add a forged `key=value`
    to this one, nor break the log's encoding; cut to a sane size."""
    escaped = text.encode("unicode_escape", "backslashreplace").decode("ascii")
    return escaped.replace(" ", "\\x20")[:MAX_LOGGED_CHARS]


def logged_path() -> str:
    """The request's path with any secret path argument replaced by `[token]`."""
    path = request.path
    for name, value in (request.view_args or {}).items():
        if name in SECRET_ARGUMENTS and isinstance(value, str) and value:
            path = path.replace(value, f"[{name}]")
    return path


def _user_id() -> str:
    # Only what this request already loaded, read without touching the database: after a
    # rollback (or with the account deleted meanwhile) a refresh could fail.
    user = g.get("_login_user")
    user_id = getattr(user, "__dict__", {}).get("id") if user is not None else None
    return str(user_id) if user_id is not None and user.is_authenticated else "-"


def register(app: Flask) -> None:
    if not log.handlers and not app.testing:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False

    @app.before_request
    def start_clock() -> None:
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if INCOMING_ID.fullmatch(incoming) else uuid.uuid4().hex
        g.request_started = time.perf_counter()

    @app.after_request
    def log_request(response: Response) -> Response:
        request_id = g.get("request_id") or uuid.uuid4().hex
        response.headers["X-Request-ID"] = request_id
        started = g.get("request_started")
        duration = (time.perf_counter() - started) * 1000 if started else 0.0
        log.info(
            "request_id=%s method=%s path=%s status=%s duration_ms=%.1f user=%s",
            request_id, loggable(request.method), loggable(logged_path()),
            response.status_code, duration, _user_id(),
        )
        return response
