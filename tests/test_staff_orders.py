"""The staff area's orders over HTTP: the list, the order page and its history, every status
change through the one state machine (with its mail, audit row and restock), impossible
changes, the CSV export, the dashboard's figures, and the shopper's view of tracking."""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal

import pytest
from sqlalchemy import select, update

from storefront.extensions import db
from storefront.models import AuditEvent, Order, OutboxMail, Product
from tests.checkout_support import add_address, place
from tests.factories import make_product
from tests.staff_support import SHOPPER_EMAIL, shopper_client, staff_client
from tests.support import PASSWORD, count_rows, field_errors, flashes

STATUS_OF = re.compile(r'class="panel wide admin-order" data-order-number="[^"]+" '
                       r'data-order-status="([a-z]+)"')


@pytest.fixture
def app_config(tmp_path) -> dict[str, object]:  # noqa: ANN001
    return {"MEDIA_ROOT": str(tmp_path / "media"), "RATELIMIT_ENABLED": False}


@pytest.fixture
def staff_browser(make_client):  # noqa: ANN001, ANN201
    return staff_client(make_client)


@pytest.fixture
def shopper(make_client):  # noqa: ANN001, ANN201
    client = shopper_client(make_client)
    client.address_id = add_address(client)
    return client


def buy(shopper, product: Product, quantity: int = 1,  # noqa: ANN001
        payment_method: str = "bank_transfer") -> str:
    """The shopper buys `quantity` of `product`; the order's number."""
    response = shopper.post_form("/cart/add", {"product_id": str(product.id),
                                               "quantity": str(quantity)})
    assert response.status_code == 303
    response = place(shopper, shopper.address_id, payment_method=payment_method)
    assert response.status_code == 303, response.get_data(as_text=True)
    db.session.rollback()
    return db.session.scalar(select(Order.number).order_by(Order.id.desc()).limit(1))


def fresh_order(number: str) -> Order:
    db.session.rollback()
    db.session.expire_all()
    return db.session.scalar(select(Order).where(Order.number == number))


def stock_of(product_id: int) -> int:
    db.session.rollback()
    db.session.expire_all()
    return db.session.scalar(select(Product.stock).where(Product.id == product_id))


def mails_of(number: str) -> list[OutboxMail]:
    db.session.rollback()
    return list(db.session.scalars(select(OutboxMail).where(
        OutboxMail.subject.contains(number)).order_by(OutboxMail.id)))


def order_audits(number: str) -> list[AuditEvent]:
    db.session.rollback()
    return list(db.session.scalars(select(AuditEvent).where(
        AuditEvent.object_type == "order", AuditEvent.object_id == number)
        .order_by(AuditEvent.id)))


def change(browser, number: str, status: str, **extra: str):  # noqa: ANN001, ANN201
    return browser.post_form(f"/admin/orders/{number}", {"status": status, **extra})


# The whole life of an order ----------------------------------------------------------------

def test_staff_mark_paid_ship_and_deliver_with_mail_audit_and_history(app, staff_browser,
                                                                       shopper):
    product = make_product(stock=5)
    number = buy(shopper, product, 2)
    placed_mails = len(mails_of(number))
    steps = [("paid", {}, "is paid"), ("shipped", {"tracking": "TRACK-123"}, "on its way"),
             ("delivered", {}, "was delivered")]
    for status, extra, subject in steps:
        response = change(staff_browser, number, status, **extra)
        assert response.status_code == 303, response.get_data(as_text=True)
        page = staff_browser.get(response.headers["Location"]).get_data(as_text=True)
        assert ("success", f"Order {number} was "
                f"{'marked ' if status != 'shipped' else ''}{status}. "
                "The shopper is told by e-mail.") in flashes(page)
        assert STATUS_OF.search(page).group(1) == status
        assert fresh_order(number).status == status
        assert subject in mails_of(number)[-1].subject
    order = fresh_order(number)
    assert order.tracking == "TRACK-123"
    mails = mails_of(number)[placed_mails:]
    assert len(mails) == 3
    assert all(mail.recipient == SHOPPER_EMAIL and mail.user_id is None for mail in mails)
    assert "Tracking reference: TRACK-123" in mails[1].body_text
    audits = order_audits(number)
    assert [(a.action, a.before, a.after) for a in audits] == [
        ("mark_paid", {"status": "placed"}, {"status": "paid"}),
        ("ship", {"status": "paid"}, {"status": "shipped", "tracking": "TRACK-123"}),
        ("deliver", {"status": "shipped"}, {"status": "delivered"})]
    assert {a.actor_email for a in audits} == {"staff@example.com"}
    page = staff_browser.page(f"/admin/orders/{number}")
    history = re.findall(r'data-history-status="([a-z]+)"', page)
    assert history == ["placed", "paid", "shipped", "delivered"]
    assert "staff@example.com · Shipped → Delivered" in page
    assert "tracking TRACK-123" in page
    assert stock_of(product.id) == 3
    # The shopper's order page shows the tracking reference.
    shopper_page = shopper.page(f"/account/orders/{number}")
    assert 'data-order-status="delivered"' in shopper_page
    assert "<dd data-tracking>TRACK-123</dd>" in shopper_page


