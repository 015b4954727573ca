"""Administration: staff users and their roles, regions, the audit log and the mail outbox."""

from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from portal.core import operations as ops
from portal.core.db import db
from portal.core.forms import EditUserForm, RegionForm, StaffUserForm
from portal.core.models import AuditLog, OutboxMessage, Region, Role, User
from portal.core.nav import register_nav
from portal.core.permissions import roles_required
from portal.core.time import start_of_day_utc

bp = Blueprint("admin", __name__, url_prefix="/admin")

register_nav("admin.users", _l("Users"), [Role.ADMIN], order=900, group="admin")
register_nav("admin.regions", _l("Regions"), [Role.ADMIN], order=910, group="admin")
register_nav("admin.audit", _l("Audit log"), [Role.ADMIN], order=920, group="admin")
register_nav("admin.outbox", _l("Outbox"), [Role.ADMIN], order=930, group="admin")

PAGE_SIZE = 50


def _region_choices():
    return [(r.id, f"{r.code} {r.name_zh} / {r.name_en}")
            for r in db.session.scalars(sa.select(Region).order_by(Region.code))]


@bp.route("/users")
@roles_required(Role.ADMIN)
def users():
    q = (request.args.get("q") or "").strip().lower()
    role = request.args.get("role") or ""
    stmt = sa.select(User).order_by(User.role, User.email)
    if q:
        stmt = stmt.where(sa.or_(User.email.contains(q), sa.func.lower(User.name).contains(q)))
    if role in {r.value for r in Role}:  # "users by role" (admin dashboard): the enabled ones
        stmt = stmt.where(User.role == role, User.is_enabled.is_(True))
    rows = db.session.scalars(stmt.limit(500)).all()
    return render_template("admin/users.html", users=rows, q=q, role=role, roles=list(Role))


@bp.route("/users/new", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def new_user():
    form = StaffUserForm(region_choices=_region_choices())
    if form.validate_on_submit():
        try:
            ops.create_user(form.email.data, form.name.data, Role(form.role.data), form.password.data,
                            region_ids=form.regions.data)
        except ops.OperationError as exc:
            db.session.rollback()
            form.email.errors.append(str(exc))
        else:
            db.session.commit()
            flash(_("The user was created. They enrol in two-factor sign-in at their first sign-in."),
                  "success")
            return redirect(url_for("admin.users"))
    return render_template("admin/user_new.html", form=form)


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def edit_user(user_id: int):
    user = db.session.get(User, user_id) or abort(404)
    form = EditUserForm(region_choices=_region_choices(), agency_user=user.is_agency_user,
                        data={"role": user.role.value, "regions": [r.id for r in user.regions],
                              "enabled": user.is_enabled})
    if form.validate_on_submit():
        try:
            if form.role.data != user.role.value or sorted(form.regions.data) != sorted(user.region_ids):
                ops.change_role(user, Role(form.role.data), form.regions.data)
            if form.enabled.data != user.is_enabled:
                ops.set_enabled(user, form.enabled.data)
        except ops.OperationError as exc:
            db.session.rollback()
            form.role.errors.append(str(exc))
        else:
            db.session.commit()
            flash(_("Saved."), "success")
            return redirect(url_for("admin.edit_user", user_id=user.id))
    history = db.session.scalars(
        sa.select(AuditLog).where(AuditLog.object_type == "users", AuditLog.object_id == str(user.id))
        .order_by(AuditLog.id.desc()).limit(50)
    ).all()
    return render_template("admin/user_edit.html", user=user, form=form, history=history)


@bp.route("/regions", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def regions():
    form = RegionForm()
    if form.validate_on_submit():
        code = form.code.data.strip().upper()
        if db.session.scalar(sa.select(Region).where(Region.code == code)):
            form.code.errors.append(_("This code is already used."))
        else:
            ops.create_region(code, form.name_zh.data.strip(), form.name_en.data.strip())
            db.session.commit()
            flash(_("Saved."), "success")
            return redirect(url_for("admin.regions"))
    rows = db.session.scalars(sa.select(Region).order_by(Region.code)).all()
    return render_template("admin/regions.html", regions=rows, form=form)


@bp.route("/audit")
@roles_required(Role.ADMIN)
def audit():
    """The audit log, newest first, filtered by action, object, actor and dates; keyset paging."""
    args = request.args
    stmt = sa.select(AuditLog).order_by(AuditLog.id.desc())
    if args.get("action"):
        stmt = stmt.where(AuditLog.action.startswith(args["action"].strip()))
    if args.get("object_type"):
        stmt = stmt.where(AuditLog.object_type == args["object_type"].strip())
    if args.get("object_id"):
        stmt = stmt.where(AuditLog.object_id == args["object_id"].strip())
    if args.get("actor"):
        stmt = stmt.where(AuditLog.actor_label.contains(args["actor"].strip().lower()))
    try:
        if args.get("since"):
            stmt = stmt.where(AuditLog.created_at >= start_of_day_utc(date.fromisoformat(args["since"])))
        if args.get("until"):
            stmt = stmt.where(AuditLog.created_at < start_of_day_utc(
                date.fromisoformat(args["until"]) + timedelta(days=1)))
        before = int(args["before"]) if args.get("before") else None
    except ValueError:
        abort(400)
    if before:
        stmt = stmt.where(AuditLog.id < before)
    rows = db.session.scalars(stmt.limit(PAGE_SIZE + 1)).all()
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    next_args = None
    if more:
        next_args = {k: v for k, v in args.items() if k != "before"} | {"before": rows[-1].id}
    return render_template("admin/audit.html", rows=rows, next_args=next_args, args=args)


@bp.route("/outbox")
@roles_required(Role.ADMIN)
def outbox():
    rows = db.session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(200)).all()
    return render_template("admin/outbox.html", rows=rows)
