"""The staff area's services: staff rights, products, stock, images, customers, dashboard.

Every public function that changes data is one transaction that also adds its
`audit_events` row (audit.record). They run inside a staff request's row-level scope
(rls.act_as_staff), or, from the `flask users` commands, as the connecting role.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from storefront import accounts, audit, catalog, categories, events, media
from storefront.audit import Actor
from storefront.database import begin_write, db
from storefront.emails import canonical_email
from storefront.exceptions import (
    NotFound,
    SelfDisable,
    SkuTaken,
    StockBelowZero,
    StockChanged,
)
from storefront.models import (
    LOW_STOCK_THRESHOLD,
    MAX_PAGE,
    STOCK_MAX,
    Order,
    Product,
    Profile,
    StockAdjustment,
    User,
    UserCart,
    UserSession,
    utcnow,
)

ADMIN_PER_PAGE = 50
PRODUCT_FIELDS = ("sku", "name", "description", "price", "stock", "active")
PRODUCT_STATES = ("active", "inactive", "sold_out", "low_stock")
DASHBOARD_LOW_STOCK = 10
CLI_ACTOR = Actor(None, "flask users (command line)")


# Staff rights -------------------------------------------------------------------------------

def set_staff(email: str, is_staff: bool) -> User:
    """Grant or remove staff rights (the `flask users` commands); raises `NotFound` for an
    unknown e-mail. Audited with the command line as the actor."""
    begin_write()
    user = db.session.scalar(
        select(User).where(User.email_canonical == canonical_email(email)).with_for_update())
    if user is None:
        db.session.rollback()
        raise NotFound(email)
    before = user.is_staff
    user.is_staff = is_staff
    audit.record(CLI_ACTOR, "grant_staff" if is_staff else "revoke_staff",
                 "user", user.id, {"is_staff": before}, {"is_staff": is_staff})
    db.session.commit()
    return user


def session_started_at(session_id: int) -> datetime | None:
    """When a session began (the staff gate ends staff sessions after 12 hours)."""
    return db.session.scalar(select(UserSession.created_at).where(UserSession.id == session_id))


def end_session(session_id: int) -> None:
    """End a staff session that outlived its limit."""
    begin_write()
    db.session.execute(update(UserSession).where(
        UserSession.id == session_id, UserSession.revoked_at.is_(None)).values(revoked_at=utcnow()))
    db.session.commit()


# Products -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Page:
    rows: list[Any]
    page: int
    has_next: bool

    @property
    def has_previous(self) -> bool:
        return self.page > 1


def _paged(statement: Any, page: int) -> Page:
    if not 1 <= page <= MAX_PAGE:
        raise NotFound(f"page {page}")
    rows = list(db.session.execute(
        statement.limit(ADMIN_PER_PAGE + 1).offset((page - 1) * ADMIN_PER_PAGE)).all())
    if not rows and page > 1:
        raise NotFound(f"page {page}")
    return Page(rows[:ADMIN_PER_PAGE], page, len(rows) > ADMIN_PER_PAGE)


def list_products(query: str = "", state: str = "", page: int = 1) -> Page:
    """Every product (inactive ones too), newest first, searched by name or sku (a literal
    substring, any case) and filtered by `state` (one of `PRODUCT_STATES`; else none)."""
    statement = select(Product).order_by(Product.created_at.desc(), Product.id.desc())
    query = query.strip()
    if query:
        needle = query.lower()
        statement = statement.where(or_(
            func.lower(Product.name).contains(needle, autoescape=True),
            func.lower(Product.sku).contains(needle, autoescape=True)))
    if state == "active":
        statement = statement.where(Product.active)
    elif state == "inactive":
        statement = statement.where(Product.active.is_(False))
    elif state == "sold_out":
        statement = statement.where(Product.active, Product.stock <= 0)
    elif state == "low_stock":
        statement = statement.where(Product.active, Product.stock > 0,
                                    Product.stock <= LOW_STOCK_THRESHOLD)
    result = _paged(statement, page)
    return Page([row[0] for row in result.rows], result.page, result.has_next)


def get_product(product_id: int) -> Product:
    product = db.session.get(Product, product_id)
    if product is None:
        raise NotFound(f"product {product_id}")
    return product


def _snapshot(product: Product) -> dict[str, Any]:
    return {name: getattr(product, name) for name in PRODUCT_FIELDS}


def _free_slug(name: str) -> str:
    base = catalog.slugify(name)
    taken = set(db.session.scalars(select(Product.slug).where(
        or_(Product.slug == base, Product.slug.startswith(base + "-", autoescape=True)))))
    return catalog._unique_slug(name, taken)  # noqa: SLF001 - the import's own slug rule


def _stored_image(image: bytes | None) -> str | None:
    """The upload checked and stored before any row is written (`ImageRefused` otherwise)."""
    return media.store_image(image) if image else None


def create_product(actor: Actor, values: dict[str, Any], image: bytes | None = None) -> Product:
    """Add a product (`PRODUCT_FIELDS` from a checked form) with its image, if given.
    Raises `SkuTaken`, `ImageRefused`; nothing is written then."""
    key = _stored_image(image)
    try:
        begin_write()
        if db.session.scalar(select(Product.id).where(
                func.lower(Product.sku) == values["sku"].lower())) is not None:
            raise SkuTaken(values["sku"])
        product = Product(slug=_free_slug(values["name"]), image_key=key,
                          **{name: values[name] for name in PRODUCT_FIELDS})
        db.session.add(product)
        try:
            db.session.flush()
        except IntegrityError:
            raise SkuTaken(values["sku"]) from None
        category_ids = values.get("categories")
        if category_ids:
            categories.set_product_categories([product.id], {product.id: category_ids})
        audit.record(actor, "create", "product", product.id, None,
                     {**_snapshot(product), "image": key,
                      **({"categories": category_ids} if category_ids else {})})
        db.session.commit()
    except BaseException:
        db.session.rollback()
        if key:
            media.delete_image(key)
        raise
    return product


def verify_password(user_id: int, password: str) -> None:
    """The staff member's password, re-checked before a destructive action."""
    accounts.verify_password(user_id, password)


