"""The signed-in shopper's own area. Every object is reached through current_user.id."""

from __future__ import annotations

import logging

from flask import current_app, flash, jsonify, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required

from storefront import accounts, passkeys
from storefront.auth_setup import signed_in_recently, start_session
from storefront.blueprints.account import bp
from storefront.blueprints.account.forms import (
    DeleteAccountForm,
    EmailChangeForm,
    PasswordForm,
    ProfileForm,
    ResendVerificationForm,
)
from storefront.exceptions import (
    AlreadyVerified,
    EmailTaken,
    EmailUnchanged,
    IdentityConflict,
    LastSignInMethod,
    WrongPassword,
)
from storefront.models import OAuthIdentity
from storefront.rate_limits import (
    failed_reauths,
    failure_counted,
    password_checks,
    verification_resends,
)
from storefront.request_guard import accepts_json

log = logging.getLogger(__name__)
WRONG_PASSWORD = "That is not your current password."  # noqa: S105 - a message


@bp.before_request
@login_required
def require_login() -> None:
    """Every page here needs a signed-in shopper; anonymous visitors go to sign in."""


def _password_recheck():  # noqa: ANN202
    """Budgets for a POST that re-checks the password: every check counts (a slow hash), and
    a wrong password counts again, apart from sign-in's budget."""
    key = str(current_user.id)
    password_checks.spend(key)
    return failure_counted(failed_reauths, key)


def _without_password(form):  # noqa: ANN001, ANN202
    """An account with no password confirms by a recent sign-in instead: its form has no
    password field. Returns (form, True when the account has no password). Read from the
    user the session look-up loaded: no query of its own (a page keeps its two trips)."""
    if current_user.password_hash is not None:
        return form, False
    del form.password
    return form, True


def _overview(delete_form: DeleteAccountForm, status: int = 200):  # noqa: ANN202
    profile = accounts.get_profile(current_user.id)
    return render_template(
        "account/overview.html", profile=profile, delete_form=delete_form,
        resend_form=ResendVerificationForm(), fresh_sign_in=signed_in_recently(),
    ), status


@bp.get("")
def overview():  # noqa: ANN201
    return _overview(_without_password(DeleteAccountForm())[0])


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
def password():  # noqa: ANN201
    form = PasswordForm(account_email=current_user.email)
    if form.validate_on_submit():
        try:
            with _password_recheck():
                signed = accounts.change_password(
                    current_user.id, current_user.session_id,
                    form.current_password.data, form.new_password.data,
                )
        except WrongPassword:
            form.current_password.errors.append(WRONG_PASSWORD)
        else:
            start_session(signed)
            flash("Your password was changed. Your other sessions were signed out.", "success")
            return redirect(url_for("account.overview"), 303)
    status = 422 if form.is_submitted() else 200
    return render_template("account/password.html", form=form), status


@bp.get("/sessions")
def sessions():  # noqa: ANN201
    rows = accounts.list_sessions(current_user.id)
    return render_template("account/sessions.html", sessions=rows)


@bp.post("/sessions/<id:session_id>/revoke")
def revoke_session(session_id: int):  # noqa: ANN201
    accounts.revoke_session(current_user.id, session_id)
    if session_id == current_user.session_id:
        session.clear()
        flash("This session was ended. Sign in again to continue.", "info")
        return redirect(url_for("auth.login"), 303)
    flash("The session was signed out.", "success")
    return redirect(url_for("account.sessions"), 303)


@bp.post("/delete")
def delete():  # noqa: ANN201
    form, passwordless = _without_password(DeleteAccountForm())
    if form.validate_on_submit():
        try:
            if passwordless:
                if not signed_in_recently():
                    return _overview(form, 422)
                accounts.delete_account(current_user.id, None)
            else:
                with _password_recheck():
                    accounts.delete_account(current_user.id, form.password.data)
        except WrongPassword:
            if "password" in form:
                form.password.errors.append(WRONG_PASSWORD)
        else:
            session.clear()
            flash("Your account and everything it held were deleted.", "info")
            return redirect(url_for("catalog.index"), 303)
    return _overview(form, 422)


