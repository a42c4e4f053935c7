"""Typed SQLAlchemy models: one home for each fact, and the shop's fixed limits."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from flask_login import UserMixin
from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    LargeBinary,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    false,
    func,
    text,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from storefront.database import db

SKU_MAX_CHARS = 64
PRODUCT_NAME_MAX_CHARS = 200
SLUG_MAX_CHARS = 220
DESCRIPTION_MAX_CHARS = 5000
PRICE_MAX = Decimal("99999999.99")  # Numeric(10, 2)
STOCK_MAX = 1_000_000
PRODUCTS_PER_PAGE = 24
MAX_PAGE = 10_000
# A catalog or a search counts its products up to here ("1,000+"): a page's cost must not
# grow with the catalog.
TOTAL_COUNT_CAP = 1_000
LOW_STOCK_THRESHOLD = 5
SEARCH_MAX_CHARS = 200
SEARCH_MAX_WORDS = 8

EMAIL_MAX_CHARS = 254
PASSWORD_MIN_CHARS = 8
PASSWORD_MAX_CHARS = 128
NAME_MAX_CHARS = 100
PHONE_MAX_CHARS = 32
PHONE_MIN_DIGITS = 6
PHONE_MAX_DIGITS = 15
USER_AGENT_MAX_CHARS = 512
IP_MAX_CHARS = 45
EVENT_KIND_MAX_CHARS = 40
EVENT_DETAIL_MAX_CHARS = 500
SESSION_TOKEN_BYTES = 32
BROWSER_SESSION_HOURS = 12
REMEMBER_SESSION_DAYS = 30
LAST_SEEN_WRITE_SECONDS = 60
STALE_SESSION_DAYS = 30

CART_MAX_LINES = 50
LINE_MAX_QUANTITY = 99
GUEST_TOKEN_MAX_CHARS = 64
ID_MAX = 2**31 - 1  # ids are 32-bit INTEGER columns: anything larger names no row
CART_UNTOUCHED_DAYS = 90

# Mail (issue 13).
EMAIL_TOKEN_BYTES = 32
EMAIL_TOKEN_MAX_CHARS = 64  # token_urlsafe(32) is 43 characters; anything longer names nothing
RESET_TOKEN_HOURS = 1
VERIFY_TOKEN_DAYS = 3  # verification and e-mail change
MAIL_KIND_MAX_CHARS = 40
MAIL_SUBJECT_MAX_CHARS = 200
MAIL_ERROR_MAX_CHARS = 500
TOKEN_PURPOSE_MAX_CHARS = 20
# Staff area (issue 15).
IMAGE_KEY_MAX_CHARS = 64
AUDIT_ACTION_MAX_CHARS = 40
AUDIT_OBJECT_MAX_CHARS = 64
STOCK_REASON_MAX_CHARS = 200
STAFF_SESSION_HOURS = 12  # a staff session ends after this, whatever "remember me" said


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """A timezone-aware UTC datetime on every database (SQLite stores naive text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):  # noqa: ANN001, ANN201
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC)
            if dialect.name == "sqlite":
                value = value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):  # noqa: ANN001, ANN201
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class StockState:
    """What a product's stock means to a shopper: one home for Product and
    catalog.ProductCard (each has a `stock`)."""

    @property
    def sold_out(self) -> bool:
        return self.stock <= 0

    @property
    def low_stock(self) -> bool:
        """Few enough left to say so ("Only 3 left")."""
        return 0 < self.stock <= LOW_STOCK_THRESHOLD


class Product(StockState, db.Model):
    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("price >= 0", name="price_not_negative"),
        CheckConstraint("stock >= 0", name="stock_not_negative"),
        Index("ix_products_created_at_id", "created_at", "id"),
        # The catalog's price and name sorts (issue 16).
        Index("ix_products_price_id", "price", "id"),
        Index("ix_products_name", "name"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sku: Mapped[str] = mapped_column(String(SKU_MAX_CHARS), unique=True)
    slug: Mapped[str] = mapped_column(String(SLUG_MAX_CHARS), unique=True)
    name: Mapped[str] = mapped_column(String(PRODUCT_NAME_MAX_CHARS))
    description: Mapped[str] = mapped_column(Text, default="")
    price: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    stock: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True, server_default=true())
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, server_default=func.current_timestamp()
    )
    # The random base name of the product's WebP images (storefront/media.py), if any.
    image_key: Mapped[str | None] = mapped_column(String(IMAGE_KEY_MAX_CHARS))


