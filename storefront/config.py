"""Settings from the environment: the only module that reads `os.environ`.

`CONTRACT.md` lists the variables. Tests pass `{"TESTING": True, ...}` to `create_app`; every
other start is production unless `FLASK_DEBUG=1`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from babel import Locale

from storefront.database import engine_options
from storefront.models import REMEMBER_SESSION_DAYS

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})
# Used only with FLASK_DEBUG=1 or in tests.
DEV_SECRET_KEY = "dev-only-not-secret-" + "-" * 12  # noqa: S105
SECRET_KEY_MIN_BYTES = 32
MAX_CONTENT_LENGTH_BYTES = 1024 * 1024
SHOP_NAME = "Storefront"
# Where links in mails point in development and tests (`make run` serves here).
DEV_EXTERNAL_BASE_URL = "http://127.0.0.1:5000"
MAIL_SCHEMES = frozenset({"smtp", "smtp+starttls", "smtps"})
MAIL_TIMEOUT_SECONDS = 10  # one SMTP conversation's socket timeout


class ConfigError(SystemExit):
    """A setting that stops start-up; SystemExit prints its one line and exits 1."""

    def __init__(self, message: str) -> None:
        super().__init__(f"storefront: configuration error: {message}")


def parse_bool(name: str, raw: str) -> bool:
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean (use 1/0, true/false, yes/no, on/off)")


def _env_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    return default if raw is None or raw == "" else parse_bool(name, raw)


def _env_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number") from None
    if value < 0:
        raise ConfigError(f"{name}={raw!r} must not be negative")
    return value


def _env_money(env: Mapping[str, str], name: str, default: str) -> Decimal:
    raw = env.get(name, "").strip() or default
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise ConfigError(f"{name}={raw!r} is not an amount such as {default}") from None
    if not value.is_finite() or value < 0 or value != value.quantize(Decimal("0.01")):
        raise ConfigError(f"{name}={raw!r} must be an amount of at least 0 with two decimals")
    return value.quantize(Decimal("0.01"))


def _env_currency(env: Mapping[str, str]) -> str:
    code = env.get("CURRENCY", "").strip().upper() or "EUR"
    if code not in Locale("en").currencies:
        raise ConfigError(f"CURRENCY={code!r} is not an ISO 4217 currency code")
    return code


def _check_secret_key(name: str, key: str) -> None:
    if len(key.encode("utf-8")) < SECRET_KEY_MIN_BYTES:
        raise ConfigError(
            f"{name} holds a key shorter than {SECRET_KEY_MIN_BYTES} bytes; use a long random "
            "value (python -c 'import secrets; print(secrets.token_hex(32))')"
        )


def _external_base_url(raw: str) -> str:
    """`https://shop.example/` → `https://shop.example`: a scheme and a host, nothing else."""
    url = raw.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname or parts.query \
            or parts.fragment or parts.username or parts.password:
        raise ConfigError(f"EXTERNAL_BASE_URL={raw!r} is not an address such as "
                          "https://shop.example")
    return url


def _mail_url(raw: str) -> str:
    url = raw.strip()
    if url and (urlsplit(url).scheme not in MAIL_SCHEMES or not urlsplit(url).hostname):
        # The value may hold a password: only its scheme is repeated.
        raise ConfigError(f"MAIL_URL must be smtp://, smtp+starttls:// or smtps://host[:port] "
                          f"(got a {urlsplit(url).scheme or 'schemeless'} address)")
    return url


OIDC_PROVIDER_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")


def _oidc_providers(env: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """`OIDC_PROVIDERS=google,keycloak` and, per name, `OIDC_<NAME>_DISCOVERY_URL`,
    `OIDC_<NAME>_CLIENT_ID`, `OIDC_<NAME>_CLIENT_SECRET` (NAME upper-cased, `-` as `_`)."""
    providers: dict[str, dict[str, str]] = {}
    for raw in env.get("OIDC_PROVIDERS", "").split(","):
        name = raw.strip().lower()
        if not name:
            continue
        if not OIDC_PROVIDER_NAME.fullmatch(name):
            raise ConfigError(f"OIDC_PROVIDERS: {raw.strip()!r} is not a name of letters, "
                              "digits, '-' and '_' (at most 32)")
        prefix = "OIDC_" + name.upper().replace("-", "_") + "_"
        settings = {key: env.get(prefix + key.upper(), "").strip()
                    for key in ("discovery_url", "client_id", "client_secret")}
        for key in ("discovery_url", "client_id"):
            if not settings[key]:
                raise ConfigError(f"OIDC_PROVIDERS names {name!r} but {prefix}{key.upper()} "
                                  "is not set")
        if urlsplit(settings["discovery_url"]).scheme not in ("https", "http"):
            raise ConfigError(f"{prefix}DISCOVERY_URL is not an http(s) address")
        providers[name] = settings
    return providers


def check_required(config: Mapping[str, Any]) -> None:
    """Settings `create_app` cannot start without outside development and tests."""
    if not config.get("EXTERNAL_BASE_URL"):
        raise ConfigError("EXTERNAL_BASE_URL is not set; set it to the shop's public address, "
                          "e.g. https://shop.example (mail links are built from it)")


def load_config(
    instance_path: str, overrides: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Build the Flask config from the environment, then apply `overrides` (tests)."""
    env = os.environ if env is None else env
    overrides = dict(overrides or {})
    testing = bool(overrides.get("TESTING", False))
    debug = _env_bool(env, "FLASK_DEBUG", False)
    relaxed = testing or debug

    secret_key = overrides.get("SECRET_KEY") or env.get("SECRET_KEY", "")
    if not secret_key:
        if not relaxed:
            raise ConfigError(
                "SECRET_KEY is not set; set it to a long random value "
                "(python -c 'import secrets; print(secrets.token_hex(32))')"
            )
        secret_key = DEV_SECRET_KEY

    _check_secret_key("SECRET_KEY", secret_key)

    database_url = env.get("DATABASE_URL") or "sqlite:///" + os.path.join(
        instance_path, "storefront.db"
    )
    raw_base_url = env.get("EXTERNAL_BASE_URL", "").strip()
    base_url = (_external_base_url(raw_base_url) if raw_base_url
                else DEV_EXTERNAL_BASE_URL if relaxed else "")
    mail_host = urlsplit(base_url).hostname or "localhost"
    config: dict[str, Any] = {
        "SECRET_KEY": secret_key,
        # Links in mails come from here only, never from the request's Host.
        "EXTERNAL_BASE_URL": base_url,
        "MAIL_URL": _mail_url(env.get("MAIL_URL", "")),
        "MAIL_FROM": env.get("MAIL_FROM", "").strip() or f"{SHOP_NAME} <no-reply@{mail_host}>",
        "SHOP_NAME": SHOP_NAME,
        "MAIL_TIMEOUT_SECONDS": MAIL_TIMEOUT_SECONDS,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "RATELIMIT_STORAGE_URI": env.get("RATELIMIT_STORAGE_URI") or "memory://",
        # A store that does not answer raises limits' StorageError, which rate_limits catches.
        "RATELIMIT_STORAGE_OPTIONS": {"wrap_exceptions": True},
        # Off only for load benchmarks, which replay one account from one address.
        "RATELIMIT_ENABLED": _env_bool(env, "RATELIMIT_ENABLED", True),
        "SESSION_COOKIE_SECURE": _env_bool(env, "SESSION_COOKIE_SECURE", not relaxed),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "PERMANENT_SESSION_LENGTH": REMEMBER_SESSION_DAYS * 24 * 3600,
        # The cookie is sent when it changes, not on every response: a remembered session's
        # cookie keeps the end its row has (auth_setup.ShopSessionInterface).
        "SESSION_REFRESH_EACH_REQUEST": False,
        "TRUST_PROXY_HOPS": _env_int(env, "TRUST_PROXY_HOPS", 0),
        # Where product images are kept (storefront/media.py); several hosts share one.
        "MEDIA_ROOT": env.get("MEDIA_ROOT") or os.path.join(instance_path, "media"),
        "MAX_CONTENT_LENGTH": MAX_CONTENT_LENGTH_BYTES,
        "MAX_FORM_MEMORY_SIZE": MAX_CONTENT_LENGTH_BYTES,
        "WTF_CSRF_TIME_LIMIT": 3600,
        # The check runs in security.protect_forms, after the request guard.
        "WTF_CSRF_CHECK_DEFAULT": False,
        "DEVELOPMENT": debug,
        "TESTING": testing,
        # werkzeug's default scrypt cost is below OWASP's; tests use a cheap one.
        "PASSWORD_HASH_METHOD": "scrypt:32768:8:3",  # noqa: S105 - a method, not a secret
        # Orders (issue 14): one currency, a flat shipping charge, free from an amount.
        "CURRENCY": _env_currency(env),
        "SHIPPING_FLAT_RATE": _env_money(env, "SHIPPING_FLAT_RATE", "4.90"),
        "FREE_SHIPPING_OVER": _env_money(env, "FREE_SHIPPING_OVER", "50.00"),
        # Sign-in with OpenID Connect providers (issue 18): name -> discovery_url, client_id,
        # client_secret (and an optional display title).
        "OIDC_PROVIDERS": _oidc_providers(env),
        "BANK_TRANSFER_HOLDER": env.get("BANK_TRANSFER_HOLDER", "").strip() or "Storefront",
        "BANK_TRANSFER_IBAN": env.get("BANK_TRANSFER_IBAN", "").strip()
        or "DE89 3704 0044 0532 0130 00",
    }
    if testing:
        config["PASSWORD_HASH_METHOD"] = "scrypt:1024:8:1"  # noqa: S105 - a method, not a secret
    # Blank entries are dropped: an empty key would sign (and accept) anything.
    fallbacks = [key.strip() for key in env.get("SECRET_KEY_FALLBACKS", "").split(",")]
    fallbacks = [key for key in fallbacks if key]
    for key in fallbacks:
        _check_secret_key("SECRET_KEY_FALLBACKS", key)
    if fallbacks:
        config["SECRET_KEY_FALLBACKS"] = fallbacks
    config.update(overrides)
    config.setdefault("SQLALCHEMY_ENGINE_OPTIONS",
                      engine_options(config["SQLALCHEMY_DATABASE_URI"]))
    config["SECRET_KEY"] = config.get("SECRET_KEY") or secret_key
    return config
