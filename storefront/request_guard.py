"""The request guard: hostile input is answered before any view or query sees it.

One `before_request` hook, the app's first after the request clock, refuses with `400`:
- a C0 control character (NUL included) in the path, the query string, a form or JSON key,
  the session cookie or a header the shop reads; in form and JSON values only tab, CR and LF
  may pass (single-line fields refuse those with their own 422);
- text that is not UTF-8, or a lone surrogate in a JSON string;
- on the HTML routes, a body that is not form data (JSON, text, ...) or a file part where the
  view takes no upload (`accepts_files`); under `/api/` and on the few HTML-side views that
  take JSON (`accepts_json`: the passkey steps), a body that is not JSON;
- JSON with NaN or Infinity, a number no column can hold, or nesting past `JSON_MAX_DEPTH`.
A body longer than `MAX_CONTENT_LENGTH` is `413`, chunked bodies included: the body is read
here, once, up to that limit, and what the views parse is exactly what was checked.

Only checks: it never repairs input, and a refused request writes nothing.
"""

from __future__ import annotations

import io
import json
import math
import re
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import unquote_to_bytes

from flask import Flask, abort, current_app, g, request
from flask_login import AnonymousUserMixin
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData
from werkzeug.wsgi import get_content_length

from storefront.ids import IdConverter

BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# A single-line place: every C0 character is refused.
C0 = re.compile(r"[\x00-\x1f]")
# A value that may span lines: tab, LF and CR pass, the rest of C0 is refused.
C0_BUT_WHITESPACE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
SURROGATE = re.compile(r"[\ud800-\udfff]")
READ_HEADERS = ("User-Agent", "X-CSRFToken", "X-Request-ID")
JSON_MAX_DEPTH = 32
JSON_INT_MIN, JSON_INT_MAX = -(2**63), 2**63 - 1  # the widest column (BIGINT)
READ_CHUNK_BYTES = 64 * 1024

View = TypeVar("View", bound=Callable[..., Any])


class Refused(ValueError):
    """Why a request is refused; the reason is for the log and tests, not for the visitor."""


def accepts_files(view: View) -> View:
    """Mark a view whose form has a file field: only such views may receive file parts."""
    view.accepts_files = True  # type: ignore[attr-defined]
    return view


def accepts_json(view: View) -> View:
    """Mark an HTML-side view that takes a JSON body (the passkey steps, driven by a script):
    its body must be JSON, checked as the API's is."""
    view.accepts_json = True  # type: ignore[attr-defined]
    return view


def upload_limit(max_bytes: int) -> Callable[[View], View]:
    """Let a view that takes files receive a body of up to `max_bytes` (instead of
    `MAX_CONTENT_LENGTH`); implies `accepts_files`."""

    def mark(view: View) -> View:
        view.max_content_length = max_bytes  # type: ignore[attr-defined]
        return accepts_files(view)

    return mark


