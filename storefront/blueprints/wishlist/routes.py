"""The wishlist page and its actions (post/redirect/get with a flash), and the read-only
shared page. Every object is reached through current_user.id; an item the list does not hold
(another account's included) is a 404."""

from __future__ import annotations

from flask import flash, redirect, render_template, session, url_for
from flask_login import current_user, login_required

from storefront import carts, wishlist
from storefront.blueprints.wishlist import bp
from storefront.blueprints.wishlist.forms import MoveAllForm, ShareForm, WishForm, WishInputError
from storefront.blueprints.wishlist.pending import keep_pending_wish
from storefront.carts import MergedLine, MergeOutcome
from storefront.exceptions import WishlistFull
from storefront.models import CART_MAX_LINES, WISHLIST_MAX_ITEMS

SHARE_KEY_SESSION = "wishlist_share_key"  # the key just made, shown once on the next page


def _page(status: int = 200):  # noqa: ANN202
    listing = wishlist.get_wishlist(current_user.id)
    key = session.pop(SHARE_KEY_SESSION, None) if listing.shared else None
    share_url = url_for("wishlist.shared", key=key, _external=True) if key else None
    return render_template(
        "wishlist/view.html", wishlist=listing, share_form=ShareForm(shared=listing.shared),
        move_all_form=MoveAllForm(), share_url=share_url, max_items=WISHLIST_MAX_ITEMS,
    ), status


def _back():  # noqa: ANN202
    return redirect(url_for("wishlist.view"), 303)


@bp.errorhandler(WishInputError)
def refused(error: WishInputError):  # noqa: ANN201
    flash(str(error), "error")
    if not current_user.is_authenticated:
        return render_template("wishlist/refused.html"), 422
    return _page(422)


@bp.errorhandler(WishlistFull)
def full(_error: WishlistFull):  # noqa: ANN201
    flash(f"Your wishlist is full: it holds at most {WISHLIST_MAX_ITEMS} products.", "warning")
    return _back()


@bp.get("/account/wishlist")
@login_required
def view():  # noqa: ANN201
    return _page()


@bp.post("/wishlist/add")
def add():  # noqa: ANN201
    form = WishForm()
    product_id, quantity = form.parsed_product_id(), form.parsed_quantity()
    if not current_user.is_authenticated:
        product = carts.get_active_product(product_id)  # 404 for an unknown product
        keep_pending_wish(product_id, quantity)
        flash(f"Sign in to keep {product.name} on your wishlist: it is added as soon as you "
              "do.", "info")
        return redirect(url_for("auth.login", next=url_for("wishlist.view")), 303)
    added = wishlist.add_item(current_user.id, product_id, quantity)
    flash(f"{added.product.name} is on your wishlist ({added.quantity}).", "success")
    return _back()


@bp.post("/wishlist/remove")
@login_required
def remove():  # noqa: ANN201
    product_id = WishForm().parsed_product_id()
    wishlist.remove_item(current_user.id, product_id)
    flash("The product was taken off your wishlist.", "success")
    return _back()


def _words(line: MergedLine) -> str:
    """What happened to one item, for the receipt."""
    name = line.product_name or "A product"
    outcome = line.outcome
    if outcome is MergeOutcome.DROPPED_SOLD_OUT:
        return f"{name} is sold out: it stays on your wishlist"
    if outcome is MergeOutcome.DROPPED_UNAVAILABLE:
        return f"{name} is no longer sold: it stays on your wishlist"
    if outcome is MergeOutcome.DROPPED_CART_FULL:
        return (f"{name} did not fit: your cart holds at most {CART_MAX_LINES} products; "
                "it stays on your wishlist")
    if outcome.capped:
        return (f"{name}: your cart now has {line.final} (you wished for {line.guest}, "
                f"{'the stock' if outcome is MergeOutcome.CAPPED_AT_STOCK else 'a line'} "
                "allows no more)")
    return f"{name}: {line.guest} moved to your cart"


def _receipt(lines: tuple[MergedLine, ...]) -> None:
    if not lines:
        flash("Your wishlist is empty.", "info")
        return
    category = "success"
    if any(line.outcome.dropped or line.outcome.capped for line in lines):
        category = "warning"
    flash("; ".join(_words(line) for line in lines) + ".", category)


@bp.post("/wishlist/move-to-cart")
@login_required
def move_to_cart():  # noqa: ANN201
    product_id = WishForm().parsed_product_id()
    _receipt((wishlist.move_to_cart(current_user.id, product_id),))
    return _back()


@bp.post("/wishlist/move-all")
@login_required
def move_all():  # noqa: ANN201
    _receipt(wishlist.move_all_to_cart(current_user.id))
    return _back()


@bp.post("/account/wishlist/share")
@login_required
def share():  # noqa: ANN201
    form = ShareForm()
    key = wishlist.set_sharing(current_user.id, bool(form.shared.data))
    if key:
        session[SHARE_KEY_SESSION] = key
        flash("Your wishlist can be seen by anyone with its link. Links shared before no "
              "longer work.", "success")
    else:
        flash("Sharing is off: the link no longer works.", "success")
    return _back()


@bp.get("/wishlist/shared/<key>")
def shared(key: str):  # noqa: ANN201
    listing = wishlist.get_shared(key)
    response = render_template("wishlist/shared.html", shared=listing)
    return response, 200, {"X-Robots-Tag": "noindex", "Referrer-Policy": "no-referrer"}
