"""The carts service: the guest cart's rules, atomic saved-cart changes, the merge rules and
its facts, cleanup."""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select, update

from storefront import accounts, carts, events
from storefront.carts import MergeOutcome, MergeStatus
from storefront.exceptions import CartFull, NotFound, NotInCart, SoldOut
from storefront.extensions import db
from storefront.models import REMEMBER_SESSION_DAYS, CartMerge, Event, Product, UserCart, utcnow
from tests.factories import make_product, make_products, make_user
from tests.support import PASSWORD, count_rows


def saved(user_id: int) -> dict[int, int]:
    db.session.rollback()
    return dict(db.session.execute(
        select(UserCart.product_id, UserCart.quantity).where(UserCart.user_id == user_id)
    ).all())


def guest(lines: dict, token: str = "guest-token-1") -> carts.GuestCart:
    return carts.GuestCart(token, lines)


# The rules both carts follow ------------------------------------------------------------------

@pytest.mark.parametrize(("wanted", "stock", "holds"), [
    (3, 10, 3), (12, 10, 10), (120, 500, 99), (3, 0, 0), (0, 10, 0),
], ids=["as_wanted", "capped_at_stock", "capped_at_99", "out_of_stock", "none_wanted"])
def test_a_line_holds_the_least_of_wanted_stock_and_99(wanted, stock, holds):
    assert carts.cap_quantity(wanted, stock) == holds


def test_a_product_not_found_is_named_by_its_id(app):
    hidden = make_product(active=False)
    for product_id in (hidden.id, 999_999):
        with pytest.raises(NotFound) as refused:
            carts.get_active_product(product_id)
        assert refused.value.args == (f"product {product_id}",)


# The guest cart's rules (pure: lines in, new lines out) -----------------------------------------

def test_guest_add_puts_a_new_product_last_and_sums_an_existing_line_in_place(app):
    first, second = make_product(stock=10), make_product(stock=10)
    lines = {second.id: 1}
    grown, result = carts.add_to_guest_lines(lines, first.id, 2)
    assert list(grown.items()) == [(second.id, 1), (first.id, 2)]
    assert (result.quantity, result.capped) == (2, False)
    summed, result = carts.add_to_guest_lines(grown, second.id, 3)
    assert list(summed.items()) == [(second.id, 4), (first.id, 2)]
    assert (result.quantity, result.capped) == (4, False)
    assert lines == {second.id: 1}  # the lines handed in are left as they were


def test_guest_add_caps_at_stock_and_says_so(app):
    kettle = make_product(name="Kettle", stock=3)
    lines, result = carts.add_to_guest_lines({kettle.id: 2}, kettle.id, 2)
    assert lines == {kettle.id: 3}
    assert (result.product.name, result.quantity, result.capped) == ("Kettle", 3, True)


def test_guest_add_reaches_exactly_99_per_line(app):
    product = make_product(stock=500)
    lines, _ = carts.add_to_guest_lines({}, product.id, 60)
    lines, result = carts.add_to_guest_lines(lines, product.id, 60)
    assert lines == {product.id: 99}
    assert (result.quantity, result.capped) == (99, True)
    exact, result = carts.add_to_guest_lines({}, product.id, 99)
    assert exact == {product.id: 99} and not result.capped


def test_guest_add_refuses_sold_out_inactive_and_unknown_products(app):
    sold_out, hidden = make_product(name="Gone Tea", stock=0), make_product(active=False)
    with pytest.raises(SoldOut) as refused:
        carts.add_to_guest_lines({}, sold_out.id, 1)
    assert refused.value.product_name == "Gone Tea"
    for product_id in (hidden.id, 999_999, 2**31, 0, -1):
        with pytest.raises(NotFound):
            carts.add_to_guest_lines({}, product_id, 1)


def test_guest_51st_line_is_cart_full_but_existing_lines_still_grow(app):
    products = make_products(51)
    lines = {product.id: 1 for product in products[:50]}
    with pytest.raises(CartFull) as refused:
        carts.add_to_guest_lines(lines, products[50].id, 1)
    assert refused.value.max_lines == 50
    grown, result = carts.add_to_guest_lines(lines, products[0].id, 1)
    assert result.quantity == 2 and len(grown) == 50
    assert list(grown)[0] == products[0].id  # summed in its place


