"""Stored images (storefront/media.py), served with a fixed type whatever their bytes."""

from flask import Blueprint, Response, abort

from storefront import media

bp = Blueprint("media", __name__, url_prefix="/media")
# Names are random and a file never changes: caches may keep it for a year.
MEDIA_CACHE_CONTROL = "public, max-age=31536000, immutable"


@bp.get("/<filename>")
def image(filename: str) -> Response:
    data = media.read_file(filename)
    if data is None:
        abort(404)
    response = Response(data, mimetype="image/webp")
    response.headers["Cache-Control"] = MEDIA_CACHE_CONTROL
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Disposition"] = "inline"
    return response