def count_open_carts(product_id: int) -> int:
    """How many saved carts hold the product (deactivating it then needs the password)."""
    return db.session.scalar(
        select(func.count()).select_from(UserCart).where(UserCart.product_id == product_id))


def update_product(actor: Actor, product_id: int, values: dict[str, Any],
                   image: bytes | None = None, stock_seen: int | None = None) -> Product:
    """Change a product's fields (`PRODUCT_FIELDS`) and, if given, its image; the audit row
    keeps what changed, before and after (a change of nothing writes nothing). The old
    image's files go after the commit. `stock_seen` is the stock the form showed: a stock
    field left at it is not written, and a new one is written only if the stock (read under
    the row's lock) is still `stock_seen`, else `StockChanged`.
    Raises `NotFound`, `SkuTaken`, `ImageRefused`, `StockChanged`."""
    key = _stored_image(image)
    try:
        begin_write()
        product = db.session.get(Product, product_id, with_for_update=True,
                                 populate_existing=True)
        if product is None:
            raise NotFound(f"product {product_id}")
        before = {**_snapshot(product), "image": product.image_key}
        if values.get("categories") is not None:
            before["categories"] = categories.get_product_category_ids(product_id)
        if stock_seen is not None:
            if values["stock"] == stock_seen:  # the stock field left as shown: not written
                values = {**values, "stock": product.stock}
            elif stock_seen != product.stock:
                raise StockChanged(product.stock)
        if values["sku"].lower() != product.sku.lower() and db.session.scalar(
                select(Product.id).where(func.lower(Product.sku) == values["sku"].lower())):
            raise SkuTaken(values["sku"])
        for name in PRODUCT_FIELDS:
            setattr(product, name, values[name])
        if key:
            product.image_key = key
        after = {**_snapshot(product), "image": product.image_key}
        if values.get("categories") is not None:
            after["categories"] = sorted(set(values["categories"]))
            if after["categories"] != before["categories"]:
                categories.set_product_categories([product_id],
                                                  {product_id: after["categories"]})
        changed = [name for name in after if before[name] != after[name]]
        try:
            db.session.flush()
        except IntegrityError:
            raise SkuTaken(values["sku"]) from None
        if changed:
            action = "deactivate" if changed == ["active"] and not product.active else "update"
            audit.record(actor, action, "product", product.id,
                         {name: before[name] for name in changed},
                         {name: after[name] for name in changed})
        db.session.commit()
    except BaseException:
        db.session.rollback()
        if key:
            media.delete_image(key)
        raise
    if key and before["image"]:
        media.delete_image(before["image"])
    return product


