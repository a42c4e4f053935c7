"""The signed-in shopper's own area. Every object is reached through current_user.id."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, session, url_for
from flask_login import current_user, login_required

from storefront import accounts
from storefront.auth_setup import start_session
from storefront.blueprints.account import bp
from storefront.blueprints.account.forms import DeleteAccountForm, PasswordForm, ProfileForm
from storefront.exceptions import NotFound, WrongPassword
from storefront.rate_limits import failed_reauths, note_failed_reauth

WRONG_PASSWORD = "That is not your current password."  # noqa: S105 - a message


@bp.before_request
@login_required
def require_login() -> None:
    """Every page here needs a signed-in shopper; anonymous visitors go to sign in."""


def _overview(delete_form: DeleteAccountForm, status: int = 200):  # noqa: ANN202
    profile = accounts.get_profile(current_user.id)
    return render_template(
        "account/overview.html", profile=profile, delete_form=delete_form
    ), status


@bp.get("")
def overview():  # noqa: ANN201
    return _overview(DeleteAccountForm())


@bp.route("/profile", methods=["GET", "POST"])
def profile():  # noqa: ANN201
    current = accounts.get_profile(current_user.id)
    form = ProfileForm(obj=current)
    if form.validate_on_submit():
        accounts.update_profile(current_user.id, form.data)
        flash("Your profile was saved.", "success")
        return redirect(url_for("account.profile"), 303)
    status = 422 if form.is_submitted() else 200
    return render_template("account/profile.html", form=form), status


@bp.route("/password", methods=["GET", "POST"])
@failed_reauths
def password():  # noqa: ANN201
    form = PasswordForm()
    if form.validate_on_submit():
        try:
            token = accounts.change_password(
                current_user.id, current_user.session_id,
                form.current_password.data, form.new_password.data,
            )
        except WrongPassword:
            note_failed_reauth()
            form.current_password.errors.append(WRONG_PASSWORD)
        else:
            start_session(accounts.SignedIn(
                current_user._get_current_object(), token, current_user.session_id,
                current_user.session_remember,
            ))
            flash("Your password was changed. Your other sessions were signed out.", "success")
            return redirect(url_for("account.overview"), 303)
    status = 422 if form.is_submitted() else 200
    return render_template("account/password.html", form=form), status


@bp.get("/sessions")
def sessions():  # noqa: ANN201
    rows = accounts.list_sessions(current_user.id)
    return render_template("account/sessions.html", sessions=rows)


@bp.post("/sessions/<int(min=1, max=2147483647):session_id>/revoke")
def revoke_session(session_id: int):  # noqa: ANN201
    try:
        accounts.revoke_session(current_user.id, session_id)
    except NotFound:
        abort(404)
    if session_id == current_user.session_id:
        session.clear()
        flash("This session was ended. Sign in again to continue.", "info")
        return redirect(url_for("auth.login"), 303)
    flash("The session was signed out.", "success")
    return redirect(url_for("account.sessions"), 303)


@bp.post("/delete")
@failed_reauths
def delete():  # noqa: ANN201
    form = DeleteAccountForm()
    if form.validate_on_submit():
        try:
            accounts.delete_account(current_user.id, form.password.data)
        except WrongPassword:
            note_failed_reauth()
            form.password.errors.append(WRONG_PASSWORD)
        else:
            session.clear()
            flash("Your account and everything it held were deleted.", "info")
            return redirect(url_for("catalog.index"), 303)
    return _overview(form, 422)
