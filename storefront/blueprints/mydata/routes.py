"""The shopper's picture and own data. The download is a POST with the form's CSRF token, so
no other site can make a browser fetch it."""

from __future__ import annotations

import json

from flask import Response, flash, redirect, render_template, url_for
from flask_login import current_user, login_required

from storefront import avatars, data_export
from storefront.blueprints.mydata import bp
from storefront.blueprints.mydata.forms import AvatarForm, ButtonForm
from storefront.exceptions import ImageRefused
from storefront.media import AVATAR_MAX_BYTES
from storefront.request_guard import upload_limit

# The upload form's body: the picture and the form's token.
UPLOAD_MAX_BYTES = AVATAR_MAX_BYTES + 64 * 1024


@bp.before_request
@login_required
def require_login() -> None:
    """Every page here needs a signed-in shopper."""


@bp.route("/avatar", methods=["GET", "POST"])
@upload_limit(UPLOAD_MAX_BYTES)
def avatar():  # noqa: ANN201
    form = AvatarForm()
    if form.validate_on_submit():
        data = form.avatar.data.read(AVATAR_MAX_BYTES + 1)
        try:
            avatars.set_avatar(current_user.id, data)
        except ImageRefused as refusal:
            form.avatar.errors = [refusal.reason]
        else:
            flash("Your picture was saved.", "success")
            return redirect(url_for("mydata.avatar"), 303)
    status = 422 if form.is_submitted() else 200
    return render_template("mydata/avatar.html", form=form, delete_form=ButtonForm()), status


@bp.post("/avatar/delete")
def delete_avatar():  # noqa: ANN201
    if avatars.remove_avatar(current_user.id):
        flash("Your picture was removed.", "success")
    else:
        flash("You have no picture.", "info")
    return redirect(url_for("mydata.avatar"), 303)


@bp.route("/data", methods=["GET", "POST"])
def data():  # noqa: ANN201
    form = ButtonForm()
    export = data_export.export_account(current_user.id)
    if form.validate_on_submit():
        body = json.dumps(export, ensure_ascii=False, indent=2)
        return Response(body, mimetype="application/json", headers={
            "Content-Disposition": 'attachment; filename="my-storefront-data.json"'})
    return render_template("mydata/data.html", form=form,
                           summary=data_export.summarize(export), export=export)