def test_guest_set_quantity_caps_keeps_the_place_and_zero_removes(app):
    tea, mug = make_product(stock=6), make_product(stock=500)
    lines = {tea.id: 1, mug.id: 1}
    changed, result = carts.set_guest_quantity(lines, tea.id, 9)
    assert list(changed.items()) == [(tea.id, 6), (mug.id, 1)]
    assert (result.quantity, result.capped) == (6, True)
    changed, result = carts.set_guest_quantity(lines, mug.id, 99)
    assert changed[mug.id] == 99 and not result.capped
    removed, result = carts.set_guest_quantity(lines, tea.id, 0)
    assert removed == {mug.id: 1} and result is None
    assert lines == {tea.id: 1, mug.id: 1}


def test_guest_set_quantity_refuses_missing_unknown_and_sold_out_lines(app):
    tea, other = make_product(name="Tea"), make_product(name="Other")
    sold_out = make_product(name="Empty", stock=0)
    lines = {tea.id: 1, sold_out.id: 2}
    with pytest.raises(NotInCart) as refused:
        carts.set_guest_quantity(lines, other.id, 2)
    assert refused.value.args == ("Other",)
    with pytest.raises(NotFound):
        carts.set_guest_quantity(lines, 999_999, 2)
    with pytest.raises(SoldOut):
        carts.set_guest_quantity(lines, sold_out.id, 1)
    removed, _ = carts.set_guest_quantity(lines, sold_out.id, 0)  # a sold-out line can go
    assert removed == {tea.id: 1}


def test_guest_remove_keeps_the_order_and_refuses_what_the_cart_does_not_hold(app):
    first, second, third, other = make_products(4)
    lines = {third.id: 1, first.id: 2, second.id: 3}
    assert list(carts.remove_from_guest_lines(lines, first.id).items()) == [
        (third.id, 1), (second.id, 3)]
    with pytest.raises(NotInCart):
        carts.remove_from_guest_lines(lines, other.id)
    with pytest.raises(NotFound):
        carts.remove_from_guest_lines(lines, 999_999)
    assert lines == {third.id: 1, first.id: 2, second.id: 3}


def test_guest_view_and_count_leave_out_sold_out_and_withdrawn_lines(app):
    tea = make_product(price="4.50", stock=10)
    empty, hidden = make_product(price="7.00", stock=0), make_product(price="9.00", active=False)
    lines = {empty.id: 1, tea.id: 2, hidden.id: 3, 999_999: 4}
    view = carts.view_of(lines)
    assert [line.product.id for line in view.lines] == [empty.id, tea.id, hidden.id]
    assert (view.subtotal, view.count) == (Decimal("9.00"), 2)
    assert [line.product.id for line in view.withdrawn] == [hidden.id]
    assert carts.count_of(lines) == 2


def test_guest_count_includes_a_product_down_to_its_last_unit(app):
    last = make_product(stock=1)
    assert carts.count_of({last.id: 1}) == 1


def test_guest_count_reads_only_the_carts_own_products(app, count_queries):
    """The header's count is read on every page: it must not read the whole catalog."""
    tea, mug = make_product(stock=5), make_product(stock=5)
    make_products(3, stock=5)
    with count_queries() as statements:
        assert carts.count_of({tea.id: 2, mug.id: 1}) == 3
    assert len(statements) == 1 and "products.id IN" in statements[0], statements


def test_a_guest_count_read_late_with_no_statement_meanwhile_costs_one_statement(
        app, count_queries):
    """A page with no query of its own (a 404): the read that was to ride with that query
    goes alone when the header asks for the count, and nothing else is read."""
    tea, mug = make_product(stock=5), make_product(stock=5)
    with count_queries() as statements:
        count = carts.count_of_later({tea.id: 2, mug.id: 1})
        assert count() == 3
    assert len(statements) == 1, statements


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


def test_set_quantity_says_whether_the_line_was_capped(app):
    user, product = make_user(), make_product(stock=6)
    carts.add_to_saved_cart(user.id, product.id, 1)
    result = carts.set_saved_quantity(user.id, product.id, 9)
    assert (result.quantity, result.capped) == (6, True)
    result = carts.set_saved_quantity(user.id, product.id, 6)  # exactly the stock
    assert (result.quantity, result.capped) == (6, False)