class User(UserMixin, db.Model):
    """Authentication facts only; names and preferences live in `Profile`.

    A loaded user carries the session it was loaded through (`accounts.load_session`):
    Flask-Login keeps `get_id()`, the session token, in the signed cookie.
    """

    __tablename__ = "users"
    __table_args__ = (Index("uq_users_email_canonical", "email_canonical", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(EMAIL_MAX_CHARS))  # as typed, for display
    # The one form every look-up uses (emails.canonical_email): one account per address
    # however it is written. NULL only for an account that collided when the column came
    # (`flask accounts check` reports it).
    email_canonical: Mapped[str | None] = mapped_column(String(EMAIL_MAX_CHARS))
    # None: no password (an account created through an OpenID Connect provider, until the
    # shopper sets one through the reset flow); no password then matches.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(default=True, server_default=true())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the current address was proven by a link mailed to it; None: not (yet) verified.
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    is_staff: Mapped[bool] = mapped_column(default=False, server_default=false())
    # The random key of the profile picture's WebP files (storefront/media.py), if any.
    avatar_key: Mapped[str | None] = mapped_column(String(IMAGE_KEY_MAX_CHARS))

    profile: Mapped[Profile] = relationship(
        back_populates="user", lazy="raise", uselist=False, passive_deletes=True
    )

    # Not columns: the session this instance was loaded through.
    session_id = None
    session_token = None
    session_remember = False
    cart_count = None  # the saved cart's count, as the session look-up read it

    def get_id(self) -> str | None:
        return self.session_token


class Profile(db.Model):
    __tablename__ = "profiles"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    first_name: Mapped[str] = mapped_column(String(NAME_MAX_CHARS))
    last_name: Mapped[str] = mapped_column(String(NAME_MAX_CHARS))
    phone: Mapped[str | None] = mapped_column(String(PHONE_MAX_CHARS))
    marketing_opt_in: Mapped[bool] = mapped_column(default=False, server_default=false())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    user: Mapped[User] = relationship(back_populates="profile", lazy="raise")


class UserSession(db.Model):
    """One row per sign-in. The cookie holds a random token; this table only its SHA-256."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    remember: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    user_agent: Mapped[str] = mapped_column(String(USER_AGENT_MAX_CHARS), default="")
    ip: Mapped[str] = mapped_column(String(IP_MAX_CHARS), default="")


class Event(db.Model):
    """A counted fact for `flask report`, written in the same transaction as its action."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_kind_created_at", "kind", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(EVENT_KIND_MAX_CHARS))
    ok: Mapped[bool]
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    detail: Mapped[str] = mapped_column(String(EVENT_DETAIL_MAX_CHARS), default="")
    # A cart merge's figures, typed so the report sums them in SQL.
    lines_merged: Mapped[int | None]
    lines_capped: Mapped[int | None]
    lines_dropped: Mapped[int | None]