def _wsgi_bytes(text: str) -> bytes:
    """The raw bytes behind a WSGI string (PEP 3333 carries them as latin-1)."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        raise Refused("not a WSGI byte string") from None


def _text(raw: bytes, pattern: re.Pattern[str]) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused("not UTF-8") from None
    if pattern.search(text):
        raise Refused("control character")
    return text


def _check_urlencoded(data: bytes, values: re.Pattern[str]) -> None:
    """`a=1&b=2` as the views will read it: each key and value decoded strictly."""
    for pair in data.split(b"&"):
        key, _, value = pair.partition(b"=")
        _text(unquote_to_bytes(key.replace(b"+", b" ")), C0)
        _text(unquote_to_bytes(value.replace(b"+", b" ")), values)


def _check_multipart(data: bytes, boundary: bytes, files_allowed: bool) -> None:
    decoder = MultipartDecoder(boundary, max_form_memory_size=len(data) + 1)
    decoder.receive_data(data)
    decoder.receive_data(None)
    part: list[bytes] | None = None
    while True:
        event = decoder.next_event()
        if isinstance(event, NeedData | Epilogue):
            return
        if isinstance(event, File):
            if not files_allowed:
                raise Refused("file part on a route that takes no upload")
            _text(event.name.encode("utf-8", "surrogateescape"), C0)
            part = None
        elif isinstance(event, Field):
            _text(event.name.encode("utf-8", "surrogateescape"), C0)
            part = []
        elif isinstance(event, Data) and part is not None:
            part.append(event.data)
            if not event.more_data:
                _text(b"".join(part), C0_BUT_WHITESPACE)
                part = None


def _check_json_value(value: object, depth: int = 0) -> None:
    if depth > JSON_MAX_DEPTH:
        raise Refused("JSON nested too deeply")
    if isinstance(value, str):
        if SURROGATE.search(value):
            raise Refused("lone surrogate")
        if C0_BUT_WHITESPACE.search(value):
            raise Refused("control character")
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int):
        if not JSON_INT_MIN <= value <= JSON_INT_MAX:
            raise Refused("number out of range")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise Refused("number out of range")
    elif isinstance(value, list):
        for item in value:
            _check_json_value(item, depth + 1)
    elif isinstance(value, dict):
        for key, item in value.items():
            if SURROGATE.search(key) or C0.search(key):
                raise Refused("control character in a key")
            _check_json_value(item, depth + 1)


def _refuse_constant(name: str) -> None:
    raise Refused(f"JSON constant {name}")


def _check_json(data: bytes) -> None:
    text = _text(data, C0_BUT_WHITESPACE)
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        raise Refused("not JSON") from None
    _check_json_value(value)


def _read_body(limit: int | None) -> bytes:
    """Read the whole body once, at most `limit` bytes (413 beyond), and hand the views a
    stream of exactly those bytes: a chunked body can no longer be cut and processed."""
    environ = request.environ
    length = get_content_length(environ)
    if length is not None and limit is not None and length > limit:
        abort(413)
    if length is None and "wsgi.input_terminated" not in environ:
        return b""  # no length and no server framing: werkzeug reads nothing either
    wanted = length if length is not None else (limit + 1 if limit is not None else None)
    stream, chunks, size = environ["wsgi.input"], [], 0
    while wanted is None or size < wanted:
        chunk = stream.read(READ_CHUNK_BYTES if wanted is None
                            else min(READ_CHUNK_BYTES, wanted - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if limit is not None and size > limit:
        abort(413)
    data = b"".join(chunks)
    environ["wsgi.input"] = io.BytesIO(data)
    environ["CONTENT_LENGTH"] = str(len(data))
    environ.pop("wsgi.input_terminated", None)
    environ.pop("HTTP_TRANSFER_ENCODING", None)
    return data


def _check_session_cookie() -> None:
    name = current_app.config["SESSION_COOKIE_NAME"]
    raw = request.environ.get("HTTP_COOKIE", "")
    for part in raw.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            _text(_wsgi_bytes(value), C0)


def _check_body() -> None:
    view = current_app.view_functions.get(request.endpoint or "")
    larger = getattr(view, "max_content_length", None)
    if larger is not None:
        request.max_content_length = larger
    data = _read_body(request.max_content_length)
    if not data:
        return
    mimetype = request.mimetype
    under_api = request.path.startswith("/api/")
    if under_api or getattr(view, "accepts_json", False):
        if not request.is_json:
            raise Refused("this route takes JSON")
        _check_json(data)
    elif mimetype == "application/x-www-form-urlencoded":
        _check_urlencoded(data, C0_BUT_WHITESPACE)
    elif mimetype == "multipart/form-data":
        boundary = _wsgi_bytes(request.mimetype_params.get("boundary", ""))
        if not boundary:
            raise Refused("multipart without a boundary")
        view = current_app.view_functions.get(request.endpoint or "")
        _check_multipart(data, boundary, getattr(view, "accepts_files", False))
    else:
        raise Refused(f"a form route got {mimetype or 'an untyped body'}")


def check_request() -> None:
    """Refuse the request (400, 413) if any part of it is hostile; see the module's rules."""
    environ = request.environ
    try:
        _text(_wsgi_bytes(environ.get("PATH_INFO", "")), C0)
        _check_urlencoded(_wsgi_bytes(environ.get("QUERY_STRING", "")), C0)
        _check_session_cookie()
        for header in READ_HEADERS:
            _text(_wsgi_bytes(environ.get("HTTP_" + header.upper().replace("-", "_"), "")), C0)
        if request.method in BODY_METHODS:
            _check_body()
    except Refused as refusal:
        g.plain_page = True  # the error page must not look up the visitor from hostile input
        g._login_user = AnonymousUserMixin()
        abort(400, description=str(refusal))


def register(app: Flask) -> None:
    app.url_map.converters["id"] = IdConverter
    app.before_request(check_request)