def test_set_quantity_caps_at_99_per_line(app):
    user, product = make_user(), make_product(stock=500)
    carts.add_to_saved_cart(user.id, product.id, 1)
    result = carts.set_saved_quantity(user.id, product.id, 120)
    assert (result.quantity, result.capped) == (99, True)
    assert saved(user.id) == {product.id: 99}


def test_set_quantity_of_a_product_down_to_its_last_unit_sets_it_to_one(app):
    user, product = make_user(), make_product(stock=5)
    carts.add_to_saved_cart(user.id, product.id, 2)
    db.session.execute(update(Product).where(Product.id == product.id).values(stock=1))
    db.session.commit()
    result = carts.set_saved_quantity(user.id, product.id, 3)
    assert (result.quantity, result.capped) == (1, True)
    assert saved(user.id) == {product.id: 1}


def test_set_quantity_of_a_line_not_in_the_cart_names_the_product(app):
    user, tea, other = make_user(), make_product(name="Tea"), make_product(name="Other")
    carts.add_to_saved_cart(user.id, tea.id, 1)
    with pytest.raises(NotInCart) as refused:
        carts.set_saved_quantity(user.id, other.id, 2)
    assert refused.value.args == ("Other",)


def test_setting_a_quantity_touches_only_the_shoppers_own_line(app):
    ada, bob = make_user("ada@example.com"), make_user("bob@example.com")
    tea, mug = make_product(), make_product()
    carts.add_to_saved_cart(ada.id, tea.id, 1)
    carts.add_to_saved_cart(ada.id, mug.id, 1)
    carts.add_to_saved_cart(bob.id, tea.id, 1)
    carts.set_saved_quantity(ada.id, tea.id, 5)
    assert saved(ada.id) == {tea.id: 5, mug.id: 1} and saved(bob.id) == {tea.id: 1}
    assert carts.set_saved_quantity(ada.id, tea.id, 0) is None
    assert saved(ada.id) == {mug.id: 1} and saved(bob.id) == {tea.id: 1}


def test_removing_a_saved_line_removes_it_and_a_second_time_is_not_in_cart(app):
    user, tea, mug = make_user(), make_product(name="Tea"), make_product()
    carts.add_to_saved_cart(user.id, tea.id, 1)
    carts.add_to_saved_cart(user.id, mug.id, 1)
    carts.remove_from_saved_cart(user.id, tea.id)
    assert saved(user.id) == {mug.id: 1}
    with pytest.raises(NotInCart) as refused:
        carts.remove_from_saved_cart(user.id, tea.id)
    assert refused.value.args == ("Tea",)
    assert saved(user.id) == {mug.id: 1}


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


def saved_order(user_id: int) -> list[int]:
    db.session.rollback()
    return [line.product.id for line in carts.get_saved_cart(user_id).lines]


def test_saved_lines_keep_the_order_they_were_first_added(app):
    user = make_user()
    a, b, c = make_products(3, stock=50)  # ids in the order a < b < c
    for product in (c, a, b):
        carts.add_to_saved_cart(user.id, product.id, 1)
    assert saved_order(user.id) == [c.id, a.id, b.id]
    carts.set_saved_quantity(user.id, a.id, 5)
    carts.add_to_saved_cart(user.id, c.id, 2)
    assert saved_order(user.id) == [c.id, a.id, b.id]
    assert saved(user.id) == {c.id: 3, a.id: 5, b.id: 1}


def test_saved_lines_added_at_the_same_moment_come_in_product_order(app):
    """Two tabs adding at once can stamp lines alike: the product's id decides then, not
    where the rows happen to lie (a restock rewrites a product's row, which on PostgreSQL
    moves it after the others)."""
    user = make_user()
    a, b, c = make_products(3)  # ids in the order a < b < c
    for product in (c, a, b):
        carts.add_to_saved_cart(user.id, product.id, 1)
    db.session.execute(update(Product).where(Product.id == a.id).values(stock=30))
    db.session.execute(update(UserCart).values(added_at=utcnow()))
    db.session.commit()
    assert saved_order(user.id) == [a.id, b.id, c.id]


