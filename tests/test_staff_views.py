"""The staff area over HTTP: who gets in, products, stock, import, customers, audit."""

from __future__ import annotations

import io
import re
from decimal import Decimal

import pytest
from sqlalchemy import select, update

from storefront import staff
from storefront.extensions import db
from storefront.models import AuditEvent, Product, StockAdjustment, User, UserSession, utcnow
from tests.factories import make_product, make_user
from tests.staff_support import (
    SHOPPER_EMAIL,
    STAFF_EMAIL,
    image_bytes,
    png_bomb,
    shopper_client,
    staff_client,
)
from tests.support import PASSWORD, count_rows, field_errors, flashes

JPEG = image_bytes("JPEG", (800, 600), quality=95)
ADMIN_GETS = ("/admin", "/admin/products", "/admin/products/new", "/admin/products/1/edit",
              "/admin/products/import", "/admin/customers", "/admin/customers/1",
              "/admin/audit", "/admin/orders", "/admin/orders?format=csv")


@pytest.fixture
def app_config(tmp_path) -> dict[str, object]:  # noqa: ANN001
    return {"MEDIA_ROOT": str(tmp_path / "media")}


@pytest.fixture
def staff_browser(make_client):  # noqa: ANN001, ANN201
    return staff_client(make_client)


def admin_rules(app) -> list[tuple[str, str]]:  # noqa: ANN001
    """Every (method, path) of the admin blueprint, with 1 for each id."""
    found = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("admin."):
            path = re.sub(r"<[^>]+>", "1", rule.rule)
            found += [(method, path) for method in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    return found


def fresh(model, key):  # noqa: ANN001, ANN201
    """A row as the database holds it now (the test's session keeps what it loaded)."""
    db.session.expire_all()
    return db.session.get(model, key)


def web_audits() -> list[AuditEvent]:
    """Audit rows of changes made on staff pages (making the staff account is audited too)."""
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.actor_id.is_not(None))
                                   .order_by(AuditEvent.id)))


def audit_count() -> int:
    return len(web_audits())


# Who gets in ------------------------------------------------------------------------------------

@pytest.mark.parametrize("who", ["anonymous", "shopper"])
def test_everyone_but_staff_gets_404_on_every_admin_url_and_method(app, make_client, who):
    make_product()
    client = make_client() if who == "anonymous" else shopper_client(make_client)
    token = client.csrf_token()
    products_before = db.session.execute(select(Product.__table__)).all()
    for method, path in admin_rules(app) + [("GET", "/admin/nothing-here"),
                                            ("DELETE", "/admin/products"),
                                            ("PUT", "/admin")]:
        for data in (None, {"csrf_token": token, "sku": "X", "name": "X", "price": "1",
                            "stock": "1", "change": "5", "reason": "r"}):
            response = client.open(path, method=method, data=data)
            assert response.status_code == 404, (who, method, path, response.status_code)
    assert db.session.execute(select(Product.__table__)).all() == products_before
    assert audit_count() == 0


def test_staff_sees_every_page(app, staff_browser):
    make_product()
    user = make_user("bob@example.com")
    for path in ADMIN_GETS:
        path = path.replace("/customers/1", f"/customers/{user.id}")
        response = staff_browser.get(path)
        assert response.status_code == 200, path
        assert response.headers["Cache-Control"] == "no-store"


def test_revoked_staff_loses_the_area_in_the_open_session(app, staff_browser):
    assert staff_browser.get("/admin").status_code == 200
    staff.set_staff(STAFF_EMAIL, False)
    assert staff_browser.get("/admin").status_code == 404
    assert staff_browser.post_form("/admin/products/new", {
        "sku": "NEW", "name": "New", "price": "1.00", "stock": "1"}).status_code == 404
    assert count_rows(Product) == 0
    assert staff_browser.signed_in_as() == STAFF_EMAIL  # still a shopper