@bp.post("/verify/resend")
def resend_verification():  # noqa: ANN201
    verification_resends.spend(str(current_user.id))
    try:
        accounts.resend_verification(current_user.id)
    except AlreadyVerified:
        flash("Your e-mail address is already verified.", "info")
    else:
        flash(f"We sent a new confirmation link to {current_user.email}.", "success")
    return redirect(url_for("account.overview"), 303)


@bp.route("/email", methods=["GET", "POST"])
def email():  # noqa: ANN201
    form, passwordless = _without_password(EmailChangeForm())
    if form.validate_on_submit() and (not passwordless or signed_in_recently()):
        try:
            if passwordless:
                accounts.request_email_change(current_user.id, None, form.new_email.data)
            else:
                with _password_recheck():
                    accounts.request_email_change(current_user.id, form.password.data,
                                                  form.new_email.data)
        except WrongPassword:
            if "password" in form:
                form.password.errors.append(WRONG_PASSWORD)
        except EmailUnchanged:
            form.new_email.errors.append("This is already your e-mail address.")
        except EmailTaken:
            form.new_email.errors.append("This address cannot be used for your account.")
        else:
            flash(f"We sent a link to {form.new_email.data}. Your address changes when you "
                  "open it; until then it stays as it is.", "success")
            return redirect(url_for("account.overview"), 303)
    status = 422 if form.is_submitted() else 200
    return render_template("account/email.html", form=form,
                           fresh_sign_in=signed_in_recently()), status


# Sign-in methods: passkeys and providers (issue 18) -------------------------------------------

PASSKEY_REGISTRATION_KEY = "passkey_registration"


def _json_error(message: str, status: int = 400):  # noqa: ANN202
    return jsonify(error=message), status


@bp.get("/security")
def security():  # noqa: ANN201
    methods = accounts.sign_in_methods(current_user.id)
    return render_template("account/security.html", methods=methods)


@bp.post("/security/passkeys/options")
@accepts_json
def passkey_options():  # noqa: ANN201
    """Options for adding a passkey (JSON); the challenge waits in the session, once."""
    options, challenge = passkeys.registration_options(current_user)
    session[PASSKEY_REGISTRATION_KEY] = passkeys.new_challenge_record(challenge)
    return current_app.response_class(options, mimetype="application/json")


@bp.post("/security/passkeys")
@accepts_json
def passkey_register():  # noqa: ANN201
    """Keep a new passkey: JSON `{"name": "...", "credential": {...}}` (X-CSRFToken)."""
    record = session.pop(PASSKEY_REGISTRATION_KEY, None)  # used once, whatever follows
    body = request.get_json(silent=True)
    try:
        credential = passkeys.parse_credential(body)
        challenge = passkeys.challenge_of(record)
        name = body.get("name") if isinstance(body.get("name"), str) else ""
        passkey = passkeys.add_passkey(current_user.id, credential, challenge, name)
    except passkeys.PasskeyRefused as error:
        log.info("passkey registration refused: %s", error)
        return _json_error("This passkey could not be added. Please try again.")
    except IdentityConflict:
        return _json_error("This passkey is registered already.", 409)
    flash(f"Your passkey “{passkey.name}” was added.", "success")
    return jsonify(ok=True, redirect=url_for("account.security"))


@bp.post("/security/passkeys/<id:passkey_id>/remove")
def remove_passkey(passkey_id: int):  # noqa: ANN201
    try:
        passkeys.remove_passkey(current_user.id, passkey_id)
    except LastSignInMethod:
        flash("This passkey is your only way to sign in: add another passkey, link a "
              "provider or set a password first.", "error")
        return redirect(url_for("account.security"), 303)
    flash("The passkey was removed.", "success")
    return redirect(url_for("account.security"), 303)


@bp.post("/security/providers/<id:identity_id>/unlink")
def unlink_provider(identity_id: int):  # noqa: ANN201
    try:
        accounts.remove_sign_in_method(current_user.id, OAuthIdentity, identity_id)
    except LastSignInMethod:
        flash("This provider is your only way to sign in: add a passkey or set a password "
              "first.", "error")
        return redirect(url_for("account.security"), 303)
    flash("The provider was unlinked. It no longer signs you in.", "success")
    return redirect(url_for("account.security"), 303)
