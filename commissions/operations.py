"""The verbs of the commission feature in one place (each flushes and writes the audit log;
callers commit). The work itself lives in the modules named below."""

from __future__ import annotations

from commissions.attribution import attribute_pending, resolve_conflict  # noqa: F401
from commissions.calculation import period_of
from commissions.disputes import DisputeError, accept_dispute, open_dispute, reject_dispute  # noqa: F401
from commissions.engine import RunRefused, run_period  # noqa: F401
from commissions.i18n import gettext as _
from commissions.models import Component, Line
from commissions.periods import PeriodError, close_period, ensure_period, first_open_period  # noqa: F401
from commissions.plans import PlanError, load_toml, save_multiplier, save_rule, save_settings  # noqa: F401
from commissions.statements import (  # noqa: F401
    StatementError,
    approve_period,
    approve_statement,
    mark_paid,
    mark_unpaid,
    publish_period,
)
from portal.core.audit import record
from portal.core.db import db
from portal.core.time import today_shanghai


def add_adjustment(agency, amount_fen: int, reason: str, user=None, period: str | None = None) -> Line:
    """A correction finance enters by hand (component `adjustment`), in the first open period from
    today's month (or from `period`)."""
    reason = (reason or "").strip()
    if not reason:
        raise PeriodError(_("Give the reason of the adjustment."))
    if not amount_fen:
        raise PeriodError(_("The adjustment must not be zero."))
    today = today_shanghai()
    target = first_open_period(max(period or period_of(today), period_of(today)) if period is None
                               else period)
    ensure_period(target)
    line = Line(period=target, source_period=target, agency_id=agency.id, order_id=None,
                component=Component.ADJUSTMENT, accrual_date=today, amount_fen=amount_fen, computed=False,
                note=reason, created_by_id=getattr(user, "id", None))
    db.session.add(line)
    db.session.flush()
    record("commissions.adjustment_added", line, after={"agency": agency.code, "amount_fen": amount_fen,
                                                        "period": target, "reason": reason})
    return line
