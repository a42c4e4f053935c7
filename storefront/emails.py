"""One canonical form of an e-mail address, computed here and only here.

Registration, sign-in, the sign-in throttle and every later look-up compare this form, and
`users.email_canonical` holds it under a unique index, so an address is one account however
it is written: in NFC or NFD, with full-width letters, any letter case, or its domain in
Unicode or in IDNA (`xn--`) form. The address as typed is kept for display and for mail.
"""

from __future__ import annotations

import unicodedata

import idna


def _unicode_domain(domain: str) -> str:
    """The domain in Unicode, lower-cased and mapped by IDNA's UTS 46 rules; as it is when it
    is not a valid IDNA name (the case-fold below still applies)."""
    try:
        return idna.decode(domain, uts46=True)
    except (idna.IDNAError, UnicodeError, ValueError):
        return domain


def canonical_email(address: str) -> str:
    """`  Jürgen@XN--BCHER-KVA.Example ` → `jürgen@bücher.example`.

    Compatibility-normalised (NFKC, which includes NFC and folds full-width letters), the
    domain IDNA-decoded, then the whole address case-folded in Python, so SQLite and
    PostgreSQL never apply their own (different) ideas of lower case.
    """
    text = unicodedata.normalize("NFKC", address.strip())
    local, at, domain = text.rpartition("@")
    if at:
        text = f"{local}@{_unicode_domain(domain)}"
    return unicodedata.normalize("NFKC", text.casefold())