def test_staff_sign_in_is_never_remembered(app, make_client):
    make_user(STAFF_EMAIL)
    staff.set_staff(STAFF_EMAIL, True)
    client = make_client()
    response = client.login(STAFF_EMAIL, remember=True)
    assert response.status_code == 303
    assert "Expires=" not in response.headers["Set-Cookie"]
    row = db.session.scalar(select(UserSession).order_by(UserSession.id.desc()))
    assert row.remember is False
    assert (row.expires_at - row.created_at).total_seconds() == 12 * 3600


def test_a_staff_session_older_than_12_hours_ends(app, staff_browser):
    from datetime import timedelta

    from sqlalchemy import update

    from storefront.models import utcnow

    db.session.execute(update(UserSession).values(created_at=utcnow() - timedelta(hours=13)))
    db.session.commit()
    response = staff_browser.get("/admin/products")
    assert response.status_code == 303
    assert "/auth/login" in response.headers["Location"]
    assert staff_browser.signed_in_as() is None
    assert staff_browser.get("/admin").status_code == 404


def test_staff_posts_without_csrf_token_are_refused(app, staff_browser):
    product = make_product(stock=3)
    user = make_user("bob@example.com")
    routes = [
        ("/admin/products/new", {"sku": "N1", "name": "N", "price": "1", "stock": "1"}),
        (f"/admin/products/{product.id}/edit", {"sku": product.sku, "name": "Renamed",
                                                 "price": "1", "stock": "1"}),
        (f"/admin/products/{product.id}/stock", {"change": "5", "reason": "received"}),
        ("/admin/products/import", {}),
        (f"/admin/customers/{user.id}/sessions/1/revoke", {}),
        (f"/admin/customers/{user.id}/sessions/revoke-all", {}),
        (f"/admin/customers/{user.id}/disable", {}),
        (f"/admin/customers/{user.id}/enable", {}),
        ("/admin/orders/1", {"status": "paid"}),  # tests/test_staff_orders.py: a real order
    ]
    posted = {path for path, _ in routes}
    assert posted == {path.replace("/1/", f"/{product.id}/", 1) if "products" in path
                      else path.replace("/customers/1/", f"/customers/{user.id}/")
                      .replace("/sessions/1/", "/sessions/1/")
                      for method, path in admin_rules(app) if method == "POST"}
    for path, data in routes:
        for token in (None, "wrong"):
            fields = dict(data, **({"csrf_token": token} if token else {}))
            assert staff_browser.post(path, data=fields).status_code == 400, path
    assert audit_count() == 0
    assert fresh(Product, product.id).name == product.name


# Products ---------------------------------------------------------------------------------------

def test_staff_adds_a_product_with_an_image_and_shoppers_see_it(app, staff_browser, tmp_path):
    response = staff_browser.post_form("/admin/products/new", {
        "sku": "MUG-1", "name": "Blue mug", "description": "A mug.", "price": "12.50",
        "stock": "7", "active": "y",
        "image": (io.BytesIO(image_bytes("JPEG", (1600, 1200))), "mug.jpg")},
        content_type="multipart/form-data")
    assert response.status_code == 303, field_errors(response.get_data(as_text=True))
    product = db.session.scalar(select(Product).where(Product.sku == "MUG-1"))
    assert (product.name, product.price, product.stock, product.active) == (
        "Blue mug", Decimal("12.50"), 7, True)
    assert re.fullmatch(r"[0-9a-f]{32}", product.image_key)
    catalog = staff_browser.page("/")
    assert f'srcset="/media/{product.image_key}-320.webp 320w' in catalog
    image = staff_browser.get(f"/media/{product.image_key}-640.webp")
    assert image.status_code == 200
    assert image.headers["Content-Type"] == "image/webp"
    assert image.headers["X-Content-Type-Options"] == "nosniff"
    assert "max-age=31536000" in image.headers["Cache-Control"]
    assert image.data[:4] == b"RIFF" and image.data[8:12] == b"WEBP"
    row = web_audits()[0]
    assert (row.action, row.object_type, row.object_id, row.actor_email) == (
        "create", "product", str(product.id), STAFF_EMAIL)
    assert row.after["price"] == "12.50"