def test_the_sql_guard_alone_refuses_a_51st_saved_line(app, monkeypatch):
    """With the Python pre-check gone, the INSERT's own condition still keeps the cap."""
    user = make_user()
    products = make_products(51)
    for product in products[:50]:
        carts.add_to_saved_cart(user.id, product.id, 1)
    monkeypatch.setattr(carts, "_check_room", lambda *args: None)
    with pytest.raises(CartFull):
        carts.add_to_saved_cart(user.id, products[50].id, 1)
    assert len(saved(user.id)) == 50 and products[50].id not in saved(user.id)
    assert carts.add_to_saved_cart(user.id, products[0].id, 1).quantity == 2


def test_saved_view_and_count_leave_out_sold_out_and_withdrawn_lines(app):
    user = make_user()
    tea = make_product(price="4.50", stock=10)
    empty, hidden = make_product(price="7.00", stock=5), make_product(price="9.00")
    for product, quantity in ((empty, 1), (tea, 2), (hidden, 3)):
        carts.add_to_saved_cart(user.id, product.id, quantity)
    db.session.execute(update(Product).where(Product.id == empty.id).values(stock=0))
    db.session.execute(update(Product).where(Product.id == hidden.id).values(active=False))
    db.session.commit()
    view = carts.get_saved_cart(user.id)
    assert [line.product.id for line in view.lines] == [empty.id, tea.id, hidden.id]
    assert (view.subtotal, view.count) == (Decimal("9.00"), 2)
    assert [line.product.id for line in view.withdrawn] == [hidden.id]
    assert carts.count_saved_cart(user.id) == 2


def test_removing_withdrawn_lines_spares_lines_sold_again_and_other_carts(app):
    ada, bob = make_user("ada@example.com"), make_user("bob@example.com")
    hidden, back, fine = make_products(3)
    for product in (hidden, back, fine):
        carts.add_to_saved_cart(ada.id, product.id, 1)
    carts.add_to_saved_cart(bob.id, hidden.id, 1)
    db.session.execute(update(Product).where(Product.id == hidden.id).values(active=False))
    db.session.commit()
    # `back` was withdrawn when the page read the cart and is sold again by the time it writes.
    assert carts.remove_withdrawn_saved_lines(ada.id, [hidden.id, back.id]) == 1
    assert saved(ada.id) == {back.id: 1, fine.id: 1}
    assert saved(bob.id) == {hidden.id: 1}


def test_removing_withdrawn_lines_removes_only_the_lines_named(app):
    """A line withdrawn after the page read the cart stays until a page names it to the
    shopper: nothing leaves the cart unannounced."""
    user = make_user()
    named, later = make_products(2)
    for product in (named, later):
        carts.add_to_saved_cart(user.id, product.id, 1)
    db.session.execute(update(Product).values(active=False))
    db.session.commit()
    assert carts.remove_withdrawn_saved_lines(user.id, [named.id]) == 1
    assert saved(user.id) == {later.id: 1}


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
    assert [line.product_id for line in result.lines] == [ok.id, hidden.id, empty.id, 777_777]


def test_merge_drops_new_lines_past_fifty(app):
    user = make_user()
    products = make_products(52)
    for product in products[:49]:
        carts.add_to_saved_cart(user.id, product.id, 1)
    result = merge(user.id, guest({products[0].id: 1, products[49].id: 1, products[50].id: 1}))
    assert len(saved(user.id)) == 50
    assert saved(user.id)[products[0].id] == 2
    assert [(line.product_id, line.outcome) for line in result.lines] == [
        (products[0].id, MergeOutcome.SUMMED), (products[49].id, MergeOutcome.ADDED),
        (products[50].id, MergeOutcome.DROPPED_CART_FULL)]


def test_merge_sums_only_with_the_shoppers_own_saved_line(app):
    ada, bob = make_user("ada@example.com"), make_user("bob@example.com")
    tea, mug = make_product(name="Tea", stock=10), make_product(name="Mug", stock=10)
    carts.add_to_saved_cart(ada.id, mug.id, 2)
    carts.add_to_saved_cart(bob.id, mug.id, 3)
    carts.add_to_saved_cart(bob.id, tea.id, 4)
    result = merge(ada.id, guest({tea.id: 1, mug.id: 1}))
    assert [(line.product_name, line.outcome, line.saved, line.final)
            for line in result.lines] == [
        ("Tea", MergeOutcome.ADDED, 0, 1), ("Mug", MergeOutcome.SUMMED, 2, 3)]
    assert saved(ada.id) == {tea.id: 1, mug.id: 3} and saved(bob.id) == {tea.id: 4, mug.id: 3}


