"""Staff pages: thin views over storefront/staff.py; every change is audited there."""

from __future__ import annotations

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from storefront import audit, categories, orders, staff, staff_orders
from storefront.audit import Actor
from storefront.blueprints.admin import bp
from storefront.blueprints.admin.forms import (
    ButtonForm,
    ImportForm,
    OrderStatusForm,
    ProductForm,
    StockForm,
)
from storefront.exceptions import (
    CatalogImportError,
    ImageRefused,
    ImpossibleTransition,
    NotFound,
    SelfDisable,
    SkuTaken,
    StockBelowZero,
    StockChanged,
    WrongPassword,
)
from storefront.ids import NotAWholeNumber, parse_bounded
from storefront.media import IMAGE_MAX_BYTES
from storefront.models import MAX_PAGE, SEARCH_MAX_CHARS, utcnow
from storefront.rate_limits import failed_reauths, failure_counted, password_checks
from storefront.request_guard import upload_limit

# An upload form's body: the image (or CSV) and the form's few other fields.
UPLOAD_MAX_BYTES = IMAGE_MAX_BYTES + 256 * 1024
CONFIRM_PASSWORD = ("Shoppers hold this product in their carts: "  # noqa: S105 - a message
                    "enter your password to deactivate it.")
WRONG_PASSWORD = "That is not your password."  # noqa: S105 - a message


def _actor() -> Actor:
    return Actor(current_user.id, current_user.email)


def _page() -> int:
    try:
        return parse_bounded(request.args.get("page", "1"), 1, MAX_PAGE)
    except (NotAWholeNumber, NotFound):
        abort(404)


def _text_arg(name: str) -> str:
    return request.args.get(name, "")[:SEARCH_MAX_CHARS]


@bp.get("")
def dashboard():  # noqa: ANN201
    return render_template("admin/dashboard.html", low_stock=staff.low_stock_products(),
                           figures=staff.report_figures(), latest=audit.latest(10),
                           order_figures=staff_orders.order_figures())


# Products -----------------------------------------------------------------------------------

@bp.get("/products")
def products():  # noqa: ANN201
    state = request.args.get("state", "")
    state = state if state in staff.PRODUCT_STATES else ""
    query = _text_arg("q")
    listing = staff.list_products(query, state, _page())
    return render_template("admin/products.html", listing=listing, query=query, state=state,
                           states=staff.PRODUCT_STATES)


def _image(form: ProductForm) -> bytes | None:
    """The chosen image's bytes (one more than the limit, so a larger file is refused)."""
    upload = form.image.data
    if not upload or not getattr(upload, "filename", ""):
        return None
    return upload.read(IMAGE_MAX_BYTES + 1)


@bp.route("/products/new", methods=["GET", "POST"])
@upload_limit(UPLOAD_MAX_BYTES)
def new_product():  # noqa: ANN201
    form = ProductForm()
    form.categories.choices = categories.get_tree().choices()
    if form.validate_on_submit():
        try:
            product = staff.create_product(_actor(), form.values(), _image(form))
        except SkuTaken:
            form.sku.errors = ["Another product has this SKU."]
        except ImageRefused as refusal:
            form.image.errors = [refusal.reason]
        else:
            flash(f"Product {product.name} was added.", "success")
            return redirect(url_for("admin.edit_product", product_id=product.id), 303)
    status = 422 if form.is_submitted() else 200
    return render_template("admin/product_form.html", form=form, product=None), status


@bp.route("/products/<id:product_id>/edit", methods=["GET", "POST"])
@upload_limit(UPLOAD_MAX_BYTES)
def edit_product(product_id: int):  # noqa: ANN201
    product = staff.get_product(product_id)
    form = ProductForm(obj=product, stock_seen=product.stock,
                       categories=categories.get_product_category_ids(product_id))
    form.categories.choices = categories.get_tree().choices()
    stock_form = StockForm()
    if form.validate_on_submit() and _deactivation_confirmed(product, form):
        try:
            product = staff.update_product(_actor(), product_id, form.values(), _image(form),
                                           stock_seen=form.stock_seen.data)
        except StockChanged as changed:
            form.stock.errors = [f"The stock changed meanwhile: it is now {changed.stock}. "
                                 "Check it and save again."]
        except SkuTaken:
            form.sku.errors = ["Another product has this SKU."]
        except ImageRefused as refusal:
            form.image.errors = [refusal.reason]
        else:
            flash(f"Product {product.name} was saved.", "success")
            return redirect(url_for("admin.edit_product", product_id=product_id), 303)
    status = 422 if form.is_submitted() else 200
    return _edit_page(product, form, stock_form, status)


