"""The Flask extensions, created unbound and attached in `create_app`."""

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_wtf.csrf import CSRFProtect

from storefront.database import db

__all__ = ["csrf", "db", "limiter", "login_manager", "migrate"]
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
# Storage comes from RATELIMIT_STORAGE_URI; if a shared store (Redis) goes down, counting
# falls back to memory instead of failing the request. Retry-After is set by the 429 page
# (errors.py) from the same number it shows, so the extension's own headers stay off.
limiter = Limiter(
    get_remote_address,
    headers_enabled=False,
    in_memory_fallback_enabled=True,
    swallow_errors=True,
)
