"""Where a shopper goes after signing in or up: back to the page they came from, if safe."""

from __future__ import annotations

from flask import request

UNSAFE_NEXT_MARKERS = ("\\", "//")
NEXT_MAX_CHARS = 2000
# Pages that are themselves the way in: coming back to them after signing in means nothing.
NO_RETURN_BLUEPRINTS = frozenset({"auth"})


def safe_next(target: str | None) -> str | None:
    """A same-site path to go to after sign-in, or None.

    Only a path with exactly one leading `/`: no scheme, no `//` or `\\` (browsers read both
    as another host), no control characters.
    """
    if not target or not target.startswith("/") or len(target) > NEXT_MAX_CHARS:
        return None
    if any(marker in target for marker in UNSAFE_NEXT_MARKERS):
        return None
    if any(ord(char) < 32 or ord(char) == 127 for char in target):
        return None
    return target


def return_path() -> str | None:
    """This page as a `next` for the header's sign-in and register links (GET pages only)."""
    if request.method != "GET" or request.blueprint in NO_RETURN_BLUEPRINTS:
        return None
    if request.endpoint is None:  # an error page for a URL that does not exist
        return None
    path = request.full_path if request.query_string else request.path
    return safe_next(path)