def test_the_order_page_shows_lines_addresses_and_payment(app, staff_browser, shopper):
    product = make_product(name="Blue Teapot", stock=5)
    number = buy(shopper, product, 2)
    page = staff_browser.page(f"/admin/orders/{number}")
    assert 'data-quantity="2"' in page and "Blue Teapot" in page
    assert "10 Downing Street" in page and page.count("<address>") == 2
    assert "Bank transfer" in page and "data-payment-reference" in page
    assert 'name="status"' in page and 'name="tracking"' not in page  # shipping comes later


def test_staff_cancel_of_a_placed_order_restocks_and_sends_the_cancel_mail(app, staff_browser,
                                                                          shopper):
    product = make_product(stock=5)
    number = buy(shopper, product, 3)
    assert stock_of(product.id) == 2
    response = change(staff_browser, number, "cancelled")
    assert response.status_code == 303
    assert fresh_order(number).status == "cancelled"
    assert stock_of(product.id) == 5
    assert "was cancelled" in mails_of(number)[-1].subject
    assert [a.action for a in order_audits(number)] == ["cancel"]


def test_cancelling_a_paid_order_needs_the_password(app, staff_browser, shopper):
    product = make_product(stock=5)
    number = buy(shopper, product, 1)
    assert change(staff_browser, number, "paid").status_code == 303
    mails = len(mails_of(number))
    for password, message in (("", "enter your password"), ("wrong password 123",
                                                             "not your password")):
        response = change(staff_browser, number, "cancelled", password=password)
        assert response.status_code == 422
        page = response.get_data(as_text=True)
        assert field_errors(page) == ["password"] and message in page
        assert fresh_order(number).status == "paid"
        assert stock_of(product.id) == 4
        assert len(mails_of(number)) == mails
    response = change(staff_browser, number, "cancelled", password=PASSWORD)
    assert response.status_code == 303
    assert fresh_order(number).status == "cancelled"
    assert stock_of(product.id) == 5
    assert len(mails_of(number)) == mails + 1
    assert [a.action for a in order_audits(number)] == ["mark_paid", "cancel"]


@pytest.mark.parametrize(("steps", "impossible"), [
    ([], "delivered"), ([], "shipped"), ([], "placed"),
    (["cancelled"], "shipped"), (["cancelled"], "paid"), (["cancelled"], "cancelled"),
    (["paid"], "placed"), (["paid", "shipped"], "cancelled"),
    (["paid", "shipped", "delivered"], "shipped"),
])
def test_an_impossible_transition_is_409_and_changes_nothing(app, staff_browser, shopper,
                                                            steps, impossible):
    product = make_product(stock=5)
    number = buy(shopper, product, 1)
    for step in steps:
        assert change(staff_browser, number, step).status_code == 303
    before = fresh_order(number)
    status, stock = before.status, stock_of(product.id)
    mails, audits = len(mails_of(number)), len(order_audits(number))
    response = change(staff_browser, number, impossible, password=PASSWORD)
    assert response.status_code == 409
    page = response.get_data(as_text=True)
    assert any(kind == "error" and "cannot become" in text for kind, text in flashes(page))
    assert fresh_order(number).status == status
    assert stock_of(product.id) == stock
    assert len(mails_of(number)) == mails
    assert len(order_audits(number)) == audits


