"""Wishlists: products a shopper wishes for, with the quantity wished; moving them to the
saved cart through the cart's own rules; and a share link.

Rules: at most `WISHLIST_MAX_ITEMS` items, one per product; an unknown or inactive product is
`NotFound`; a sold-out product may be wished for (it is marked, and cannot be moved). Adding
a product already on the list adds to its quantity (capped at `LINE_MAX_QUANTITY`), in one
upsert. Moving goes through `carts.add_lines_within` (stock cap, 50 lines, sold out) in one
transaction, and an item leaves the list only if its cart line was written in it. The share
link's key is `secrets.token_urlsafe(SHARE_KEY_BYTES)`, a new one each time sharing is turned
on; only its SHA-256 is kept, and the shared page reads through `rls.find_by_share_key`.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, delete, func, literal, select
from sqlalchemy.exc import IntegrityError

from storefront import carts, rls
from storefront.carts import MergedLine
from storefront.database import begin_write, db, insert, least
from storefront.exceptions import NotFound, WishlistFull
from storefront.ids import require_id
from storefront.models import (
    LINE_MAX_QUANTITY,
    SHARE_KEY_BYTES,
    SHARE_KEY_MAX_CHARS,
    WISHLIST_MAX_ITEMS,
    Product,
    Profile,
    User,
    WishlistItem,
    WishlistShare,
    utcnow,
)


@dataclass(frozen=True)
class WishItem:
    product: Product
    quantity: int
    added_at: datetime

    @property
    def movable(self) -> bool:
        """The item can go to the cart now: its product is sold and in stock."""
        return self.product.active and not self.product.sold_out


@dataclass(frozen=True)
class Wishlist:
    items: list[WishItem]
    shared: bool  # a share link is on


@dataclass(frozen=True)
class SharedWishlist:
    first_name: str
    items: list[WishItem]


@dataclass(frozen=True)
class WishAdded:
    product: Product
    quantity: int  # the item's quantity afterwards


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def get_wishlist(user_id: int) -> Wishlist:
    """The shopper's items with their products, first added first, and whether a share link
    is on: one query, whatever the number of items."""
    rows = db.session.execute(
        select(WishlistItem.quantity, WishlistItem.added_at, Product,
               select(WishlistShare.user_id).where(WishlistShare.user_id == user_id)
               .exists().label("shared"))
        .select_from(User)
        .outerjoin(WishlistItem, WishlistItem.user_id == User.id)
        .outerjoin(Product, Product.id == WishlistItem.product_id)
        .where(User.id == user_id)
        .order_by(WishlistItem.added_at, WishlistItem.product_id)
    ).all()
    items = [WishItem(row.Product, row.quantity, row.added_at)
             for row in rows if row.Product is not None]
    return Wishlist(items, bool(rows and rows[0].shared))


def add_item(user_id: int, product_id: int, quantity: int = 1) -> WishAdded:
    """Wish for `quantity` of a product; again for a product on the list adds to it (at most
    99). `NotFound` for an unknown or inactive product (or a deleted account), `WishlistFull`
    for a new item past `WISHLIST_MAX_ITEMS`. The user's row is locked, so the cap holds for
    simultaneous adds."""
    require_id(product_id)
    begin_write()
    count = (select(func.count()).select_from(WishlistItem)
             .where(WishlistItem.user_id == user_id).scalar_subquery())
    row = db.session.execute(
        select(Product, WishlistItem.quantity, count.label("item_count"))
        .select_from(Product)
        .join(User, User.id == user_id)
        .outerjoin(WishlistItem, and_(WishlistItem.product_id == Product.id,
                                      WishlistItem.user_id == user_id))
        .where(Product.id == product_id, Product.active)
        .with_for_update(of=User)
    ).first()
    if row is None:
        db.session.rollback()
        raise NotFound(f"product {product_id}")
    if row.quantity is None and row.item_count >= WISHLIST_MAX_ITEMS:
        db.session.rollback()
        raise WishlistFull(WISHLIST_MAX_ITEMS)
    statement = insert(WishlistItem).values(
        user_id=user_id, product_id=product_id, quantity=min(quantity, LINE_MAX_QUANTITY),
        added_at=utcnow(),
    )
    statement = statement.on_conflict_do_update(
        index_elements=["user_id", "product_id"],
        set_={"quantity": least(WishlistItem.quantity + statement.excluded.quantity,
                                LINE_MAX_QUANTITY)},
    ).returning(WishlistItem.quantity)
    try:
        final = db.session.execute(statement).scalar_one()
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise NotFound(f"user {user_id}") from None
    return WishAdded(row.Product, final)


def remove_item(user_id: int, product_id: int) -> None:
    """Take a product off the list; `NotFound` if the list does not hold it."""
    require_id(product_id)
    begin_write()
    removed = db.session.execute(
        delete(WishlistItem).where(WishlistItem.user_id == user_id,
                                   WishlistItem.product_id == product_id)
    ).rowcount
    db.session.commit()
    if not removed:
        raise NotFound(f"wishlist item {product_id}")


def _move(user_id: int, wished: dict[int, int]) -> tuple[MergedLine, ...]:
    """Add the wished lines to the saved cart and remove the items whose line was written,
    in the open write transaction; commits."""
    added = carts.add_lines_within(user_id, wished)
    if added.written:
        db.session.execute(
            delete(WishlistItem).where(WishlistItem.user_id == user_id,
                                       WishlistItem.product_id.in_(sorted(added.written)))
        )
    db.session.commit()
    return added.lines


def move_to_cart(user_id: int, product_id: int) -> MergedLine:
    """Move one item to the saved cart with its wished quantity, by the cart's rules, in one
    transaction: the item leaves the list only if its cart line was written. `NotFound` if
    the list does not hold it. The result says what happened (added, capped, or dropped:
    sold out, withdrawn, cart full)."""
    require_id(product_id)
    begin_write()
    quantity = db.session.scalar(
        select(WishlistItem.quantity).where(WishlistItem.user_id == user_id,
                                            WishlistItem.product_id == product_id)
        .with_for_update()
    )
    if quantity is None:
        db.session.rollback()
        raise NotFound(f"wishlist item {product_id}")
    return _move(user_id, {product_id: quantity})[0]


def move_all_to_cart(user_id: int) -> tuple[MergedLine, ...]:
    """Move every movable item to the saved cart, first added first, in one transaction and
    a constant number of statements; items that cannot go (sold out, withdrawn, no room in
    the cart) stay on the list. Returns each item's outcome, for one receipt."""
    begin_write()
    wished = dict(db.session.execute(
        select(WishlistItem.product_id, WishlistItem.quantity)
        .where(WishlistItem.user_id == user_id)
        .order_by(WishlistItem.added_at, WishlistItem.product_id)
        .with_for_update()
    ).all())
    if not wished:
        db.session.rollback()
        return ()
    return _move(user_id, wished)


