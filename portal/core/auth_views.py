"""Sign-in, two-factor, sign-out and password reset pages."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from portal.core import operations as ops
from portal.core.db import db
from portal.core.extensions import limiter
from portal.core.forms import EmptyForm, NewPasswordForm, ResetRequestForm, SignInForm, TotpForm
from portal.core.models import User
from portal.core.notify import queue_email
from portal.core.permissions import public, signed_in
from portal.core.security import (
    make_signed_token,
    new_totp_secret,
    password_fingerprint,
    read_signed_token,
    totp_qr_svg,
    totp_uri,
)

bp = Blueprint("auth", __name__)

PENDING_KEY = "pending_2fa_user"
ENROL_SECRET_KEY = "pending_totp_secret"  # noqa: S105 - the name of a session key, not a secret
PENDING_MAX_AGE_S = 300  # the second step must follow the password within five minutes


def is_safe_next(target: str | None) -> bool:
    """Only local paths: '/x' yes; '//evil', 'http://evil', '/\\evil', 'javascript:' no."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc


def _login_rate_limit():
    return current_app.config["RATELIMIT_LOGIN"]


def _finish_sign_in(user: User, next_url: str | None):
    session.clear()  # no session fixation: nothing from before the sign-in survives
    ops.record_sign_in(user)
    db.session.commit()
    login_user(user)
    session["locale_user"] = user.locale
    return redirect(next_url if is_safe_next(next_url) else url_for("core.home"))


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_rate_limit, methods=["POST"])
@public
def login():
    if current_user.is_authenticated:
        return redirect(url_for("core.home"))
    form = SignInForm()
    next_url = request.args.get("next")
    if form.validate_on_submit():
        result, user = ops.check_password_sign_in(form.email.data, form.password.data)
        db.session.commit()
        if result == ops.SignInResult.OK:
            if user.is_staff:
                session.clear()
                session[PENDING_KEY] = {"id": user.id, "v": user.session_version, "at": int(time.time()),
                                        "next": next_url if is_safe_next(next_url) else None}
                if user.totp_enabled:
                    return redirect(url_for("auth.two_factor"))
                return redirect(url_for("auth.enrol_two_factor"))
            return _finish_sign_in(user, next_url)
        if result == ops.SignInResult.LOCKED:
            flash(_("Too many failed attempts. The account is locked for %(minutes)d minutes.",
                    minutes=current_app.config["LOGIN_LOCKOUT_MINUTES"]), "danger")
        elif result == ops.SignInResult.DISABLED:
            flash(_("This account may not sign in."), "danger")
        else:
            flash(_("Wrong e-mail or password."), "danger")
    return render_template("core/login.html", form=form), 200


def _pending_user() -> User | None:
    pending = session.get(PENDING_KEY)
    if not pending:
        return None
    if time.time() - pending.get("at", 0) > PENDING_MAX_AGE_S:
        session.pop(PENDING_KEY, None)
        session.pop(ENROL_SECRET_KEY, None)
        flash(_("The sign-in took too long. Enter your e-mail and password again."), "warning")
        return None
    user = db.session.get(User, pending["id"])
    if user is None or user.session_version != pending["v"] or not user.is_staff:
        return None
    return user


@bp.route("/login/two-factor", methods=["GET", "POST"])
@limiter.limit(_login_rate_limit, methods=["POST"])
@public
def two_factor():
    user = _pending_user()
    if user is None:
        return redirect(url_for("auth.login"))
    if not user.totp_enabled:
        return redirect(url_for("auth.enrol_two_factor"))
    form = TotpForm()
    if form.validate_on_submit():
        if ops.is_locked(user):
            db.session.rollback()
            flash(_("Too many failed attempts. The account is locked for %(minutes)d minutes.",
                    minutes=current_app.config["LOGIN_LOCKOUT_MINUTES"]), "danger")
            return redirect(url_for("auth.login"))
        if ops.check_totp(user, form.code.data):
            next_url = session.get(PENDING_KEY, {}).get("next")
            return _finish_sign_in(user, next_url)
        db.session.commit()
        flash(_("That code is not valid. Use the current code from your authenticator app."), "danger")
    return render_template("core/two_factor.html", form=form)


@bp.route("/login/enrol", methods=["GET", "POST"])
@limiter.limit(_login_rate_limit, methods=["POST"])
@public
def enrol_two_factor():
    user = _pending_user()
    if user is None:
        return redirect(url_for("auth.login"))
    if user.totp_enabled:
        return redirect(url_for("auth.two_factor"))
    secret = session.get(ENROL_SECRET_KEY)
    if not secret:
        secret = new_totp_secret()
        session[ENROL_SECRET_KEY] = secret
    form = TotpForm()
    if form.validate_on_submit():
        user.totp_secret = secret
        if ops.check_totp(user, form.code.data):
            ops.enrol_totp(user, secret)
            next_url = session.get(PENDING_KEY, {}).get("next")
            return _finish_sign_in(user, next_url)
        db.session.rollback()
        flash(_("That code is not valid. Use the current code from your authenticator app."), "danger")
    uri = totp_uri(secret, user.email)
    return render_template("core/enrol.html", form=form, qr_svg=totp_qr_svg(uri), secret=secret)


@bp.route("/logout", methods=["POST"])
@public
def logout():
    form = EmptyForm()
    if not form.validate_on_submit():
        abort(400)
    logout_user()
    session.clear()
    flash(_("You have signed out."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/password/forgot", methods=["GET", "POST"])
@limiter.limit(_login_rate_limit, methods=["POST"])
@public
def forgot_password():
    form = ResetRequestForm()
    if form.validate_on_submit():
        user = ops.get_user_by_email(form.email.data)
        if user is not None and user.is_enabled:
            token = make_signed_token("reset", {"id": user.id, "h": password_fingerprint(user.password_hash)})
            link = current_app.config["PORTAL_BASE_URL"].rstrip("/") + url_for(
                "auth.reset_password", token=token)
            from flask_babel import force_locale

            with force_locale(user.locale or "zh_Hans_CN"):
                queue_email(
                    user.email,
                    _("Reset your agent portal password"),
                    _("Open this link within one hour to choose a new password:") + "\n\n" + link,
                )
            db.session.commit()
        flash(_("If the address belongs to an account, a reset link is on its way."), "info")
        return redirect(url_for("auth.login"))
    return render_template("core/forgot.html", form=form)


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
@public
def reset_password(token: str):
    payload = read_signed_token("reset", token, current_app.config["PASSWORD_RESET_MAX_AGE"])
    user = db.session.get(User, payload["id"]) if isinstance(payload, dict) else None
    if user is None or password_fingerprint(user.password_hash) != payload.get("h"):
        flash(_("This reset link is invalid or has expired. Ask for a new one."), "danger")
        return redirect(url_for("auth.forgot_password"))
    form = NewPasswordForm(email=user.email)
    if form.validate_on_submit():
        ops.set_password(user, form.password.data)
        db.session.commit()
        flash(_("Your password was changed. Sign in with the new password."), "success")
        return redirect(url_for("auth.login"))
    return render_template("core/reset.html", form=form)


@bp.route("/account/sign-out-everywhere", methods=["POST"])
@signed_in
def sign_out_everywhere():
    form = EmptyForm()
    if not form.validate_on_submit():
        abort(400)
    ops.sign_out_everywhere(current_user._get_current_object())
    db.session.commit()
    logout_user()
    session.clear()
    flash(_("You were signed out on every device."), "info")
    return redirect(url_for("auth.login"))