def test_merge_of_the_same_guest_cart_happens_once(app):
    user, product = make_user(), make_product()
    first = merge(user.id, guest({product.id: 2}))
    again = merge(user.id, guest({product.id: 2}))
    assert (first.status, again.status) == (MergeStatus.MERGED, MergeStatus.ALREADY_MERGED)
    assert saved(user.id) == {product.id: 2}
    assert db.session.scalar(select(func.count()).select_from(CartMerge)) == 1


def test_a_replayed_guest_cart_still_counts_the_lines_it_brought(app):
    user, tea, mug = make_user(), make_product(), make_product()
    merge(user.id, guest({tea.id: 1, mug.id: 2}))
    again = merge(user.id, guest({tea.id: 1, mug.id: 2}))
    assert (again.status, again.lines, again.lines_in) == (MergeStatus.ALREADY_MERGED, (), 2)


def test_a_merge_is_recorded_for_its_shopper(app):
    user, tea = make_user(), make_product()
    merge(user.id, guest({tea.id: 1}))
    assert db.session.execute(
        select(Event.ok, Event.user_id, Event.lines_merged).where(Event.kind == "cart_merge")
    ).all() == [(True, user.id, 1)]


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


def test_merge_of_60_saved_and_60_guest_reaches_exactly_99(app):
    user, product = make_user(), make_product(stock=500)
    carts.add_to_saved_cart(user.id, product.id, 60)
    result = merge(user.id, guest({product.id: 60}))
    assert saved(user.id) == {product.id: 99}
    assert [(line.outcome, line.saved, line.guest, line.final, line.stock)
            for line in result.lines] == [(MergeOutcome.CAPPED_AT_LINE_MAX, 60, 60, 99, 500)]


def test_merge_of_a_new_guest_line_of_99_adds_all_99(app):
    user, product = make_user(), make_product(stock=500)
    result = merge(user.id, guest({product.id: 99}))
    assert saved(user.id) == {product.id: 99}
    assert [(line.outcome, line.final) for line in result.lines] == [(MergeOutcome.ADDED, 99)]


def test_merge_facts_of_every_outcome(app):
    """(outcome, saved before, from the guest, saved after, stock) for each kind of line."""
    user = make_user()
    summed, at_stock = make_product(name="Summed", stock=10), make_product(name="AtStock", stock=5)
    at_max, hidden = make_product(name="AtMax", stock=500), make_product(name="Hidden")
    empty, added = make_product(name="Empty", stock=5), make_product(name="Added", stock=10)
    full = make_product(name="Full", stock=10)
    for product, quantity in ((summed, 2), (at_stock, 3), (at_max, 60), (hidden, 2), (empty, 1)):
        carts.add_to_saved_cart(user.id, product.id, quantity)
    for filler in make_products(44):  # 49 saved lines: room for one new line
        carts.add_to_saved_cart(user.id, filler.id, 1)
    db.session.execute(update(Product).where(Product.id == hidden.id).values(active=False))
    db.session.execute(update(Product).where(Product.id == empty.id).values(stock=0))
    db.session.commit()

    result = merge(user.id, guest({
        summed.id: 3, at_stock.id: 4, at_max.id: 60, hidden.id: 1, 777_777: 1, empty.id: 2,
        added.id: 2, full.id: 1,
    }))
    assert result.status is MergeStatus.MERGED
    assert [(line.product_name, line.outcome, line.saved, line.guest, line.final, line.stock)
            for line in result.lines] == [
        ("Summed", MergeOutcome.SUMMED, 2, 3, 5, 10),
        ("AtStock", MergeOutcome.CAPPED_AT_STOCK, 3, 4, 5, 5),
        ("AtMax", MergeOutcome.CAPPED_AT_LINE_MAX, 60, 60, 99, 500),
        ("Hidden", MergeOutcome.DROPPED_UNAVAILABLE, 2, 1, 2, 0),
        (None, MergeOutcome.DROPPED_UNAVAILABLE, 0, 1, 0, 0),
        ("Empty", MergeOutcome.DROPPED_SOLD_OUT, 1, 2, 1, 0),
        ("Added", MergeOutcome.ADDED, 0, 2, 2, 10),
        ("Full", MergeOutcome.DROPPED_CART_FULL, 0, 1, 0, 10),
    ]
    rows = saved(user.id)
    assert len(rows) == 50 and full.id not in rows
    for line in result.lines:  # "final" is what the saved cart holds now
        assert rows.get(line.product_id, 0) == line.final
    assert (result.lines_in, result.lines_kept) == (8, 4)
    assert (result.count(capped=True), result.count(dropped=True)) == (2, 4)


