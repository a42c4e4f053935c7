"""The staff area: one gate for every `/admin` URL (create_app runs it before the CSRF
check, so whoever is not staff gets the same 404 for any URL and method under /admin)."""

from datetime import timedelta

from flask import Blueprint, abort, flash, redirect, request, session, url_for
from flask_login import current_user

from storefront import rls, staff
from storefront.models import STAFF_SESSION_HOURS, utcnow

bp = Blueprint("admin", __name__, url_prefix="/admin")
PREFIX = "/admin"


def gate():  # noqa: ANN201
    """404 to everyone who is not staff under /admin (unknown URLs and methods included);
    a staff session older than `STAFF_SESSION_HOURS` is ended; staff requests get the
    staff row-level scope."""
    if request.path != PREFIX and not request.path.startswith(PREFIX + "/"):
        return None
    if not current_user.is_authenticated or not current_user.is_staff:
        abort(404)
    started = staff.session_started_at(current_user.session_id)
    if started is None or utcnow() - started > timedelta(hours=STAFF_SESSION_HOURS):
        staff.end_session(current_user.session_id)
        session.clear()
        flash("Your staff session has ended. Please sign in again.", "info")
        return redirect(url_for("auth.login", next=request.path), 303)
    rls.act_as_staff()
    return None


from storefront.blueprints.admin import routes  # noqa: E402, F401  (registers the views)