# Sharing --------------------------------------------------------------------------------------

def set_sharing(user_id: int, shared: bool) -> str | None:
    """Turn the share link on (a new key each time: links handed out before stop working) or
    off. Returns the new key, which is kept nowhere in clear, or None when turned off."""
    begin_write()
    db.session.execute(delete(WishlistShare).where(WishlistShare.user_id == user_id))
    key = None
    if shared:
        key = secrets.token_urlsafe(SHARE_KEY_BYTES)
        db.session.execute(insert(WishlistShare).from_select(
            ["user_id", "key_hash", "created_at"],
            select(literal(user_id), literal(hash_key(key)),
                   literal(utcnow(), WishlistShare.created_at.type))
            .where(User.id == user_id)))
    db.session.commit()
    return key


def get_shared(key: str) -> SharedWishlist:
    """The wishlist a share key names, with its owner's first name only; `NotFound` for a key
    that names none (never shared, turned off, or replaced). One query."""
    if not key or len(key) > SHARE_KEY_MAX_CHARS:
        raise NotFound("shared wishlist")
    key_hash = hash_key(key)
    rls.find_by_share_key(key_hash)
    rows = db.session.execute(
        select(Profile.first_name, WishlistItem.quantity, WishlistItem.added_at, Product)
        .select_from(WishlistShare)
        .join(Profile, Profile.user_id == WishlistShare.user_id)
        .outerjoin(WishlistItem, WishlistItem.user_id == WishlistShare.user_id)
        .outerjoin(Product, and_(Product.id == WishlistItem.product_id, Product.active))
        .where(WishlistShare.key_hash == key_hash)
        .order_by(WishlistItem.added_at, WishlistItem.product_id)
    ).all()
    if not rows:
        raise NotFound("shared wishlist")
    items = [WishItem(row.Product, row.quantity, row.added_at)
             for row in rows if row.Product is not None]
    return SharedWishlist(rows[0].first_name, items)
