"""Home, health check, language switch, notifications and the account page."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, jsonify, redirect, render_template, request, session, url_for
from flask_login import current_user

from portal.core import operations as ops
from portal.core.auth_views import is_safe_next
from portal.core.db import db, utcnow
from portal.core.forms import EmptyForm
from portal.core.i18n import LOCALES, normalise_locale
from portal.core.models import Notification
from portal.core.nav import panels_for
from portal.core.notify import render_notification
from portal.core.permissions import public, signed_in

bp = Blueprint("core", __name__)


@bp.route("/")
@public
def home():
    if not current_user.is_authenticated:
        return render_template("core/landing.html")
    return render_template("core/home.html", panels=panels_for(current_user))


@bp.route("/healthz")
@public
def healthz():
    try:
        db.session.execute(sa.text("SELECT 1"))
        database = "ok"
    except sa.exc.SQLAlchemyError:
        database = "error"
    status = 200 if database == "ok" else 503
    return jsonify({"status": "ok" if status == 200 else "error", "database": database}), status


@bp.route("/language", methods=["POST"])
@public
def set_language():
    form = EmptyForm()
    if not form.validate_on_submit():
        abort(400)
    locale = normalise_locale(request.form.get("locale"))
    if locale not in LOCALES:
        abort(400)
    session["locale"] = locale
    if current_user.is_authenticated:
        ops.set_locale(current_user._get_current_object(), locale)
        db.session.commit()
    target = request.form.get("next")
    return redirect(target if is_safe_next(target) else url_for("core.home"))


@bp.route("/notifications")
@signed_in
def notifications():
    rows = db.session.scalars(
        sa.select(Notification).where(Notification.user_id == current_user.id)
        .order_by(Notification.id.desc()).limit(200)
    ).all()
    items = [(n, render_notification(n.kind, n.params)) for n in rows]
    return render_template("core/notifications.html", items=items, form=EmptyForm())


@bp.route("/notifications/<int:notification_id>/open", methods=["POST"])
@signed_in
def open_notification(notification_id: int):
    form = EmptyForm()
    if not form.validate_on_submit():
        abort(400)
    note = db.session.scalar(sa.select(Notification).where(
        Notification.id == notification_id, Notification.user_id == current_user.id))
    if note is None:
        abort(404)
    if note.read_at is None:
        note.read_at = utcnow()
        db.session.commit()
    return redirect(note.link if is_safe_next(note.link) else url_for("core.notifications"))


@bp.route("/notifications/read-all", methods=["POST"])
@signed_in
def read_all_notifications():
    form = EmptyForm()
    if not form.validate_on_submit():
        abort(400)
    db.session.execute(
        sa.update(Notification).where(Notification.user_id == current_user.id,
                                      Notification.read_at.is_(None)).values(read_at=utcnow())
    )
    db.session.commit()
    return redirect(url_for("core.notifications"))


@bp.route("/account")
@signed_in
def account():
    return render_template("core/account.html", form=EmptyForm())
