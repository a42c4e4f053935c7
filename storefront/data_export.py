"""A shopper's own data, as the shop holds it: one JSON-ready dict (the download) and the
counts of the same (the page's summary).

Built in one transaction that first locks the account's row for share (the cart, the
wishlist and orders lock it to change), so what it holds fits together; a constant number of
queries whatever the amount of data: one per kind of data."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from storefront.database import begin_write, db
from storefront.exceptions import NotFound
from storefront.models import (
    Address,
    Event,
    OAuthIdentity,
    Order,
    OrderLine,
    Passkey,
    Product,
    Profile,
    User,
    UserCart,
    UserSession,
    WishlistItem,
    WishlistShare,
)

ADDRESS_KEYS = ("full_name", "line1", "line2", "city", "postal_code", "region", "country",
                "phone", "default_shipping", "default_billing", "created_at", "updated_at")
ORDER_KEYS = ("number", "status", "payment_method", "payment_reference", "email", "currency",
              "subtotal", "shipping", "total", "placed_at", "updated_at")
ORDER_ADDRESS_KEYS = ("name", "line1", "line2", "city", "postal_code", "region", "country",
                      "phone")


def _plain(value: Any) -> Any:  # noqa: ANN401
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    return value


def _row(obj: object, keys: tuple[str, ...]) -> dict[str, Any]:
    return {key: _plain(getattr(obj, key)) for key in keys}


def export_account(user_id: int) -> dict[str, Any]:
    """Everything the shop holds about the account: profile, e-mail and its verification,
    picture, addresses, orders with lines, wishlist, saved cart, sessions (device and
    address), events, sign-in methods (passkeys and providers). `NotFound` if the account
    is gone."""
    begin_write()
    row = db.session.execute(
        select(User, Profile, WishlistShare.created_at.label("shared_since"))
        .join(Profile, Profile.user_id == User.id)
        .outerjoin(WishlistShare, WishlistShare.user_id == User.id)
        .where(User.id == user_id)
        .with_for_update(of=User, read=True)
    ).first()
    if row is None:
        db.session.rollback()
        raise NotFound(f"user {user_id}")
    user, profile = row.User, row.Profile
    addresses = db.session.scalars(
        select(Address).where(Address.user_id == user_id).order_by(Address.id)).all()
    orders = db.session.scalars(
        select(Order).where(Order.user_id == user_id).order_by(Order.placed_at, Order.id)).all()
    lines = db.session.scalars(
        select(OrderLine).join(Order, Order.id == OrderLine.order_id)
        .where(Order.user_id == user_id).order_by(OrderLine.order_id, OrderLine.id)).all()
    wished = db.session.execute(
        select(WishlistItem, Product.name, Product.sku)
        .join(Product, Product.id == WishlistItem.product_id)
        .where(WishlistItem.user_id == user_id)
        .order_by(WishlistItem.added_at, WishlistItem.product_id)).all()
    cart = db.session.execute(
        select(UserCart, Product.name, Product.sku)
        .join(Product, Product.id == UserCart.product_id)
        .where(UserCart.user_id == user_id)
        .order_by(UserCart.added_at, UserCart.product_id)).all()
    sessions = db.session.scalars(
        select(UserSession).where(UserSession.user_id == user_id)
        .order_by(UserSession.created_at, UserSession.id)).all()
    events = db.session.scalars(
        select(Event).where(Event.user_id == user_id).order_by(Event.created_at, Event.id)).all()
    keys = db.session.scalars(
        select(Passkey).where(Passkey.user_id == user_id).order_by(Passkey.id)).all()
    identities = db.session.scalars(
        select(OAuthIdentity).where(OAuthIdentity.user_id == user_id)
        .order_by(OAuthIdentity.id)).all()
    db.session.commit()

    lines_of: dict[int, list[dict[str, Any]]] = {}
    for line in lines:
        lines_of.setdefault(line.order_id, []).append({
            "product_id": line.product_id, "sku": line.sku, "name": line.name,
            "unit_price": _plain(line.unit_price), "quantity": line.quantity,
            "line_total": _plain(line.line_total)})
    return {
        "account": {
            "id": user.id, "email": user.email,
            "email_verified_at": _plain(user.email_verified_at),
            "created_at": _plain(user.created_at), "last_login_at": _plain(user.last_login_at),
            "avatar": user.avatar_key and f"{user.avatar_key}-256.webp",
        },
        "profile": {"first_name": profile.first_name, "last_name": profile.last_name,
                    "phone": profile.phone, "marketing_opt_in": profile.marketing_opt_in,
                    "updated_at": _plain(profile.updated_at)},
        "addresses": [_row(address, ADDRESS_KEYS) for address in addresses],
        "orders": [
            {**_row(order, ORDER_KEYS),
             "shipping_address": {key: getattr(order, f"ship_{key}")
                                  for key in ORDER_ADDRESS_KEYS},
             "billing_address": {key: getattr(order, f"bill_{key}")
                                 for key in ORDER_ADDRESS_KEYS},
             "lines": lines_of.get(order.id, [])}
            for order in orders
        ],
        "wishlist": {
            "shared_since": _plain(row.shared_since),
            "items": [{"product_id": item.WishlistItem.product_id, "name": item.name,
                       "sku": item.sku, "quantity": item.WishlistItem.quantity,
                       "added_at": _plain(item.WishlistItem.added_at)} for item in wished],
        },
        "saved_cart": [{"product_id": line.UserCart.product_id, "name": line.name,
                        "sku": line.sku, "quantity": line.UserCart.quantity,
                        "added_at": _plain(line.UserCart.added_at)} for line in cart],
        "sessions": [{"created_at": _plain(s.created_at), "last_seen_at": _plain(s.last_seen_at),
                      "expires_at": _plain(s.expires_at), "revoked_at": _plain(s.revoked_at),
                      "remember": s.remember, "user_agent": s.user_agent, "ip": s.ip}
                     for s in sessions],
        "events": [{"kind": event.kind, "ok": event.ok, "created_at": _plain(event.created_at),
                    "detail": event.detail} for event in events],
        # Issue 18: how the account signs in (no key material, no password hash).
        "sign_in_methods": {
            "password": user.password_hash is not None,
            "passkeys": [{"name": key.name, "created_at": _plain(key.created_at),
                          "last_used_at": _plain(key.last_used_at),
                          "transports": key.transports} for key in keys],
            "providers": [{"provider": identity.provider, "subject": identity.subject,
                           "email": identity.email, "created_at": _plain(identity.created_at),
                           "last_used_at": _plain(identity.last_used_at)}
                          for identity in identities],
        },
    }


def summarize(export: dict[str, Any]) -> dict[str, int]:
    """How many of each kind of data the export holds (the page's summary)."""
    return {
        "addresses": len(export["addresses"]),
        "orders": len(export["orders"]),
        "order_lines": sum(len(order["lines"]) for order in export["orders"]),
        "wishlist_items": len(export["wishlist"]["items"]),
        "saved_cart_lines": len(export["saved_cart"]),
        "sessions": len(export["sessions"]),
        "events": len(export["events"]),
    }