def _edit_page(product, form: ProductForm, stock_form: StockForm, status: int = 200):  # noqa: ANN001, ANN202
    return render_template(
        "admin/product_form.html", form=form, product=product, stock_form=stock_form,
        adjustments=staff.list_adjustments(product.id),
        open_carts=staff.count_open_carts(product.id)), status


def _password_confirmed(form, missing: str) -> bool:  # noqa: ANN001
    """The staff member's password typed again on `form` (`missing` when it is empty),
    counted against the same budgets as the account pages' checks."""
    if not form.password.data:
        form.password.errors = [missing]
        return False
    key = str(current_user.id)
    password_checks.spend(key)
    try:
        with failure_counted(failed_reauths, key):
            staff.verify_password(current_user.id, form.password.data)
    except WrongPassword:
        form.password.errors = [WRONG_PASSWORD]
        return False
    return True


def _deactivation_confirmed(product, form: ProductForm) -> bool:  # noqa: ANN001
    """Deactivating a product that shoppers hold in their carts needs the password again."""
    if not product.active or form.active.data or not staff.count_open_carts(product.id):
        return True
    return _password_confirmed(form, CONFIRM_PASSWORD)


@bp.post("/products/<id:product_id>/stock")
def adjust_stock(product_id: int):  # noqa: ANN201
    product = staff.get_product(product_id)
    form = StockForm()
    if form.validate_on_submit():
        try:
            stock = staff.adjust_stock(_actor(), product_id, form.change.data, form.reason.data)
        except StockBelowZero as refusal:
            form.change.errors = [f"The stock is {refusal.stock}: it cannot go below 0."]
        else:
            flash(f"Stock of {product.name} is now {stock}.", "success")
            return redirect(url_for("admin.edit_product", product_id=product_id), 303)
    return _edit_page(product, ProductForm(obj=product, stock_seen=product.stock), form, 422)


@bp.route("/products/import", methods=["GET", "POST"])
@upload_limit(UPLOAD_MAX_BYTES)
def import_products():  # noqa: ANN201
    form = ImportForm()
    problems: list[tuple[int, str]] = []
    if form.validate_on_submit():
        try:
            result = staff.import_products(_actor(), form.file.data.read(UPLOAD_MAX_BYTES))
        except CatalogImportError as error:
            problems = error.problems
        else:
            flash(f"Imported: {result.created} created, {result.updated} updated.", "success")
            return redirect(url_for("admin.products"), 303)
    status = 422 if form.is_submitted() else 200
    return render_template("admin/import.html", form=form, problems=problems), status


# Orders -------------------------------------------------------------------------------------

CONFIRM_CANCEL_PAID = ("This order is paid: enter your password to cancel it "  # noqa: S105
                       "(its stock goes back; pay the shopper back separately).")
ORDER_STATUS_WORDS = {"placed": "Awaiting payment", "paid": "Paid", "shipped": "Shipped",
                      "delivered": "Delivered", "cancelled": "Cancelled"}
ACTION_WORDS = {"paid": "Mark paid", "shipped": "Ship", "delivered": "Mark delivered",
                "cancelled": "Cancel (stock goes back)"}
DONE_WORDS = {"paid": "marked paid", "shipped": "shipped", "delivered": "marked delivered",
              "cancelled": "cancelled; its stock is back"}


def _order_filters() -> tuple[str, str]:
    status = request.args.get("status", "")
    return (status if status in staff_orders.STATUSES else ""), _text_arg("q")


@bp.get("/orders")
def orders_list():  # noqa: ANN201
    """The list; `?format=csv`: the whole filtered list (every page) as a CSV download."""
    status, query = _order_filters()
    if request.args.get("format") == "csv":
        return _orders_csv(status, query)
    return render_template("admin/orders.html", listing=staff_orders.list_orders(
        status, query, _page()), status=status, query=query, statuses=staff_orders.STATUSES,
        words=ORDER_STATUS_WORDS)


