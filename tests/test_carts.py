"""The carts service: atomic saved-cart changes, the merge rules, cleanup."""

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from storefront import accounts, carts, events
from storefront.carts import MergeOutcome, MergeStatus
from storefront.exceptions import CartFull, NotFound, NotInCart, SoldOut
from storefront.extensions import db
from storefront.models import CartMerge, Event, Product, UserCart, utcnow
from tests.factories import make_product, make_products, make_user
from tests.support import PASSWORD


def saved(user_id: int) -> dict[int, int]:
    db.session.rollback()
    return dict(db.session.execute(
        select(UserCart.product_id, UserCart.quantity).where(UserCart.user_id == user_id)
    ).all())


def guest(lines: dict, token: str = "guest-token-1") -> carts.GuestCart:
    return carts.GuestCart(token, lines)


# Saved cart ---------------------------------------------------------------------------------

def test_add_creates_then_sums_a_line(app):
    user, product = make_user(), make_product(stock=10)
    assert carts.add_to_saved_cart(user.id, product.id, 2).quantity == 2
    result = carts.add_to_saved_cart(user.id, product.id, 3)
    assert (result.quantity, result.capped) == (5, False)
    assert saved(user.id) == {product.id: 5}


def test_add_caps_at_stock_and_says_so(app):
    user, product = make_user(), make_product(stock=4)
    carts.add_to_saved_cart(user.id, product.id, 3)
    result = carts.add_to_saved_cart(user.id, product.id, 3)
    assert (result.quantity, result.capped) == (4, True)


def test_add_caps_at_99_per_line(app):
    user, product = make_user(), make_product(stock=500)
    carts.add_to_saved_cart(user.id, product.id, 60)
    assert carts.add_to_saved_cart(user.id, product.id, 60).quantity == 99


def test_sold_out_inactive_and_unknown_products_are_refused(app):
    user = make_user()
    sold_out, hidden = make_product(stock=0), make_product(active=False)
    with pytest.raises(SoldOut):
        carts.add_to_saved_cart(user.id, sold_out.id, 1)
    for product_id in (hidden.id, 999_999, 2**31, -1):
        with pytest.raises(NotFound):
            carts.add_to_saved_cart(user.id, product_id, 1)
    assert saved(user.id) == {}


def test_a_51st_line_is_refused_but_existing_lines_still_grow(app):
    user = make_user()
    products = make_products(51)
    for product in products[:50]:
        carts.add_to_saved_cart(user.id, product.id, 1)
    with pytest.raises(CartFull):
        carts.add_to_saved_cart(user.id, products[50].id, 1)
    assert carts.add_to_saved_cart(user.id, products[0].id, 1).quantity == 2
    assert len(saved(user.id)) == 50


def test_set_quantity_caps_removes_and_refuses_missing_lines(app):
    user, product, other = make_user(), make_product(stock=6), make_product()
    carts.add_to_saved_cart(user.id, product.id, 1)
    assert carts.set_saved_quantity(user.id, product.id, 9).quantity == 6
    assert carts.set_saved_quantity(user.id, product.id, 0) is None
    with pytest.raises(NotInCart):
        carts.set_saved_quantity(user.id, other.id, 2)
    assert saved(user.id) == {}


def test_concurrent_adds_never_lose_an_increment(app):
    """40 simultaneous adds of one unit give quantity 40."""
    user, product = make_user(), make_product(stock=80)
    barrier = threading.Barrier(40)
    errors: list[BaseException] = []

    def add_one() -> None:
        with app.app_context():
            barrier.wait()
            try:
                carts.add_to_saved_cart(user.id, product.id, 1)
            except BaseException as error:  # noqa: BLE001 - reported below
                errors.append(error)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=add_one) for _ in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert saved(user.id) == {product.id: 40}


def test_lines_of_two_shoppers_never_mix(app):
    ada, bob = make_user("ada@example.com"), make_user("bob@example.com")
    tea, mug = make_product(), make_product()
    carts.add_to_saved_cart(ada.id, tea.id, 1)
    carts.add_to_saved_cart(bob.id, mug.id, 2)
    carts.clear_saved_cart(ada.id)
    assert saved(ada.id) == {} and saved(bob.id) == {mug.id: 2}
    assert [line.product.id for line in carts.get_saved_cart(bob.id).lines] == [mug.id]


# The merge ------------------------------------------------------------------------------------

def merge(user_id: int, cart: carts.GuestCart) -> carts.MergeResult:
    result = carts.merge_into_saved_cart(user_id, cart)
    db.session.commit()
    return result


def test_merge_sums_then_caps_at_stock(app):
    user = make_user()
    coffee, tea, kettle = make_product(name="Coffee", stock=10), make_product(name="Tea", stock=5), make_product(name="Kettle")
    carts.add_to_saved_cart(user.id, coffee.id, 2)
    carts.add_to_saved_cart(user.id, tea.id, 3)
    result = merge(user.id, guest({coffee.id: 1, tea.id: 4, kettle.id: 1}))
    assert saved(user.id) == {coffee.id: 3, tea.id: 5, kettle.id: 1}
    assert [(line.product_name, line.outcome, line.saved, line.guest, line.final)
            for line in result.lines] == [
        ("Coffee", MergeOutcome.SUMMED, 2, 1, 3),
        ("Tea", MergeOutcome.CAPPED_AT_STOCK, 3, 4, 5),
        ("Kettle", MergeOutcome.ADDED, 0, 1, 1)]


def test_merge_caps_at_99(app):
    user, product = make_user(), make_product(stock=1000)
    carts.add_to_saved_cart(user.id, product.id, 90)
    result = merge(user.id, guest({product.id: 20}))
    assert saved(user.id) == {product.id: 99}
    assert [(line.outcome, line.final) for line in result.lines] == [
        (MergeOutcome.CAPPED_AT_LINE_MAX, 99)]


