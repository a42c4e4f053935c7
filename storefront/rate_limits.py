"""The shop's throttles (CONTRACT.md, "Limits").

Counters live in RATELIMIT_STORAGE_URI: per worker with memory://, shared with Redis. Page
views (GET) are never limited.

Two kinds:
- `auth_posts`, a Flask-Limiter decorator: every POST counts, checked and counted in one
  atomic step before the view.
- `Budget`s, spent inside a view before the costly or guessable step and (for failure
  budgets) given back when it succeeds. Spending is one atomic increment, so simultaneous
  attempts can never pass more than the limit (a check-then-count would let 30 parallel
  guesses through a limit of 10).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from flask import request
from limits import RateLimitItem, parse
from limits.errors import StorageError
from limits.storage import MemoryStorage
from limits.strategies import FixedWindowRateLimiter
from werkzeug.exceptions import TooManyRequests

from storefront.extensions import limiter

log = logging.getLogger(__name__)

AUTH_POSTS_PER_ADDRESS = "30 per minute"
REGISTRATIONS_PER_ADDRESS = "10 per hour"
FAILED_SIGN_INS_PER_ACCOUNT = "10 per 15 minutes"
FAILED_REAUTHS_PER_ACCOUNT = "5 per 15 minutes"
# Every account-page POST that checks the password (it costs a slow hash), successful or not.
PASSWORD_CHECKS_PER_ACCOUNT = "10 per 15 minutes"  # noqa: S105 - a limit, not a password
RESET_REQUESTS_PER_ADDRESS = "5 per hour"
RESET_REQUESTS_PER_EMAIL = "3 per hour"
VERIFICATION_RESENDS_PER_ACCOUNT = "1 per 3 minutes"

# When the shared store does not answer, budgets count in this process instead of failing.
_fallback = FixedWindowRateLimiter(MemoryStorage())


class TooManyAttempts(TooManyRequests):
    """A spent budget: 429, with the seconds until it refills (the page and Retry-After)."""

    def __init__(self, retry_after: int) -> None:
        super().__init__()
        self.retry_after = retry_after


@dataclass(frozen=True)
class Budget:
    """`limit` attempts per key (an account, an address) in a fixed window."""

    scope: str
    limit: str
    item: RateLimitItem = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "item", parse(self.limit))

    def _hit(self, key: str, cost: int) -> bool:
        try:
            return limiter.limiter.hit(self.item, self.scope, key, cost=cost)
        except StorageError:
            log.warning("rate-limit store unreachable: counting %s in this process", self.scope)
            return _fallback.hit(self.item, self.scope, key, cost=cost)

    def _retry_after(self, key: str) -> int:
        try:
            reset = limiter.limiter.get_window_stats(self.item, self.scope, key).reset_time
        except StorageError:
            reset = _fallback.get_window_stats(self.item, self.scope, key).reset_time
        return max(1, int(round(reset - time.time())))

    def spend(self, key: str) -> None:
        """Count one attempt for `key`; `TooManyAttempts` if the budget is already spent."""
        if not limiter.enabled:
            return
        if not self._hit(key, 1):
            self._hit(key, -1)  # a refused attempt does not push the refill further away
            raise TooManyAttempts(self._retry_after(key))

    def clear(self, key: str) -> None:
        """Forget every attempt counted for `key` (a password reset clears the failed
        sign-ins of its account)."""
        try:
            limiter.limiter.clear(self.item, self.scope, key)
        except StorageError:
            log.warning("rate-limit store unreachable: clearing %s in this process", self.scope)
        _fallback.clear(self.item, self.scope, key)

    def refund(self, key: str) -> None:
        """Give back an attempt that turned out not to count (a sign-in that succeeded)."""
        if limiter.enabled:
            self._hit(key, -1)


@contextmanager
def failure_counted(budget: Budget, key: str) -> Iterator[None]:
    """Spend an attempt of a failure budget on the block; give it back if the block succeeds
    (an exception from it, such as a wrong password, keeps it spent)."""
    budget.spend(key)
    yield
    budget.refund(key)


auth_posts = limiter.shared_limit(AUTH_POSTS_PER_ADDRESS, scope="auth-posts", methods=["POST"])
registrations = Budget("registrations", REGISTRATIONS_PER_ADDRESS)
failed_sign_ins = Budget("sign-in", FAILED_SIGN_INS_PER_ACCOUNT)
# One budget for every page that re-checks the password (password change, deletion).
failed_reauths = Budget("reauth", FAILED_REAUTHS_PER_ACCOUNT)
password_checks = Budget("password-checks", PASSWORD_CHECKS_PER_ACCOUNT)
# Asking for a reset link: per client address and per address asked about (canonical form,
# unknown addresses counted alike, so a 429 tells nothing about accounts).
reset_requests_per_address = Budget("reset-address", RESET_REQUESTS_PER_ADDRESS)
reset_requests_per_email = Budget("reset-email", RESET_REQUESTS_PER_EMAIL)
verification_resends = Budget("verify-resend", VERIFICATION_RESENDS_PER_ACCOUNT)


@limiter.request_filter
def page_views_are_never_limited() -> bool:
    """GET and HEAD skip the limiter's per-request look-up of limits altogether (none apply
    to them: CONTRACT.md), so a page pays nothing for it."""
    return request.method in {"GET", "HEAD"}
