"""`/healthz`: is the app up and does the database answer."""

import logging

from flask import Blueprint, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from storefront.extensions import db

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)


@bp.get("/healthz")
def healthz():  # noqa: ANN201
    try:
        db.session.execute(text("SELECT 1"))
        db.session.rollback()
    except SQLAlchemyError as error:
        log.warning("health check: database unavailable (%s)", type(error).__name__)
        try:
            db.session.rollback()
        except SQLAlchemyError:
            log.warning("health check: rollback failed too")
        return jsonify(status="degraded", database="unavailable"), 503
    return jsonify(status="ok", database="ok")