def test_merge_keeps_saved_lines_first_then_guest_lines_in_guest_order(app):
    user = make_user()
    p1, p2, p3, p4, p5 = make_products(5, stock=50)
    carts.add_to_saved_cart(user.id, p4.id, 1)
    carts.add_to_saved_cart(user.id, p2.id, 1)
    merge(user.id, guest({p5.id: 1, p2.id: 2, p1.id: 1, p3.id: 1}))
    # p2 summed into the saved line, which keeps its place.
    assert saved_order(user.id) == [p4.id, p2.id, p5.id, p1.id, p3.id]
    assert saved(user.id)[p2.id] == 3


# Adding lines within another write (the wishlist's move to the cart) ---------------------------

def test_adding_no_lines_reads_and_writes_nothing(app, count_queries):
    user = make_user()
    with count_queries() as statements:
        added = carts.add_lines_within(user.id, {})
    assert added == carts.AddedLines((), frozenset())
    assert statements == []


def test_added_lines_keep_the_order_they_were_given(app):
    user = make_user()
    a, b, c = make_products(3, stock=50)  # ids in the order a < b < c
    added = carts.add_lines_within(user.id, {c.id: 1, a.id: 2, b.id: 3})
    db.session.commit()
    assert added.written == {a.id, b.id, c.id}
    assert saved_order(user.id) == [c.id, a.id, b.id]


def test_adding_lines_that_are_all_dropped_writes_nothing(app):
    user = make_user()
    empty, hidden = make_product(stock=0), make_product(active=False)
    added = carts.add_lines_within(user.id, {empty.id: 1, hidden.id: 2})
    db.session.commit()
    assert [line.outcome for line in added.lines] == [
        MergeOutcome.DROPPED_SOLD_OUT, MergeOutcome.DROPPED_UNAVAILABLE]
    assert added.written == frozenset()
    assert saved(user.id) == {}


def break_the_line_check(monkeypatch) -> None:  # noqa: ANN001
    """Plant a fault the database catches: the merge's upsert writes a quantity of 100, which
    the CHECK on user_carts refuses, after the cart_merges row was inserted."""
    monkeypatch.setattr(carts, "cap_quantity", lambda requested, stock: 100)


def test_merge_failing_inside_the_database_rolls_back_to_its_savepoint(app, monkeypatch):
    user, product = make_user(), make_product()
    break_the_line_check(monkeypatch)
    signed = accounts.sign_in(user.email, PASSWORD, guest_cart=guest({product.id: 1}))
    monkeypatch.undo()
    assert signed.merge.failed
    db.session.rollback()
    assert accounts.load_session(signed.token) is not None
    assert saved(user.id) == {}
    assert db.session.scalar(select(func.count()).select_from(CartMerge)) == 0
    failure = db.session.scalar(select(Event).where(Event.kind == "cart_merge"))
    assert (failure.ok, failure.detail) == (False, "error=IntegrityError")


def test_merge_success_rate_counts_failed_merges(app, monkeypatch):
    user = make_user()
    first, second, third = make_products(3)
    merge(user.id, guest({first.id: 1}, "first-visit"))
    merge(user.id, guest({second.id: 1}, "second-visit"))
    break_the_line_check(monkeypatch)
    assert carts.merge_safely(user.id, guest({third.id: 1}, "third-visit")).failed
    db.session.commit()
    monkeypatch.undo()
    report = events.build_report(30)
    assert (report.cart_merges_attempted, report.cart_merges_succeeded,
            report.cart_merges_failed) == (3, 2, 1)
    assert report.cart_merge_success_rate == round(2 / 3, 4)


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