def test_merge_drops_inactive_sold_out_and_gone_products(app):
    user = make_user()
    ok = make_product(name="Fine")
    hidden, empty = make_product(name="Hidden", active=False), make_product(name="Empty", stock=0)
    result = merge(user.id, guest({ok.id: 1, hidden.id: 1, empty.id: 2, 777_777: 3}))
    assert saved(user.id) == {ok.id: 1}
    assert [(line.product_name, line.outcome) for line in result.lines] == [
        ("Fine", MergeOutcome.ADDED), ("Hidden", MergeOutcome.DROPPED_UNAVAILABLE),
        ("Empty", MergeOutcome.DROPPED_SOLD_OUT), (None, MergeOutcome.DROPPED_UNAVAILABLE)]
    assert (result.lines_in, result.lines_kept, result.count(dropped=True)) == (4, 1, 3)


def test_merge_drops_new_lines_past_fifty(app):
    user = make_user()
    products = make_products(52)
    for product in products[:49]:
        carts.add_to_saved_cart(user.id, product.id, 1)
    result = merge(user.id, guest({products[0].id: 1, products[49].id: 1, products[50].id: 1}))
    assert len(saved(user.id)) == 50
    assert saved(user.id)[products[0].id] == 2
    assert [line.outcome for line in result.lines] == [
        MergeOutcome.SUMMED, MergeOutcome.ADDED, MergeOutcome.DROPPED_CART_FULL]


def test_merge_of_the_same_guest_cart_happens_once(app):
    user, product = make_user(), make_product()
    first = merge(user.id, guest({product.id: 2}))
    again = merge(user.id, guest({product.id: 2}))
    assert (first.status, again.status) == (MergeStatus.MERGED, MergeStatus.ALREADY_MERGED)
    assert saved(user.id) == {product.id: 2}
    assert db.session.scalar(select(func.count()).select_from(CartMerge)) == 1


def test_simultaneous_merges_of_one_guest_cart_merge_once(app):
    """The same guest cookie signing in twice at once (two tabs, a double submit)."""
    user, product = make_user(), make_product(stock=50)
    barrier = threading.Barrier(2)
    results: list[carts.MergeResult] = []

    def sign_in() -> None:
        with app.app_context():
            barrier.wait()
            try:
                results.append(accounts.sign_in(
                    user.email, PASSWORD, guest_cart=guest({product.id: 3}, "shared-token")
                ).merge)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=sign_in) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(result.status.value for result in results) == ["already_merged", "merged"]
    assert not any(result.failed for result in results)
    assert saved(user.id) == {product.id: 3}


@pytest.mark.parametrize("lines", [1, 50])
def test_merge_costs_the_same_statements_whatever_the_number_of_lines(app, count_queries, lines):
    user = make_user()
    products = make_products(lines)
    cart = guest({product.id: 1 for product in products})
    with count_queries() as statements:
        merge(user.id, cart)
    assert len(statements) == 4, statements
    assert len(saved(user.id)) == lines


def test_failed_merge_keeps_the_sign_in_and_records_the_failure(app, monkeypatch):
    user, product = make_user(), make_product()

    def broken(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise RuntimeError("merge exploded")

    monkeypatch.setattr(carts, "merge_into_saved_cart", broken)
    signed = accounts.sign_in(user.email, PASSWORD, guest_cart=guest({product.id: 1}))
    assert signed.merge.failed
    assert accounts.load_session(signed.token) is not None
    assert saved(user.id) == {}
    failure = db.session.scalar(select(Event).where(Event.kind == "cart_merge"))
    assert (failure.ok, failure.detail) == (False, "error=RuntimeError")


def test_merge_figures_reach_the_report(app):
    user = make_user()
    fine, short = make_product(stock=9), make_product(stock=1)
    carts.add_to_saved_cart(user.id, fine.id, 1)
    merge(user.id, guest({fine.id: 1, short.id: 3, 555_555: 1}))
    report = events.build_report(30)
    assert (report.cart_merges_attempted, report.cart_merges_succeeded) == (1, 1)
    assert report.cart_merge_success_rate == 1.0
    assert (report.cart_lines_merged, report.cart_lines_capped, report.cart_lines_dropped) == (2, 1, 1)


# Cleanup --------------------------------------------------------------------------------------

def test_cleanup_removes_stale_and_inactive_lines_and_old_merges(app):
    ada, bob = make_user("ada@example.com"), make_user("bob@example.com")
    fresh, old, retired = make_product(), make_product(), make_product()
    for product in (fresh, old, retired):
        carts.add_to_saved_cart(ada.id, product.id, 1)
    carts.add_to_saved_cart(bob.id, fresh.id, 1)
    merge(ada.id, guest({fresh.id: 1}, "old-merge"))
    long_ago = utcnow() - timedelta(days=120)
    db.session.execute(update(UserCart).where(UserCart.product_id == old.id).values(updated_at=long_ago))
    db.session.execute(update(Product).where(Product.id == retired.id).values(active=False))
    db.session.execute(update(CartMerge).values(merged_at=long_ago))
    db.session.commit()

    preview = carts.cleanup(dry_run=True)
    assert (preview.inactive_lines, preview.stale_lines, preview.old_merges) == (1, 1, 1)
    assert len(saved(ada.id)) == 3
    done = carts.cleanup()
    assert (done.inactive_lines, done.stale_lines, done.old_merges) == (1, 1, 1)
    assert saved(ada.id) == {fresh.id: 2} and saved(bob.id) == {fresh.id: 1}
    again = carts.cleanup()
    assert (again.inactive_lines, again.stale_lines, again.old_merges) == (0, 0, 0)
