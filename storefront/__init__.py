"""The storefront application factory."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from storefront import security
from storefront.config import check_required, load_config
from storefront.database import configure_postgresql, configure_sqlite
from storefront.extensions import csrf, db, limiter, login_manager, migrate

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: settings from the environment, then `config` on top (tests)."""
    app = Flask(
        __name__,
        template_folder=os.path.join(PROJECT_ROOT, "templates"),
        static_folder=os.path.join(PROJECT_ROOT, "static"),
        instance_path=os.path.join(PROJECT_ROOT, "instance"),
    )
    app.config.update(load_config(app.instance_path, config))
    check_required(app.config)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///"):
        os.makedirs(app.instance_path, exist_ok=True)

    db.init_app(app)
    migrate.init_app(
        app, db, directory=os.path.join(PROJECT_ROOT, "migrations"),
        render_as_batch=True, compare_type=True,
    )
    from storefront import request_guard, request_log, rls

    request_log.register(app)  # first, so every response (400s and 429s too) is timed and logged
    request_guard.register(app)  # then hostile input is refused before anything reads it
    csrf.init_app(app)  # its own hook is off (WTF_CSRF_CHECK_DEFAULT); ours runs after the guard
    from storefront.blueprints.admin import gate as staff_gate

    app.before_request(staff_gate)  # before the CSRF check: non-staff get 404, never a 400
    app.before_request(security.protect_forms)
    limiter.init_app(app)
    login_manager.init_app(app)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            configure_sqlite(db.engine)
        elif db.engine.dialect.name == "postgresql":
            configure_postgresql(db.engine, rls.scope_prefix)

    hops = app.config["TRUST_PROXY_HOPS"]
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]

    from storefront import auth_setup, cli, errors, mail, templating
    from storefront.blueprints.account import bp as account_bp
    from storefront.blueprints.admin import bp as admin_bp
    from storefront.blueprints.api import bp as api_bp
    from storefront.blueprints.auth import bp as auth_bp
    from storefront.blueprints.cart import bp as cart_bp
    from storefront.blueprints.catalog import bp as catalog_bp
    from storefront.blueprints.checkout import bp as checkout_bp
    from storefront.blueprints.health import bp as health_bp
    from storefront.blueprints.media import bp as media_bp
    from storefront.blueprints.mydata import bp as mydata_bp
    from storefront.blueprints.wishlist import bp as wishlist_bp

    for blueprint in (catalog_bp, health_bp, auth_bp, account_bp, cart_bp, api_bp, checkout_bp,
                      admin_bp, media_bp, wishlist_bp, mydata_bp):
        app.register_blueprint(blueprint)
    auth_setup.register(app)
    errors.register(app)
    security.register(app)
    templating.register(app)
    cli.register(app)
    mail.register(app)
    return app