def test_cleanup_deletes_in_short_batches_until_nothing_is_left(app, monkeypatch, count_queries):
    monkeypatch.setattr(carts, "CLEANUP_BATCH_ROWS", 3)
    products = [make_product() for _ in range(7)]
    users = [make_user(f"u{number}@example.com") for number in range(2)]
    for user in users:
        for product in products:
            carts.add_to_saved_cart(user.id, product.id, 1)
    db.session.execute(update(UserCart).values(updated_at=utcnow() - timedelta(days=100)))
    db.session.commit()
    with count_queries() as statements:
        done = carts.cleanup()
    assert done.stale_lines == 14
    deletes = [statement for statement in statements if statement.startswith("DELETE FROM user_carts")]
    assert len(deletes) == 1 + 5  # no inactive line: one look; 14 stale lines: 3+3+3+3+2
    assert count_rows(UserCart) == 0


def test_cleanup_counts_a_stale_line_of_an_inactive_product_once_as_inactive(app):
    user, retired = make_user(), make_product()
    carts.add_to_saved_cart(user.id, retired.id, 1)
    db.session.execute(update(UserCart).values(updated_at=utcnow() - timedelta(days=120)))
    db.session.execute(update(Product).values(active=False))
    db.session.commit()
    preview = carts.cleanup(dry_run=True)
    assert (preview.inactive_lines, preview.stale_lines) == (1, 0)
    done = carts.cleanup()
    assert (done.inactive_lines, done.stale_lines) == (1, 0)


def test_cleanup_result_says_whether_it_only_counted(app):
    assert carts.cleanup(dry_run=True).dry_run is True
    assert carts.cleanup().dry_run is False


def test_a_line_whose_quantity_was_set_counts_as_touched(app):
    user, tea = make_user(), make_product()
    carts.add_to_saved_cart(user.id, tea.id, 1)
    db.session.execute(update(UserCart).values(updated_at=utcnow() - timedelta(days=120)))
    db.session.commit()
    carts.set_saved_quantity(user.id, tea.id, 3)
    assert carts.cleanup().stale_lines == 0
    assert saved(user.id) == {tea.id: 3}


def test_cleanup_keeps_a_line_untouched_for_exactly_the_given_days(app, monkeypatch):
    user, kept, gone = make_user(), make_product(), make_product()
    for product in (kept, gone):
        carts.add_to_saved_cart(user.id, product.id, 1)
    now = utcnow()
    for product, age in ((kept, timedelta(days=10)), (gone, timedelta(days=10, microseconds=1))):
        db.session.execute(update(UserCart).where(UserCart.product_id == product.id)
                           .values(updated_at=now - age))
    db.session.commit()
    monkeypatch.setattr(carts, "utcnow", lambda: now)  # cleanup runs at `now` exactly
    assert carts.cleanup(days=10).stale_lines == 1
    assert saved(user.id) == {kept.id: 1}


def test_cleanup_keeps_merge_records_up_to_30_days_old_so_their_carts_still_merge_once(
        app, monkeypatch):
    user, tea = make_user(), make_product()
    ages = {"fresh": timedelta(days=1), "thirty-days": timedelta(days=REMEMBER_SESSION_DAYS),
            "older": timedelta(days=REMEMBER_SESSION_DAYS, microseconds=1)}
    for token in ages:
        merge(user.id, guest({tea.id: 1}, token))
    now = utcnow()
    for token, age in ages.items():
        db.session.execute(update(CartMerge).where(CartMerge.guest_token == token)
                           .values(merged_at=now - age))
    db.session.commit()
    monkeypatch.setattr(carts, "utcnow", lambda: now)  # cleanup runs at `now` exactly
    assert carts.cleanup().old_merges == 1
    monkeypatch.undo()
    for token in ("fresh", "thirty-days"):  # a replayed cookie still adds nothing
        assert merge(user.id, guest({tea.id: 1}, token)).status is MergeStatus.ALREADY_MERGED
    assert saved(user.id) == {tea.id: 3}
