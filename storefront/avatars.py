"""Profile pictures: an upload goes through the image service (storefront/media.py: allow-list,
bomb check, metadata stripped, square WebP at `AVATAR_SIZES`, a random name) and its key is
kept in `users.avatar_key`. Files of a replaced or removed picture are deleted once the
change is committed; the new files of a change that failed are deleted too."""

from __future__ import annotations

from sqlalchemy import select, update

from storefront import media
from storefront.database import begin_write, db
from storefront.exceptions import NotFound
from storefront.models import User


def _swap(user_id: int, key: str | None) -> str | None:
    """Set the account's avatar key in one write transaction; the key it had."""
    begin_write()
    old = db.session.execute(
        select(User.id, User.avatar_key).where(User.id == user_id).with_for_update()
    ).first()
    if old is None:
        db.session.rollback()
        raise NotFound(f"user {user_id}")
    if old.avatar_key != key:  # removing no picture writes nothing
        db.session.execute(update(User).where(User.id == user_id).values(avatar_key=key))
    db.session.commit()
    return old.avatar_key


def set_avatar(user_id: int, data: bytes) -> str:
    """Check and store a new profile picture, replacing the old one (whose files go).
    Raises `ImageRefused` (nothing stored) with a reason for the uploader."""
    key = media.store_avatar(data)
    try:
        old = _swap(user_id, key)
    except BaseException:
        media.delete_avatar(key)
        raise
    if old:
        media.delete_avatar(old)
    return key


def remove_avatar(user_id: int) -> bool:
    """Remove the profile picture and its files; False if there was none."""
    old = _swap(user_id, None)
    if old:
        media.delete_avatar(old)
    return old is not None


def avatar_url_path(key: str | None, size: int) -> str | None:
    return None if key is None else media.file_name(key, size)