@pytest.mark.parametrize("name, data, message", [
    ("svg", b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg">'
            b'<script>alert(1)</script></svg>', "SVG images are not accepted"),
    ("html", b"<html><body><script>alert(1)</script></body></html>", "SVG images are not"),
    ("text", b"GIF89a not really", "not one"),
    ("bomb", png_bomb(), "too many pixels"),
    ("truncated", JPEG[: len(JPEG) // 2], "damaged or incomplete"),
])
def test_an_upload_that_is_no_image_is_refused_and_nothing_written(app, staff_browser, tmp_path,
                                                                   name, data, message):
    response = staff_browser.post_form("/admin/products/new", {
        "sku": "X-1", "name": "X", "price": "1.00", "stock": "1",
        "image": (io.BytesIO(data), f"{name}.jpg")}, content_type="multipart/form-data")
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert count_rows(Product) == 0 and audit_count() == 0
    assert not (tmp_path / "media").exists() or not list((tmp_path / "media").iterdir())


def test_a_png_with_a_script_appended_is_stored_as_pixels_only(app, staff_browser, tmp_path):
    data = image_bytes("PNG", (400, 300)) + b"<script>alert(document.cookie)</script>"
    response = staff_browser.post_form("/admin/products/new", {
        "sku": "P-1", "name": "Polyglot", "price": "1.00", "stock": "1",
        "image": (io.BytesIO(data), "pic.png")}, content_type="multipart/form-data")
    assert response.status_code == 303
    stored = sorted((tmp_path / "media").iterdir())
    assert [path.name[33:] for path in stored] == ["1280.webp", "320.webp", "640.webp"]
    for path in stored:
        assert b"<script" not in path.read_bytes()


def test_a_new_image_replaces_the_old_files(app, staff_browser, tmp_path):
    product = make_product()
    path = f"/admin/products/{product.id}/edit"
    form = {"sku": product.sku, "name": product.name, "price": "10.00", "stock": "20",
            "active": "y"}
    for _ in range(2):
        response = staff_browser.post_form(path, {
            **form, "image": (io.BytesIO(image_bytes("PNG", (700, 500))), "a.png")},
            content_type="multipart/form-data")
        assert response.status_code == 303
    key = fresh(Product, product.id).image_key
    assert sorted(p.name for p in (tmp_path / "media").iterdir()) == [
        f"{key}-1280.webp", f"{key}-320.webp", f"{key}-640.webp"]
    audits = web_audits()
    assert audits[-1].before["image"] == audits[0].after["image"] != key


def test_an_image_over_5_mb_is_refused(app, staff_browser):
    big = image_bytes("PNG", (10, 10)) + b"\0" * (5 * 1024 * 1024)
    response = staff_browser.post_form("/admin/products/new", {
        "sku": "X-1", "name": "X", "price": "1.00", "stock": "1",
        "image": (io.BytesIO(big), "big.png")}, content_type="multipart/form-data")
    assert response.status_code == 422
    assert "larger than 5 MB" in response.get_data(as_text=True)
    assert count_rows(Product) == 0


@pytest.mark.parametrize("field, value", [
    ("price", "-1"), ("price", "1.234"), ("price", "abc"), ("price", "NaN"), ("price", "1e9"),
    ("price", "Infinity"), ("stock", "-1"), ("stock", "1.5"), ("sku", ""), ("name", " "),
    ("name", "a\u202eb"), ("sku", "x" * 65), ("stock", str(10**7)),
])
def test_bad_product_fields_are_422_and_write_nothing(app, staff_browser, field, value):
    data = {"sku": "OK-1", "name": "Fine", "price": "1.00", "stock": "1", field: value}
    response = staff_browser.post_form("/admin/products/new", data)
    assert response.status_code == 422
    assert field in field_errors(response.get_data(as_text=True))
    assert count_rows(Product) == 0 and audit_count() == 0


def test_a_taken_sku_is_refused(app, staff_browser):
    make_product(sku="TAKEN")
    response = staff_browser.post_form("/admin/products/new", {
        "sku": "taken", "name": "Other", "price": "1.00", "stock": "1"})
    assert response.status_code == 422
    assert "Another product has this SKU." in response.get_data(as_text=True)
    assert count_rows(Product) == 1


def test_edit_writes_before_and_after_of_what_changed(app, staff_browser):
    product = make_product(price="10.00", stock=4)
    response = staff_browser.post_form(f"/admin/products/{product.id}/edit", {
        "sku": product.sku, "name": product.name, "description": product.description,
        "price": "12.00", "stock": "4", "active": "y"})
    assert response.status_code == 303
    assert fresh(Product, product.id).price == Decimal("12.00")
    row = web_audits()[0]
    assert (row.action, row.before, row.after) == ("update", {"price": "10.00"},
                                                   {"price": "12.00"})


def test_deactivating_a_product_in_carts_needs_the_password(app, staff_browser, make_client):
    product = make_product(stock=5)
    shopper = shopper_client(make_client)
    shopper.post_form("/cart/add", {"product_id": product.id})
    form = {"sku": product.sku, "name": product.name, "price": "10.00", "stock": "5"}
    path = f"/admin/products/{product.id}/edit"
    response = staff_browser.post_form(path, form)
    assert response.status_code == 422
    assert "enter your password" in response.get_data(as_text=True)
    assert staff_browser.post_form(path, {**form, "password": "wrong password"}
                                   ).status_code == 422
    assert fresh(Product, product.id).active is True
    assert audit_count() == 0
    assert staff_browser.post_form(path, {**form, "password": PASSWORD}).status_code == 303
    assert fresh(Product, product.id).active is False
    row = web_audits()[0]
    assert (row.action, row.before, row.after) == ("deactivate", {"active": True},
                                                   {"active": False})
    assert shopper.get(f"/products/{product.slug}").status_code == 404


def test_deactivating_a_product_in_no_cart_needs_no_password(app, staff_browser):
    product = make_product()
    response = staff_browser.post_form(f"/admin/products/{product.id}/edit", {
        "sku": product.sku, "name": product.name, "price": "10.00", "stock": "20"})
    assert response.status_code == 303
    assert fresh(Product, product.id).active is False
    assert count_rows(Product) == 1  # deactivated, never deleted


def test_stock_adjustments_record_who_what_and_why(app, staff_browser):
    product = make_product(stock=3)
    path = f"/admin/products/{product.id}/stock"
    assert staff_browser.post_form(path, {"change": "+12", "reason": "received"}
                                   ).status_code == 303
    assert staff_browser.post_form(path, {"change": "-1", "reason": "damaged"}
                                   ).status_code == 303
    assert fresh(Product, product.id).stock == 14
    rows = db.session.scalars(select(StockAdjustment).order_by(StockAdjustment.id)).all()
    staff_id = db.session.scalar(select(User.id).where(User.email == STAFF_EMAIL))
    assert [(r.delta, r.stock_after, r.reason, r.actor_id) for r in rows] == [
        (12, 15, "received", staff_id), (-1, 14, "damaged", staff_id)]
    audits = web_audits()
    assert [(a.before, a.after) for a in audits] == [
        ({"stock": 3}, {"stock": 15, "reason": "received"}),
        ({"stock": 15}, {"stock": 14, "reason": "damaged"})]


@pytest.mark.parametrize("change", ["-4", "-1000000", "0", "abc", "1.5", "", "9" * 20])
def test_a_stock_change_below_zero_or_malformed_is_refused(app, staff_browser, change):
    product = make_product(stock=3)
    response = staff_browser.post_form(f"/admin/products/{product.id}/stock",
                                       {"change": change, "reason": "damaged"})
    assert response.status_code == 422
    assert "change" in field_errors(response.get_data(as_text=True))
    assert fresh(Product, product.id).stock == 3
    assert count_rows(StockAdjustment) == 0 and audit_count() == 0


def test_stock_of_an_unknown_product_is_404(app, staff_browser):
    assert staff_browser.post_form("/admin/products/999/stock",
                                   {"change": "1", "reason": "x"}).status_code == 404


def test_product_list_searches_filters_and_pages(app, staff_browser):
    make_product(name="Green tea", stock=0)
    make_product(name="Black tea", stock=2)
    make_product(name="Coffee 100%", stock=50, active=False)
    for index in range(55):
        make_product(name=f"Filler {index}", sku=f"FILL-{index:03d}")

    def names(query: str) -> list[str]:
        page = staff_browser.page(f"/admin/products?{query}")
        return re.findall(r'edit">([^<]+)</a>', page)

    assert names("q=TEA") == ["Black tea", "Green tea"]
    assert names("q=100%25") == ["Coffee 100%"]
    assert names("state=sold_out") == ["Green tea"]
    assert names("state=low_stock") == ["Black tea"]
    assert names("state=inactive") == ["Coffee 100%"]
    assert len(names("")) == 50 and len(names("page=2")) == 8
    assert staff_browser.get("/admin/products?page=3").status_code == 404
    assert staff_browser.get("/admin/products?page=x").status_code == 404


def test_csv_import_from_the_browser(app, staff_browser):
    data = b"sku,name,price,stock,description\nA-1,Apple,1.50,10,Fresh\nB-2,Banana,0.99,5,\n"
    response = staff_browser.post_form("/admin/products/import", {
        "file": (io.BytesIO(data), "products.csv")}, content_type="multipart/form-data")
    assert response.status_code == 303
    assert flashes(staff_browser.page("/admin/products"))[0] == (
        "success", "Imported: 2 created, 0 updated.")
    assert count_rows(Product) == 2
    row = web_audits()[0]
    assert (row.action, row.object_type, row.after) == ("import", "catalog",
                                                         {"created": 2, "updated": 0})


def test_formula_cells_import_as_plain_text_and_export_inert(app, staff_browser):
    from storefront.csv_export import to_csv

    data = b'sku,name,price,stock\nF-1,"=HYPERLINK(""http://evil.example"",""x"")",1.00,1\n'
    response = staff_browser.post_form("/admin/products/import", {
        "file": (io.BytesIO(data), "p.csv")}, content_type="multipart/form-data")
    assert response.status_code == 303
    product = db.session.scalar(select(Product).where(Product.sku == "F-1"))
    assert product.name == '=HYPERLINK("http://evil.example","x")'
    assert "=HYPERLINK(&#34;http://evil.example&#34;" in staff_browser.page("/admin/products")
    exported = to_csv(["sku", "name"], [[product.sku, product.name]])
    assert exported.splitlines()[1] == 'F-1,"\'=HYPERLINK(""http://evil.example"",""x"")"'


def test_a_bad_csv_shows_line_numbered_errors_and_writes_nothing(app, staff_browser):
    data = (b"sku,name,price,stock\nA-1,Apple,1.50,10\nB-2,<script>x</script>,-1,5\n"
            b"C-3,=HYPERLINK(\"http://evil\"),abc,1\n")
    response = staff_browser.post_form("/admin/products/import", {
        "file": (io.BytesIO(data), "products.csv")}, content_type="multipart/form-data")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "line 3: price &#39;-1&#39; is not a decimal" in page
    assert "line 4: price &#39;abc&#39;" in page
    assert "<script>x" not in page
    assert count_rows(Product) == 0 and audit_count() == 0


def test_product_names_and_descriptions_are_escaped_in_staff_lists(app, staff_browser):
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    make_product(name=evil, description=evil, stock=1)
    for path in ("/admin", "/admin/products", "/admin/products?state=low_stock"):
        page = staff_browser.page(path)
        assert "<script>alert" not in page and "<img src=x" not in page, path
        assert "&lt;script&gt;alert" in page, path


# Customers --------------------------------------------------------------------------------------

def test_customers_search_and_page_show_no_secrets(app, staff_browser, make_client):
    shopper = shopper_client(make_client)
    product = make_product()
    shopper.post_form("/cart/add", {"product_id": product.id, "quantity": "2"})
    user = db.session.scalar(select(User).where(User.email == SHOPPER_EMAIL))
    listing = staff_browser.page("/admin/customers?q=SHAY")
    assert re.findall(r'data-customer-id="(\d+)"', listing) == [str(user.id)]
    assert SHOPPER_EMAIL in staff_browser.page("/admin/customers?q=shopper@")
    page = staff_browser.page(f"/admin/customers/{user.id}")
    assert f"2 × {product.name}" in page
    assert page.count("data-session-live=\"true\"") == 1
    assert user.password_hash not in page and "scrypt" not in page
    for token_hash in db.session.scalars(select(UserSession.token_hash)):
        assert token_hash not in page
    assert staff_browser.get("/admin/customers/999999").status_code == 404


def test_customer_names_are_escaped_in_staff_lists(app, staff_browser, make_client):
    client = make_client()
    client.register("x@example.com", first_name="<script>alert(1)</script>",
                    last_name="<b>bold</b>")
    user_id = db.session.scalar(select(User.id).where(User.email == "x@example.com"))
    for path in ("/admin/customers", f"/admin/customers/{user_id}"):
        page = staff_browser.page(path)
        assert "<script>alert(1)" not in page and "<b>bold" not in page
        assert "&lt;script&gt;alert(1)" in page


def test_disabling_ends_sessions_and_sign_in_fails_like_a_wrong_password(app, staff_browser,
                                                                         make_client):
    shopper = shopper_client(make_client)
    user_id = db.session.scalar(select(User.id).where(User.email == SHOPPER_EMAIL))
    assert staff_browser.post_form(f"/admin/customers/{user_id}/disable").status_code == 303
    assert shopper.signed_in_as() is None
    disabled = make_client().login(SHOPPER_EMAIL)
    wrong = make_client().login(SHOPPER_EMAIL, password="not the password")
    assert disabled.status_code == wrong.status_code == 422
    assert flashes(disabled.get_data(as_text=True)) == flashes(wrong.get_data(as_text=True))
    row = web_audits()[0]
    assert (row.action, row.before, row.after) == ("disable", {"active": True},
                                                   {"active": False, "sessions_ended": 1})
    assert staff_browser.post_form(f"/admin/customers/{user_id}/enable").status_code == 303
    assert make_client().login(SHOPPER_EMAIL).status_code == 303


def test_staff_cannot_disable_themselves(app, staff_browser):
    staff_id = db.session.scalar(select(User.id).where(User.email == STAFF_EMAIL))
    response = staff_browser.post_form(f"/admin/customers/{staff_id}/disable")
    assert response.status_code == 303
    assert fresh(User, staff_id).is_active is True
    assert staff_browser.get("/admin").status_code == 200


def test_revoking_one_or_all_sessions(app, staff_browser, make_client):
    first = shopper_client(make_client)
    second = make_client()
    second.login(SHOPPER_EMAIL)
    user_id = db.session.scalar(select(User.id).where(User.email == SHOPPER_EMAIL))
    session_ids = db.session.scalars(select(UserSession.id).where(
        UserSession.user_id == user_id).order_by(UserSession.id)).all()
    path = f"/admin/customers/{user_id}/sessions/{session_ids[0]}/revoke"
    assert staff_browser.post_form(path).status_code == 303
    assert first.signed_in_as() is None and second.signed_in_as() == SHOPPER_EMAIL
    assert staff_browser.post_form(
        f"/admin/customers/{user_id}/sessions/revoke-all").status_code == 303
    assert second.signed_in_as() is None
    # Another account's session through this customer's URL: 404.
    staff_session = db.session.scalar(select(UserSession.id).join(User).where(
        User.email == STAFF_EMAIL))
    assert staff_browser.post_form(
        f"/admin/customers/{user_id}/sessions/{staff_session}/revoke").status_code == 404
    assert [row.action for row in web_audits()] == [
        "revoke_sessions", "revoke_sessions"]


# Audit and dashboard ----------------------------------------------------------------------------

def test_audit_page_lists_and_filters(app, staff_browser):
    product = make_product(stock=1)
    staff_browser.post_form(f"/admin/products/{product.id}/stock",
                            {"change": "2", "reason": "<i>found</i>"})
    staff_browser.post_form("/admin/products/new", {"sku": "Z", "name": "Z", "price": "1",
                                                    "stock": "1"})
    page = staff_browser.page("/admin/audit")
    assert page.count("data-audit-id=") == 3  # and the grant of staff rights
    assert "&lt;i&gt;found&lt;/i&gt;" in page and "<i>found" not in page
    assert staff_browser.page("/admin/audit?action=adjust_stock").count("data-audit-id=") == 1
    assert staff_browser.page(f"/admin/audit?object_type=product&object_id={product.id}"
                              ).count("data-audit-id=") == 1
    assert staff_browser.page("/admin/audit?actor=nobody@example.com").count(
        "data-audit-id=") == 0


def test_dashboard_shows_low_stock_and_the_report_figures_as_svg(app, staff_browser):
    make_product(name="Nearly gone", stock=1)
    make_product(name="Plenty", stock=100)
    page = staff_browser.page("/admin")
    assert "Nearly gone" in page and "Plenty" not in page
    assert page.count("<svg") == 4
    for label in ("Registration success", "Profile creation", "Cart merge success",
                  "Session persistence"):
        assert f'data-figure="{label}"' in page


def test_staff_pages_cost_the_same_statements_at_any_size(app, staff_browser, make_client,
                                                          count_queries):
    shopper = shopper_client(make_client)
    user_id = db.session.scalar(select(User.id).where(User.email == SHOPPER_EMAIL))
    counts = []
    for size in (1, 30):
        for _ in range(size):
            product = make_product()
            shopper.post_form("/cart/add", {"product_id": product.id})
        staff_browser.get("/admin/products")  # the once-a-minute "last seen" write aside
        sizes = []
        for path in ("/admin/products", "/admin/customers", f"/admin/customers/{user_id}",
                     "/admin/audit", "/admin"):
            with count_queries() as statements:
                assert staff_browser.get(path).status_code == 200
            sizes.append(len(statements))
        counts.append(sizes)
    assert counts[0] == counts[1]


def test_an_edit_never_overwrites_a_stock_that_changed_since_the_form(app, staff_browser):
    product = make_product(stock=10)
    path = f"/admin/products/{product.id}/edit"
    assert 'name="stock_seen" type="hidden" value="10"' in staff_browser.page(path)
    staff_browser.post_form(f"/admin/products/{product.id}/stock",
                            {"change": "-3", "reason": "sold at the counter"})
    form = {"sku": product.sku, "name": "Renamed", "price": "10.00", "active": "y"}
    response = staff_browser.post_form(path, {**form, "stock": "12", "stock_seen": "10"})
    assert response.status_code == 422
    assert "The stock changed meanwhile: it is now 7." in response.get_data(as_text=True)
    assert (fresh(Product, product.id).stock, fresh(Product, product.id).name) == (7, product.name)
    # The stock as shown, unchanged: the rest of the form is saved.
    assert staff_browser.post_form(path, {**form, "stock": "10", "stock_seen": "10"}
                                   ).status_code == 303
    assert (fresh(Product, product.id).stock, fresh(Product, product.id).name) == (7, "Renamed")
    # A stock set on a form that saw the current one is written.
    assert staff_browser.post_form(path, {**form, "stock": "12", "stock_seen": "7"}
                                   ).status_code == 303
    assert fresh(Product, product.id).stock == 12


def test_a_customers_page_shows_verification_and_orders(app, staff_browser, make_client):
    from tests.checkout_support import add_address, place

    shopper = shopper_client(make_client)
    user = db.session.scalar(select(User).where(User.email == SHOPPER_EMAIL))
    page = staff_browser.page(f"/admin/customers/{user.id}")
    assert 'data-email-verified="false"' in page and "No orders yet." in page
    product = make_product(price="7.00", stock=5)
    shopper.post_form("/cart/add", {"product_id": product.id, "quantity": "1"})
    placed = place(shopper, add_address(shopper))
    assert placed.status_code == 303
    number = placed.location.rsplit("/", 1)[-1]
    db.session.execute(update(User).where(User.id == user.id).values(email_verified_at=utcnow()))
    db.session.commit()
    page = staff_browser.page(f"/admin/customers/{user.id}")
    assert 'data-email-verified="true"' in page
    assert f'data-order-number="{number}" data-order-status="placed"' in page
    assert f'href="/admin/orders/{number}"' in page