@pytest.mark.parametrize("form", [
    {"status": "lost"}, {"status": ""}, {"status": "paid", "tracking": "T-1"},
    {"status": "shipped", "tracking": "x" * 101}, {"status": "shipped", "tracking": "a\u202eb"},
])
def test_bad_status_forms_are_422_and_change_nothing(app, staff_browser, shopper, form):
    product = make_product(stock=5)
    number = buy(shopper, product, 1)
    if form["status"] == "shipped":
        assert change(staff_browser, number, "paid").status_code == 303
    status = fresh_order(number).status
    response = staff_browser.post_form(f"/admin/orders/{number}", form)
    assert response.status_code == 422
    assert field_errors(response.get_data(as_text=True))
    assert fresh_order(number).status == status


def test_unknown_or_malformed_order_numbers_are_404(app, staff_browser):
    for number in ("SF-2222-2222", "nope", "sf-2222-2222", "SF-2222-22222"):
        assert staff_browser.get(f"/admin/orders/{number}").status_code == 404
        assert change(staff_browser, number, "paid").status_code == 404


def test_status_post_without_csrf_is_refused(app, staff_browser, shopper):
    number = buy(shopper, make_product(stock=5), 1)
    response = staff_browser.post(f"/admin/orders/{number}", data={"status": "paid"})
    assert response.status_code == 400
    response = staff_browser.post(f"/admin/orders/{number}",
                                  data={"status": "paid", "csrf_token": "forged"})
    assert response.status_code == 400
    assert fresh_order(number).status == "placed"
    assert order_audits(number) == []


@pytest.mark.parametrize("who", ["anonymous", "shopper"])
def test_order_routes_are_404_to_everyone_but_staff(app, make_client, shopper, who):
    number = buy(shopper, make_product(stock=5), 1)
    client = shopper if who == "shopper" else make_client()
    token = client.csrf_token()
    for method, path in (("GET", "/admin/orders"), ("GET", f"/admin/orders/{number}"),
                         ("POST", f"/admin/orders/{number}"), ("GET", "/admin/orders?format=csv"),
                         ("POST", "/admin/orders"), ("DELETE", f"/admin/orders/{number}"),
                         ("POST", "/admin/orders?format=csv")):
        response = client.open(path, method=method,
                               data={"csrf_token": token, "status": "paid"})
        assert response.status_code == 404, (method, path)
    assert fresh_order(number).status == "placed"
    assert order_audits(number) == []


# The list --------------------------------------------------------------------------------------

def test_the_list_filters_by_status_and_searches_by_number_or_email(app, staff_browser,
                                                                   shopper, make_client):
    product = make_product(stock=50)
    first = buy(shopper, product)
    second = buy(shopper, product)
    assert change(staff_browser, second, "paid").status_code == 303
    other = shopper_client(make_client, "other.buyer@example.com")
    other.address_id = add_address(other)
    third = buy(other, product)

    def numbers(query: str) -> list[str]:
        response = staff_browser.get("/admin/orders" + query)
        assert response.status_code == 200
        return re.findall(r'<tr data-order-number="([^"]+)"', response.get_data(as_text=True))

    assert numbers("") == [third, second, first]
    assert numbers("?status=paid") == [second]
    assert numbers("?status=placed") == [third, first]
    assert numbers("?status=bogus") == [third, second, first]
    assert numbers("?q=OTHER.BUYER") == [third]
    assert numbers(f"?q={first.lower()}") == [first]
    assert numbers(f"?q={first[3:7]}") == [o for o in (third, second, first) if first[3:7] in o]
    assert numbers("?q=%25") == []
    assert staff_browser.get("/admin/orders?page=2").status_code == 404
    assert staff_browser.get("/admin/orders?page=x").status_code == 404


def test_the_list_pages_by_50(app, staff_browser, shopper):
    product = make_product(stock=50)
    number = buy(shopper, product)
    order = fresh_order(number)
    columns = {c.name: getattr(order, c.name) for c in Order.__table__.columns
               if c.name not in ("id", "number", "idempotency_key")}
    db.session.execute(Order.__table__.insert(), [
        {**columns, "number": f"SF-2222-{i:04d}".replace("0", "A").replace("1", "B"),
         "idempotency_key": None} for i in range(55)])
    db.session.commit()
    first = staff_browser.page("/admin/orders")
    assert first.count("<tr data-order-number=") == 50 and 'rel="next"' in first
    second = staff_browser.page("/admin/orders?page=2")
    assert second.count("<tr data-order-number=") == 6 and 'rel="prev"' in second