def _orders_csv(status: str, query: str) -> Response:
    """The filtered list (the same `status` and `q`, every page) as CSV, from one query."""
    document = "".join(staff_orders.export_csv(status, query))  # one query
    stamp = utcnow().strftime("%Y%m%d-%H%M")
    return Response(document, mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="orders-{stamp}.csv"',
        "Cache-Control": "no-store"})


def _order_page(number: str, form: OrderStatusForm | None = None, status: int = 200):  # noqa: ANN202
    found = staff_orders.get_order(number)
    return render_template(
        "admin/order.html", found=found, order=found.order, form=form or OrderStatusForm(),
        words=ORDER_STATUS_WORDS, actions=ACTION_WORDS,
        instructions=orders.payment_instructions(found.order)), status


def _cancel_confirmed(number: str, form: OrderStatusForm) -> bool:
    """Cancelling a paid order needs the staff member's password again."""
    if form.status.data != orders.CANCELLED:
        return True
    current = staff_orders.get_order(number).order.status
    if current != orders.PAID:
        return True
    return _password_confirmed(form, CONFIRM_CANCEL_PAID)


@bp.route("/orders/<number>", methods=["GET", "POST"])
def order(number: str):  # noqa: ANN201
    if request.method == "GET":
        return _order_page(number)
    form = OrderStatusForm()
    staff_orders.get_order(number)  # 404 before anything else for an unknown order
    if not (form.validate_on_submit() and _cancel_confirmed(number, form)):
        return _order_page(number, form, 422)
    to_status = form.status.data
    try:
        staff_orders.change_status(_actor(), number, to_status, form.tracking.data or None)
    except ImpossibleTransition as error:
        flash(f"Order {error.number} cannot become {ORDER_STATUS_WORDS[error.wanted].lower()}: "
              f"it is {ORDER_STATUS_WORDS[error.current].lower()}.", "error")
        return _order_page(number, OrderStatusForm(formdata=None), 409)
    flash(f"Order {number} was {DONE_WORDS[to_status]}. The shopper is told by e-mail.",
          "success")
    return redirect(url_for("admin.order", number=number), 303)


# Customers ----------------------------------------------------------------------------------

@bp.get("/customers")
def customers():  # noqa: ANN201
    query = _text_arg("q")
    return render_template("admin/customers.html", listing=staff.list_customers(query, _page()),
                           query=query)


@bp.get("/customers/<id:user_id>")
def customer(user_id: int):  # noqa: ANN201
    return render_template("admin/customer.html", customer=staff.get_customer(user_id),
                           form=ButtonForm(), now=utcnow())


def _button_post() -> None:
    if not ButtonForm().validate_on_submit():
        abort(400)


@bp.post("/customers/<id:user_id>/sessions/<id:session_id>/revoke")
def revoke_customer_session(user_id: int, session_id: int):  # noqa: ANN201
    _button_post()
    ended = staff.revoke_customer_sessions(_actor(), user_id, session_id)
    flash("The session was ended." if ended else "That session had already ended.", "success")
    return redirect(url_for("admin.customer", user_id=user_id), 303)


@bp.post("/customers/<id:user_id>/sessions/revoke-all")
def revoke_customer_sessions(user_id: int):  # noqa: ANN201
    _button_post()
    ended = staff.revoke_customer_sessions(_actor(), user_id)
    flash(f"{ended} session(s) ended.", "success")
    return redirect(url_for("admin.customer", user_id=user_id), 303)


@bp.post("/customers/<id:user_id>/disable")
def disable_customer(user_id: int):  # noqa: ANN201
    _button_post()
    try:
        staff.set_customer_disabled(_actor(), user_id, True)
    except SelfDisable:
        flash("You cannot disable your own account.", "error")
        return redirect(url_for("admin.customer", user_id=user_id), 303)
    flash("The account was disabled and its sessions ended.", "success")
    return redirect(url_for("admin.customer", user_id=user_id), 303)


@bp.post("/customers/<id:user_id>/enable")
def enable_customer(user_id: int):  # noqa: ANN201
    _button_post()
    staff.set_customer_disabled(_actor(), user_id, False)
    flash("The account was enabled.", "success")
    return redirect(url_for("admin.customer", user_id=user_id), 303)


# Audit --------------------------------------------------------------------------------------

@bp.get("/audit")
def audit_log():  # noqa: ANN201
    filters = {name: _text_arg(name) for name in ("object_type", "action", "actor", "object_id")}
    return render_template("admin/audit.html", listing=audit.list_events(_page(), **filters),
                           filters=filters)

