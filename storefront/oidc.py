"""OpenID Connect sign-in: the configured providers, their discovery documents, the
authorization request (PKCE, state and nonce) and the checks of the provider's answer.

Built on Authlib's lower-level client (`OAuth2Session`: PKCE, the token request) and its
ID-token claims (`CodeIDToken`), with joserfc (Authlib's JOSE) checking the signature
against the provider's published keys. What binds a callback to the browser that started
the flow (state, nonce, PKCE verifier, the moment it began) lives in the signed session
cookie, never in a shared cache, and is used once (`pop_pending`).

Refusals are two kinds: `CallbackRefused` (a replayed, tampered or late callback, an error
from the provider, a token that fails a check: 400) and `ProviderDown` (discovery, keys or
token endpoint unreachable or answering garbage: 503).
"""

from __future__ import annotations

import hmac
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

import requests
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from authlib.oidc.core import CodeIDToken
from email_validator import EmailNotValidError, validate_email
from flask import current_app, session
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from storefront.accounts import ProviderClaims, names_from_claims
from storefront.emails import canonical_email
from storefront.models import EMAIL_MAX_CHARS

PROVIDER_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
HTTP_TIMEOUT_SECONDS = 5
DISCOVERY_CACHE_SECONDS = 3600
# A flow not finished within this many seconds is refused (the shopper starts again).
FLOW_MAX_SECONDS = 600
PENDING_KEY = "oidc_flow"
LINK_KEY = "oidc_link"  # an identity waiting for the password sign-in that links it
SCOPES = "openid email profile"
DISCOVERY_SUFFIX = "/.well-known/openid-configuration"


class ProviderDown(Exception):
    """The provider could not be reached, or answered something unusable."""


class CallbackRefused(Exception):
    """The callback cannot be trusted or used: its reason is for the log, not the page."""


@dataclass(frozen=True)
class Provider:
    name: str
    discovery_url: str
    client_id: str
    client_secret: str
    title: str


def providers() -> dict[str, Provider]:
    """The configured providers by name (`OIDC_PROVIDERS`, config.py); none: no buttons."""
    configured = current_app.config.get("OIDC_PROVIDERS") or {}
    return {
        name: Provider(name, settings["discovery_url"], settings["client_id"],
                       settings.get("client_secret", ""),
                       settings.get("title") or name.replace("_", " ").title())
        for name, settings in configured.items()
    }


def get_provider(name: str) -> Provider | None:
    return providers().get(name)


def redirect_uri(provider: Provider) -> str:
    """The callback address to register at the provider: from EXTERNAL_BASE_URL only."""
    base = current_app.config["EXTERNAL_BASE_URL"].rstrip("/")
    return f"{base}/auth/oidc/{provider.name}/callback"


def _get_json(url: str) -> dict[str, Any]:
    try:
        response = requests.get(url, timeout=HTTP_TIMEOUT_SECONDS)
        response.raise_for_status()
        document = response.json()
    except (requests.RequestException, ValueError) as error:
        raise ProviderDown(f"{url}: {error}") from None
    if not isinstance(document, dict):
        raise ProviderDown(f"{url}: not a JSON object")
    return document


def metadata(provider: Provider) -> dict[str, Any]:
    """The provider's discovery document (cached an hour per process). Its `issuer` must be
    the discovery address without the well-known suffix (OpenID Connect Discovery 4.3), and
    the endpoints this flow uses must be there."""
    cache = current_app.extensions.setdefault("oidc_metadata", {})
    cached = cache.get(provider.name)
    if cached and cached[0] > time.monotonic() and cached[1] == provider.discovery_url:
        return cached[2]
    document = _get_json(provider.discovery_url)
    expected_issuer = provider.discovery_url.removesuffix(DISCOVERY_SUFFIX).rstrip("/")
    if str(document.get("issuer", "")).rstrip("/") != expected_issuer:
        raise ProviderDown(f"{provider.name}: discovery names issuer "
                           f"{document.get('issuer')!r}, not {expected_issuer!r}")
    for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        if not isinstance(document.get(key), str):
            raise ProviderDown(f"{provider.name}: discovery has no {key}")
    cache[provider.name] = (time.monotonic() + DISCOVERY_CACHE_SECONDS, provider.discovery_url,
                            document)
    return document


def _client(provider: Provider) -> OAuth2Session:
    return OAuth2Session(provider.client_id, provider.client_secret, scope=SCOPES,
                         redirect_uri=redirect_uri(provider), code_challenge_method="S256")


def start(provider: Provider, next_url: str | None) -> str:
    """Begin a flow in this browser's session; returns the provider's authorization URL.
    A flow begun before in this session is replaced (only the latest can finish)."""
    document = metadata(provider)
    state = secrets.token_urlsafe(32)
    nonce = secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64)
    url, _state = _client(provider).create_authorization_url(
        document["authorization_endpoint"], state=state, nonce=nonce, code_verifier=verifier)
    session[PENDING_KEY] = {"provider": provider.name, "state": state, "nonce": nonce,
                            "verifier": verifier, "started": int(time.time()),
                            "next": next_url or ""}
    return url


