"""The load benchmark's reference routes (bench/load.py), served by the same gunicorn as the real
pages: the floor (one indexed query returning 50 rows, rendered in a 50-row table) and hello-world.
Registered only when PORTAL_BENCH_FLOOR=1 (never in production)."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, render_template

from portal.core.db import db
from portal.core.permissions import public

bp = Blueprint("bench_floor", __name__)

_agencies = sa.table("agencies", sa.column("id"), sa.column("code"), sa.column("name"), sa.column("status"))


@bp.route("/bench/floor")
@public
def floor():
    rows = db.session.execute(
        sa.select(_agencies.c.id, _agencies.c.code, _agencies.c.name, _agencies.c.status)
        .order_by(_agencies.c.id).limit(50)
    ).all()
    return render_template("core/bench_floor.html", rows=rows)


@bp.route("/bench/hello")
@public
def hello():
    return "hello world"