def test_staff_order_pages_cost_the_same_statements_at_any_size(app, staff_browser, shopper,
                                                                 count_queries):
    counts = []
    for size in (1, 12):
        numbers = [buy(shopper, make_product(stock=5)) for _ in range(size)]
        lines = [make_product(stock=5) for _ in range(size)]
        for product in lines:
            shopper.post_form("/cart/add", {"product_id": str(product.id)})
        big = buy(shopper, make_product(stock=5))
        staff_browser.get("/admin/orders")  # the once-a-minute "last seen" write aside
        sizes = []
        for path in ("/admin/orders", f"/admin/orders/{big}", f"/admin/orders/{numbers[0]}",
                     "/admin/orders?format=csv", "/admin"):
            with count_queries() as statements:
                response = staff_browser.get(path)
                assert response.status_code == 200
                response.get_data()
            sizes.append(len(statements))
        counts.append(sizes)
    assert counts[0] == counts[1]


# Attacks ------------------------------------------------------------------------------------------

def test_tracking_references_and_customer_names_are_escaped(app, staff_browser, make_client):
    shopper = shopper_client(make_client)
    shopper.address_id = add_address(shopper, full_name="<script>alert(1)</script>")
    number = buy(shopper, make_product(stock=5))
    assert change(staff_browser, number, "paid").status_code == 303
    attack = '<img src=x onerror="alert(2)">'
    assert change(staff_browser, number, "shipped", tracking=attack).status_code == 303
    for path in ("/admin/orders", f"/admin/orders/{number}", "/admin/audit"):
        page = staff_browser.page(path)
        assert "<script>alert(1)" not in page and "<img src=x" not in page, path
        assert "&lt;img src=x onerror=" in page or path == "/admin/audit"
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in staff_browser.page("/admin/orders")
    shopper_page = shopper.page(f"/account/orders/{number}")
    assert "<img src=x" not in shopper_page and "&lt;img src=x" in shopper_page


def test_the_csv_export_neutralises_formulas_and_follows_the_filters(app, staff_browser,
                                                                     make_client):
    shopper = shopper_client(make_client)
    shopper.address_id = add_address(shopper, full_name='=HYPERLINK("http://evil.example")')
    product = make_product(stock=5)
    first = buy(shopper, product)
    second = buy(shopper, product)
    assert change(staff_browser, second, "paid").status_code == 303
    assert change(staff_browser, second, "shipped", tracking="@SUM(A1)").status_code == 303
    response = staff_browser.get("/admin/orders?format=csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0][:4] == ["number", "placed_at", "status", "email"]
    assert [row[0] for row in rows[1:]] == [second, first]
    assert rows[1][4] == "'=HYPERLINK(\"http://evil.example\")"
    assert rows[1][12] == "'@SUM(A1)"
    assert all(not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
               for row in rows for cell in row)
    assert Decimal(rows[1][10]) == fresh_order(second).total
    shipped = list(csv.reader(io.StringIO(staff_browser.get(
        "/admin/orders?format=csv&status=shipped").get_data(as_text=True))))
    assert [row[0] for row in shipped[1:]] == [second]


# Dashboard --------------------------------------------------------------------------------------

def test_the_dashboard_counts_todays_orders_and_what_waits(app, staff_browser, shopper):
    product = make_product(price=Decimal("60.00"), stock=50)
    waiting = buy(shopper, product)
    paid = buy(shopper, product)
    cod = buy(shopper, product, payment_method="cash_on_delivery")
    cancelled = buy(shopper, product)
    assert change(staff_browser, paid, "paid").status_code == 303
    assert change(staff_browser, cancelled, "cancelled").status_code == 303
    db.session.execute(update(Order).where(Order.number == cod).values(
        placed_at=fresh_order(cod).placed_at.replace(year=2020)))
    db.session.commit()
    page = staff_browser.page("/admin")
    assert 'data-orders-today="2"' in page
    assert 'data-revenue-today="120.00"' in page
    assert 'data-awaiting-payment="1"' in page
    assert 'data-awaiting-shipping="1"' in page
    assert waiting
    assert count_rows(Order) == 4