def pop_pending() -> dict[str, Any] | None:
    """The flow this session began, taken out of it: a callback is used once."""
    pending = session.pop(PENDING_KEY, None)
    return pending if isinstance(pending, dict) else None


def finish(provider: Provider, pending: dict[str, Any] | None,
           args: dict[str, str]) -> ProviderClaims:
    """Check a callback against the flow this browser began, exchange the code (with the PKCE
    verifier) and check the ID token: signature by the provider's keys, issuer from
    discovery, audience, expiry, nonce. Returns the identity's claims."""
    if pending is None:
        raise CallbackRefused("no flow begun in this session (replayed or foreign callback)")
    if pending.get("provider") != provider.name:
        raise CallbackRefused("the flow was begun for another provider")
    state = args.get("state", "")
    if not hmac.compare_digest(str(pending.get("state", "")).encode(), state.encode()):
        raise CallbackRefused("state does not match")
    started = pending.get("started")
    if not isinstance(started, int) or time.time() - started > FLOW_MAX_SECONDS:
        raise CallbackRefused("the flow is too old")
    if args.get("error"):
        raise CallbackRefused(f"provider error: {args.get('error')[:100]}")
    code = args.get("code", "")
    if not code:
        raise CallbackRefused("no code")
    document = metadata(provider)
    try:
        token = _client(provider).fetch_token(
            document["token_endpoint"], code=code, code_verifier=pending.get("verifier"),
            timeout=HTTP_TIMEOUT_SECONDS)
    except OAuthError as error:  # the provider refused the code (used, expired, forged)
        raise CallbackRefused(f"token endpoint: {error.error}") from None
    except (requests.RequestException, ValueError) as error:
        raise ProviderDown(f"token endpoint: {error}") from None
    id_token = token.get("id_token")
    if not isinstance(id_token, str):
        raise CallbackRefused("no ID token")
    claims = _checked_claims(provider, document, id_token, str(pending.get("nonce", "")),
                             token.get("access_token"))
    return _provider_claims(provider, claims)


def _checked_claims(provider: Provider, document: dict[str, Any], id_token: str, nonce: str,
                    access_token: object) -> dict[str, Any]:
    try:
        keys = KeySet.import_key_set(_get_json(document["jwks_uri"]))
    except (JoseError, ValueError, TypeError, KeyError) as error:
        raise ProviderDown(f"{provider.name}: unusable keys: {error}") from None
    algorithms = document.get("id_token_signing_alg_values_supported") or ["RS256"]
    try:
        decoded = jwt.decode(id_token, keys, registry=JWSRegistry(
            algorithms=[alg for alg in algorithms if alg != "none"],
            strict_check_header=False))
        claims = CodeIDToken(
            decoded.claims, decoded.header,
            {"iss": {"essential": True, "value": document["issuer"]},
             "aud": {"essential": True, "value": provider.client_id},
             "nonce": {"essential": True}},
            {"nonce": nonce, "client_id": provider.client_id,
             "access_token": access_token if isinstance(access_token, str) else None})
        claims.validate(leeway=60)
    except (JoseError, ValueError) as error:
        raise CallbackRefused(f"ID token: {error}") from None
    except Exception as error:  # authlib's claim errors (issuer, audience, nonce, expiry)
        if type(error).__module__.startswith("authlib."):
            raise CallbackRefused(f"ID token: {error}") from None
        raise
    if claims.get("nonce") != nonce or not nonce:
        raise CallbackRefused("nonce does not match")
    return dict(claims)


def _provider_claims(provider: Provider, claims: dict[str, Any]) -> ProviderClaims:
    subject = claims.get("sub")
    # OpenID Connect Core 2: at most 255 ASCII characters; nothing unprintable reaches SQL.
    if (not isinstance(subject, str) or not subject or len(subject) > 255
            or not subject.isascii() or not subject.isprintable()):
        raise CallbackRefused("unusable subject")
    first_name, last_name = names_from_claims(claims)
    return ProviderClaims(
        provider=provider.name, subject=subject, email=_usable_email(claims.get("email")),
        email_verified=claims.get("email_verified") is True,
        first_name=first_name, last_name=last_name)


def _usable_email(value: object) -> str:
    """The e-mail claim if it is an address registration would take, else "" (no account is
    made or linked by it)."""
    if not isinstance(value, str) or not value or len(value) > EMAIL_MAX_CHARS \
            or not value.isprintable():
        return ""
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        return ""
    return value if len(canonical_email(value)) <= EMAIL_MAX_CHARS else ""