def adjust_stock(actor: Actor, product_id: int, delta: int, reason: str) -> int:
    """Change a product's stock by `delta` (`+12 received`, `-1 damaged`) in one guarded
    UPDATE: a change that would take it below 0 or past `STOCK_MAX` changes nothing and
    raises `StockBelowZero`. The adjustment and its audit row are written with it. Returns
    the new stock; raises `NotFound`."""
    begin_write()
    new_stock = db.session.scalar(
        update(Product)
        .where(Product.id == product_id, Product.stock + delta >= 0,
               Product.stock + delta <= STOCK_MAX)
        .values(stock=Product.stock + delta)
        .returning(Product.stock)
    )
    if new_stock is None:
        stock = db.session.scalar(select(Product.stock).where(Product.id == product_id))
        db.session.rollback()
        if stock is None:
            raise NotFound(f"product {product_id}")
        raise StockBelowZero(stock, delta)
    db.session.add(StockAdjustment(product_id=product_id, actor_id=actor.id, delta=delta,
                                   stock_after=new_stock, reason=reason, created_at=utcnow()))
    audit.record(actor, "adjust_stock", "product", product_id,
                 {"stock": new_stock - delta}, {"stock": new_stock, "reason": reason})
    db.session.commit()
    return new_stock


def list_adjustments(product_id: int, limit: int = 20) -> list[StockAdjustment]:
    return list(db.session.scalars(
        select(StockAdjustment).where(StockAdjustment.product_id == product_id)
        .order_by(StockAdjustment.id.desc()).limit(limit)))


def import_products(actor: Actor, data: bytes) -> catalog.ImportResult:
    """The CLI's CSV import (catalog.import_products) with its audit row in its transaction;
    raises `CatalogImportError` with line-numbered problems, nothing written."""

    def audited(result: catalog.ImportResult) -> None:
        audit.record(actor, "import", "catalog", "csv", None,
                     {"created": result.created, "updated": result.updated})

    return catalog.import_products(data, before_commit=audited)


# Customers ----------------------------------------------------------------------------------

CUSTOMER_COLUMNS = (User.id, User.email, User.is_active, User.is_staff, User.created_at,
                    User.last_login_at, User.email_verified_at, Profile.first_name,
                    Profile.last_name)
ORDER_COLUMNS = (Order.number, Order.status, Order.total, Order.currency, Order.placed_at)


def list_customers(query: str = "", page: int = 1) -> Page:
    """Accounts, newest first, searched by e-mail or name (a literal substring, any case).
    No password hash or token is ever selected."""
    statement = (select(*CUSTOMER_COLUMNS).outerjoin(Profile, Profile.user_id == User.id)
                 .order_by(User.id.desc()))
    query = query.strip()
    if query:
        needle = query.lower()
        full_name = func.lower(Profile.first_name + " " + Profile.last_name)
        statement = statement.where(or_(
            func.lower(User.email).contains(needle, autoescape=True),
            full_name.contains(needle, autoescape=True)))
    return _paged(statement, page)


@dataclass(frozen=True)
class CartLine:
    product_id: int
    name: str
    sku: str
    quantity: int
    price: Decimal


@dataclass(frozen=True)
class Customer:
    account: Any  # a CUSTOMER_COLUMNS row
    phone: str | None
    marketing_opt_in: bool | None
    cart: list[CartLine]
    sessions: list[Any]
    orders: list[Any]  # ORDER_COLUMNS rows, newest first


SESSION_COLUMNS = (UserSession.id, UserSession.created_at, UserSession.last_seen_at,
                   UserSession.expires_at, UserSession.revoked_at, UserSession.user_agent,
                   UserSession.ip, UserSession.remember)