class UserCart(db.Model):
    """A signed-in shopper's saved cart: one row per product."""

    __tablename__ = "user_carts"
    __table_args__ = (
        CheckConstraint(
            f"quantity BETWEEN 1 AND {LINE_MAX_QUANTITY}", name="quantity_in_range"
        ),
    )

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    product_id: Mapped[int] = mapped_column(
        ForeignKey("products.id"), primary_key=True, index=True
    )
    quantity: Mapped[int]
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class CartMerge(db.Model):
    """One row per guest cart merged at sign-in: a second merge of the same cart adds nothing."""

    __tablename__ = "cart_merges"

    id: Mapped[int] = mapped_column(primary_key=True)
    guest_token: Mapped[str] = mapped_column(String(GUEST_TOKEN_MAX_CHARS), unique=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    merged_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    lines_in: Mapped[int]
    lines_kept: Mapped[int]


# Mail: outbox and e-mail tokens (issue 13) ------------------------------------------------------

class EmailToken(db.Model):
    """A single-use link's token: only its SHA-256 is kept. `purpose` binds it to one use
    (verify, reset, email_change); `new_email` is the address an e-mail change moves to."""

    __tablename__ = "email_tokens"
    __table_args__ = (Index("ix_email_tokens_user_id_purpose", "user_id", "purpose"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(TOKEN_PURPOSE_MAX_CHARS))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    new_email: Mapped[str | None] = mapped_column(String(EMAIL_MAX_CHARS))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OutboxMail(db.Model):
    """A mail, written in the transaction of the action it reports and sent later by
    `flask mail deliver`. A mail with a link holds a placeholder and `token_purpose`: the
    worker mints the token when it sends, so no token is ever stored in clear."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "next_attempt_at", "id"),
        Index("ix_outbox_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    kind: Mapped[str] = mapped_column(String(MAIL_KIND_MAX_CHARS))
    recipient: Mapped[str] = mapped_column(String(EMAIL_MAX_CHARS))
    subject: Mapped[str] = mapped_column(String(MAIL_SUBJECT_MAX_CHARS))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    token_purpose: Mapped[str | None] = mapped_column(String(TOKEN_PURPOSE_MAX_CHARS))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(MAIL_ERROR_MAX_CHARS))
# Addresses and orders (issue 14) --------------------------------------------------------------

ADDRESSES_MAX = 20  # per account
ADDRESS_LINE_MAX_CHARS = 200
CITY_MAX_CHARS = 100
POSTAL_CODE_MAX_CHARS = 20
REGION_MAX_CHARS = 100
E164_MAX_CHARS = 16  # "+" and at most 15 digits
ORDER_NUMBER_MAX_CHARS = 12  # SF-XXXX-XXXX
IDEMPOTENCY_KEY_MAX_CHARS = 64
PAYMENT_METHOD_MAX_CHARS = 32
PAYMENT_REFERENCE_MAX_CHARS = 32
ORDER_STATUS_MAX_CHARS = 16
CURRENCY_CODE_CHARS = 3
ORDERS_PER_PAGE = 20
TRACKING_MAX_CHARS = 100
ORDER_STATUSES = ("placed", "paid", "shipped", "delivered", "cancelled")


class Address(db.Model):
    """An entry of a shopper's address book. At most one default shipping and one default
    billing address per account: partial unique indexes, so the database decides."""

    __tablename__ = "addresses"
    __table_args__ = (
        Index("uq_addresses_default_shipping", "user_id", unique=True,
              postgresql_where=text("default_shipping"), sqlite_where=text("default_shipping")),
        Index("uq_addresses_default_billing", "user_id", unique=True,
              postgresql_where=text("default_billing"), sqlite_where=text("default_billing")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    full_name: Mapped[str] = mapped_column(String(NAME_MAX_CHARS))
    line1: Mapped[str] = mapped_column(String(ADDRESS_LINE_MAX_CHARS))
    line2: Mapped[str] = mapped_column(String(ADDRESS_LINE_MAX_CHARS), default="")
    city: Mapped[str] = mapped_column(String(CITY_MAX_CHARS))
    postal_code: Mapped[str] = mapped_column(String(POSTAL_CODE_MAX_CHARS), default="")
    region: Mapped[str] = mapped_column(String(REGION_MAX_CHARS), default="")
    country: Mapped[str] = mapped_column(String(2))  # ISO 3166-1 alpha-2
    phone: Mapped[str | None] = mapped_column(String(E164_MAX_CHARS))  # E.164
    default_shipping: Mapped[bool] = mapped_column(default=False, server_default=false())
    default_billing: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Order(db.Model):
    """An order as placed: it copies what it sells (order_lines) and where it goes (both
    addresses), so later changes to products or the address book never alter it. Detached
    from its account (user_id NULL, name, e-mail and addresses removed) when the account is
    deleted; totals and lines stay for the shop's books."""

    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("user_id", "idempotency_key", name="uq_orders_user_id_idempotency_key"),
        Index("ix_orders_user_id_placed_at", "user_id", "placed_at"),
        Index("ix_orders_placed_at", "placed_at"),
        Index("ix_orders_status_placed_at", "status", "placed_at"),
        CheckConstraint(
            "status IN ('placed', 'paid', 'shipped', 'delivered', 'cancelled')",
            name="status_known",
        ),
        CheckConstraint("subtotal >= 0 AND shipping >= 0 AND total >= 0",
                        name="money_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(ORDER_NUMBER_MAX_CHARS), unique=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    idempotency_key: Mapped[str | None] = mapped_column(String(IDEMPOTENCY_KEY_MAX_CHARS))
    status: Mapped[str] = mapped_column(String(ORDER_STATUS_MAX_CHARS))
    payment_method: Mapped[str] = mapped_column(String(PAYMENT_METHOD_MAX_CHARS))
    payment_reference: Mapped[str | None] = mapped_column(String(PAYMENT_REFERENCE_MAX_CHARS))
    email: Mapped[str | None] = mapped_column(String(EMAIL_MAX_CHARS))
    currency: Mapped[str] = mapped_column(String(CURRENCY_CODE_CHARS))
    subtotal: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    shipping: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    total: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    ship_name: Mapped[str] = mapped_column(String(NAME_MAX_CHARS))
    ship_line1: Mapped[str] = mapped_column(String(ADDRESS_LINE_MAX_CHARS))
    ship_line2: Mapped[str] = mapped_column(String(ADDRESS_LINE_MAX_CHARS))
    ship_city: Mapped[str] = mapped_column(String(CITY_MAX_CHARS))
    ship_postal_code: Mapped[str] = mapped_column(String(POSTAL_CODE_MAX_CHARS))
    ship_region: Mapped[str] = mapped_column(String(REGION_MAX_CHARS))
    ship_country: Mapped[str] = mapped_column(String(2))
    ship_phone: Mapped[str | None] = mapped_column(String(E164_MAX_CHARS))
    bill_name: Mapped[str] = mapped_column(String(NAME_MAX_CHARS))
    bill_line1: Mapped[str] = mapped_column(String(ADDRESS_LINE_MAX_CHARS))
    bill_line2: Mapped[str] = mapped_column(String(ADDRESS_LINE_MAX_CHARS))
    bill_city: Mapped[str] = mapped_column(String(CITY_MAX_CHARS))
    bill_postal_code: Mapped[str] = mapped_column(String(POSTAL_CODE_MAX_CHARS))
    bill_region: Mapped[str] = mapped_column(String(REGION_MAX_CHARS))
    bill_country: Mapped[str] = mapped_column(String(2))
    bill_phone: Mapped[str | None] = mapped_column(String(E164_MAX_CHARS))
    placed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The carrier's reference, given by staff when they ship it (migration 0013).
    tracking: Mapped[str | None] = mapped_column(String(TRACKING_MAX_CHARS))


class OrderLine(db.Model):
    """One product of an order, with its name, SKU and unit price as they were."""

    __tablename__ = "order_lines"
    __table_args__ = (
        CheckConstraint(f"quantity BETWEEN 1 AND {LINE_MAX_QUANTITY}", name="quantity_in_range"),
        CheckConstraint("unit_price >= 0", name="price_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(
        ForeignKey("orders.id", ondelete="CASCADE"), index=True
    )
    product_id: Mapped[int | None] = mapped_column(
        ForeignKey("products.id", ondelete="SET NULL"), index=True
    )
    sku: Mapped[str] = mapped_column(String(SKU_MAX_CHARS))
    name: Mapped[str] = mapped_column(String(PRODUCT_NAME_MAX_CHARS))
    unit_price: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    quantity: Mapped[int]
    # The product's picture as it is now, when the line was read with it (not a column).
    image_key = None

    @property
    def line_total(self) -> Decimal:
        return self.unit_price * self.quantity
# Staff area (issue 15) ------------------------------------------------------------------------


class AuditEvent(db.Model):
    """One staff change: who, what, which object, before and after; written in the change's
    own transaction, never updated or deleted (append-only, also for the app role)."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_created_at", "created_at"),
        Index("ix_audit_events_object", "object_type", "object_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    actor_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    actor_email: Mapped[str] = mapped_column(String(EMAIL_MAX_CHARS))  # kept if the actor goes
    action: Mapped[str] = mapped_column(String(AUDIT_ACTION_MAX_CHARS))
    object_type: Mapped[str] = mapped_column(String(AUDIT_ACTION_MAX_CHARS))
    object_id: Mapped[str] = mapped_column(String(AUDIT_OBJECT_MAX_CHARS))
    before: Mapped[dict | None] = mapped_column(JSON)
    after: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StockAdjustment(db.Model):
    """A stock change by hand (`+12 received`, `-1 damaged`): who, how much, why."""

    __tablename__ = "stock_adjustments"

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    actor_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    delta: Mapped[int]
    stock_after: Mapped[int]
    reason: Mapped[str] = mapped_column(String(STOCK_REASON_MAX_CHARS))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# Wishlist and avatars (issue 17) ---------------------------------------------------------------

WISHLIST_MAX_ITEMS = 100
SHARE_KEY_BYTES = 16  # secrets.token_urlsafe(16): 22 characters
SHARE_KEY_MAX_CHARS = 64  # anything longer names no wishlist


class WishlistItem(db.Model):
    """A product a shopper wishes for, with the quantity wished: one row per product."""

    __tablename__ = "wishlist_items"
    __table_args__ = (
        CheckConstraint(f"quantity BETWEEN 1 AND {LINE_MAX_QUANTITY}", name="quantity_in_range"),
        Index("ix_wishlist_items_user_id_added_at", "user_id", "added_at"),
    )

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    product_id: Mapped[int] = mapped_column(
        ForeignKey("products.id"), primary_key=True, index=True
    )
    quantity: Mapped[int]
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WishlistShare(db.Model):
    """A wishlist's share link, while it is on: only the SHA-256 of its key is kept."""

    __tablename__ = "wishlist_shares"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# Sign-in methods: OpenID Connect identities and passkeys (issue 18) ----------------------------

PROVIDER_NAME_MAX_CHARS = 32
OIDC_SUBJECT_MAX_CHARS = 255
CREDENTIAL_ID_MAX_CHARS = 1400  # base64url of WebAuthn's 1,023-byte maximum
PASSKEY_NAME_MAX_CHARS = 100


class OAuthIdentity(db.Model):
    """An account's identity at an OpenID Connect provider: found by (provider, subject),
    never by e-mail. `email` is the address the provider gave at the last sign-in (for display)."""

    __tablename__ = "oauth_identities"
    __table_args__ = (UniqueConstraint("provider", "subject"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(PROVIDER_NAME_MAX_CHARS))
    subject: Mapped[str] = mapped_column(String(OIDC_SUBJECT_MAX_CHARS))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    email: Mapped[str | None] = mapped_column(String(EMAIL_MAX_CHARS))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Passkey(db.Model):
    """A WebAuthn credential of an account (a discoverable one: the browser offers it)."""

    __tablename__ = "passkeys"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    credential_id: Mapped[str] = mapped_column(String(CREDENTIAL_ID_MAX_CHARS), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    sign_count: Mapped[int] = mapped_column(BigInteger)
    name: Mapped[str] = mapped_column(String(PASSKEY_NAME_MAX_CHARS))
    transports: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


# Browsing: categories (issue 16) ---------------------------------------------------------------

CATEGORY_NAME_MAX_CHARS = 100
CATEGORY_SLUG_MAX_CHARS = 120
# A category has sub-categories, which have none: two levels, for menus a shopper can scan.
CATEGORY_MAX_DEPTH = 2
# How long a worker keeps the category tree it shows in every header (categories change rarely;
# a page must not pay a statement for them).
CATEGORY_CACHE_SECONDS = 60
RELATED_PRODUCTS = 4


class Category(db.Model):
    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(CATEGORY_NAME_MAX_CHARS))
    slug: Mapped[str] = mapped_column(String(CATEGORY_SLUG_MAX_CHARS), unique=True)
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("categories.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(default=0, server_default="0")


class ProductCategory(db.Model):
    __tablename__ = "product_categories"

    product_id: Mapped[int] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), primary_key=True
    )
    category_id: Mapped[int] = mapped_column(
        ForeignKey("categories.id", ondelete="CASCADE"), primary_key=True, index=True
    )