def get_customer(user_id: int) -> Customer:
    """A customer's page: profile and verification, saved cart, sessions (no hash, no
    token), the newest orders; `NotFound`."""
    account = db.session.execute(
        select(*CUSTOMER_COLUMNS, Profile.phone, Profile.marketing_opt_in)
        .outerjoin(Profile, Profile.user_id == User.id).where(User.id == user_id)).first()
    if account is None:
        raise NotFound(f"user {user_id}")
    cart = [CartLine(*row) for row in db.session.execute(
        select(Product.id, Product.name, Product.sku, UserCart.quantity, Product.price)
        .join(Product, Product.id == UserCart.product_id)
        .where(UserCart.user_id == user_id).order_by(UserCart.added_at, Product.id))]
    sessions = list(db.session.execute(
        select(*SESSION_COLUMNS).where(UserSession.user_id == user_id)
        .order_by(UserSession.id.desc()).limit(ADMIN_PER_PAGE)))
    orders = list(db.session.execute(
        select(*ORDER_COLUMNS).where(Order.user_id == user_id)
        .order_by(Order.placed_at.desc(), Order.id.desc()).limit(ADMIN_PER_PAGE)))
    return Customer(account, account.phone, account.marketing_opt_in, cart, sessions, orders)


def _live_sessions(user_id: int) -> Any:
    return and_(UserSession.user_id == user_id, UserSession.revoked_at.is_(None),
                UserSession.expires_at > utcnow())


def revoke_customer_sessions(actor: Actor, user_id: int, session_id: int | None = None) -> int:
    """End one live session of the customer (`session_id`) or all of them; how many ended.
    Raises `NotFound` for an unknown account or a session that is not the customer's."""
    begin_write()
    if db.session.get(User, user_id) is None:
        db.session.rollback()
        raise NotFound(f"user {user_id}")
    condition = _live_sessions(user_id)
    if session_id is not None:
        if db.session.scalar(select(UserSession.id).where(
                UserSession.id == session_id, UserSession.user_id == user_id)) is None:
            db.session.rollback()
            raise NotFound(f"session {session_id}")
        condition = and_(condition, UserSession.id == session_id)
    ended = db.session.execute(
        update(UserSession).where(condition).values(revoked_at=utcnow())).rowcount
    audit.record(actor, "revoke_sessions", "user", user_id,
                 {"session": session_id or "all"}, {"ended": ended})
    db.session.commit()
    return ended


def set_customer_disabled(actor: Actor, user_id: int, disabled: bool) -> None:
    """Disable an account (its sessions end at once and it cannot sign in: the same refusal
    as a wrong password) or enable it again. A staff member cannot disable themselves
    (`SelfDisable`); raises `NotFound`."""
    if disabled and user_id == actor.id:
        raise SelfDisable
    begin_write()
    user = db.session.get(User, user_id, with_for_update=True, populate_existing=True)
    if user is None:
        db.session.rollback()
        raise NotFound(f"user {user_id}")
    before = user.is_active
    user.is_active = not disabled
    ended = 0
    if disabled:
        ended = db.session.execute(update(UserSession).where(
            _live_sessions(user_id)).values(revoked_at=utcnow())).rowcount
    audit.record(actor, "disable" if disabled else "enable", "user", user_id,
                 {"active": before}, {"active": not disabled, "sessions_ended": ended})
    db.session.commit()


# Dashboard ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Figure:
    label: str
    rate: float | None
    detail: str


def low_stock_products(limit: int = DASHBOARD_LOW_STOCK) -> list[Product]:
    """Active products at or under the low-stock threshold, fewest first."""
    return list(db.session.scalars(
        select(Product).where(Product.active, Product.stock <= LOW_STOCK_THRESHOLD)
        .order_by(Product.stock, Product.id).limit(limit)))


def report_figures(days: int = 30) -> list[Figure]:
    """The four figures of `flask report` for the last `days` days."""
    report = events.build_report(days)
    return [
        Figure("Registration success", report.registration_success_rate,
               f"{report.accounts_created} of {report.registration_attempts} attempts"),
        Figure("Profile creation", report.profile_creation_success_rate,
               f"{report.profiles_created} of {report.accounts_remaining} accounts"),
        Figure("Cart merge success", report.cart_merge_success_rate,
               f"{report.cart_merges_succeeded} of {report.cart_merges_attempted} merges"),
        Figure("Session persistence", report.session_persistence_rate,
               f"of {report.sessions_remaining} sessions"),
    ]
