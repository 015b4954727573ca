"""The ledger engine: a deterministic, set-based recompute of one open period (SPEC §5.4, §5.5).

`run_period(P)`:
1. refuse a period at or before the last closed one (it counts as closed) or with approved/paid
   statements, then lock the period row (SELECT … FOR UPDATE; SQLite serialises writers) and check
   again; open disputes do not refuse a run (they are re-linked to the recomputed lines);
2. attribute pending activations (commissions.attribution);
3. delete the period's computed lines and its statements;
4. fill the scratch table of multipliers (agency × accrual date) from the grade history;
5. INSERT … SELECT the one_off, referral, share and clawback lines — scaled-integer arithmetic,
   rounded half-up to the fen exactly like commissions.calculation, exact NUMERIC/Python integers
   where a 64-bit product could overflow; zero lines are not written;
   when P is the period right after the last closed one, lines whose source period is closed and
   that were never written are written into P, keeping their source period, and a share whose paid
   amount changed after its month closed gets a correction line of the difference;
6. make the statements, and bring the statements of later, already computed periods in line with
   the new carried balances (the carry-forward chain).
Nothing is done per order: a handful of statements whatever the volume.
"""

from __future__ import annotations

import bisect
import time
from collections import defaultdict

import sqlalchemy as sa

from commissions.attribution import attribute_pending
from commissions.calculation import (
    next_period,
    parse_period,
    period_bounds,
    period_number,
)
from commissions.models import (
    MULT_SCALE,
    RATE_SCALE,
    AgencyDayMultiplier,
    Attribution,
    AttributionKind,
    Dispute,
    DisputeStatus,
    GradeMultiplier,
    Line,
    Period,
    PeriodStatus,
    Statement,
    StatementStatus,
)
from commissions.periods import PeriodError, last_closed_period, lock_period
from commissions.statements import build_statements, refresh_statements
from portal.core.audit import record
from portal.core.db import db, utcnow
from portal.partners.models import AgencyGrade

ONE = MULT_SCALE  # multiplier 1.00 when an agency has no grade or the grade no multiplier


class _Sql:
    """The few expressions that differ between SQLite and PostgreSQL."""

    def __init__(self, dialect: str):
        self.pg = dialect == "postgresql"

    def month_num(self, col: str) -> str:
        if self.pg:
            return f"(CAST(EXTRACT(YEAR FROM {col}) AS INTEGER) * 12 + CAST(EXTRACT(MONTH FROM {col}) AS INTEGER) - 1)"
        return f"(CAST(strftime('%Y', {col}) AS INTEGER) * 12 + CAST(strftime('%m', {col}) AS INTEGER) - 1)"

    def period_of(self, col: str) -> str:
        return f"to_char({col}, 'YYYY-MM')" if self.pg else f"strftime('%Y-%m', {col})"

    def day_text(self, col: str) -> str:
        return f"to_char({col}, 'YYYY-MM-DD')" if self.pg else f"CAST({col} AS TEXT)"

    def days_between(self, later: str, earlier: str) -> str:
        if self.pg:
            return f"({later} - {earlier})"
        return f"CAST(julianday({later}) - julianday({earlier}) AS INTEGER)"

    def last_day(self, period_col: str) -> str:
        if self.pg:
            return f"(to_date({period_col} || '-01', 'YYYY-MM-DD') + INTERVAL '1 month' - INTERVAL '1 day')::date"
        return f"date({period_col} || '-01', '+1 month', '-1 day')"

    def share_fen(self, basis: str, rate_u: str, mult_u: str) -> str:
        """basis × rate × multiplier in fen, rounded half-up: 64-bit integer arithmetic while the
        product cannot overflow (basis ≤ EXACT_BOUND fen), exact arbitrary precision above."""
        fast = f"(({basis}) * ({rate_u}) * ({mult_u}) + :half) / :scale"
        if self.pg:
            exact = f"CAST(div(CAST({basis} AS NUMERIC) * ({rate_u}) * ({mult_u}) + :half, :scale) AS BIGINT)"
        else:
            exact = f"commission_share_fen({basis}, {rate_u}, {mult_u})"
        return f"(CASE WHEN ({basis}) <= {EXACT_BOUND} THEN {fast} ELSE {exact} END)"

    def one_off_fen(self, qty: str, unit: str, fee: str, rate_u: str, mult_u: str) -> str:
        """(qty × unit + fee × rate) × multiplier in fen, rounded half-up, exact (see share_fen)."""
        fast = f"(({qty}) * ({unit}) * :rscale + ({fee}) * ({rate_u})) * ({mult_u})"
        fast = f"({fast} + :half) / :scale"
        if self.pg:
            exact = (f"CAST(div((CAST({qty} AS NUMERIC) * ({unit}) * :rscale + CAST({fee} AS NUMERIC) * ({rate_u}))"
                     f" * ({mult_u}) + :half, :scale) AS BIGINT)")
        else:
            exact = f"commission_one_off_fen({qty}, {unit}, {fee}, {rate_u}, {mult_u})"
        bound = EXACT_BOUND
        # nested: the inner product is only evaluated once each factor is known to be small
        return (f"(CASE WHEN ({qty}) <= {bound} AND ({unit}) <= {bound} AND ({fee}) <= {bound} THEN "
                f"CASE WHEN ({qty}) * ({unit}) + ({fee}) <= {bound} THEN {fast} ELSE {exact} END "
                f"ELSE {exact} END)")

    def register_functions(self) -> None:
        """SQLite: the exact (Python integer) forms used above the 64-bit bound."""
        if self.pg:
            return
        raw = db.session.connection().connection.driver_connection
        raw.create_function("commission_share_fen", 3, _exact_share_fen, deterministic=True)
        raw.create_function("commission_one_off_fen", 5, _exact_one_off_fen, deterministic=True)

    @staticmethod
    def period_num(col: str) -> str:
        return f"(CAST(substr({col}, 1, 4) AS INTEGER) * 12 + CAST(substr({col}, 6, 2) AS INTEGER) - 1)"


RULE_JOIN = """JOIN commission_rules r ON r.product_id = t.product_id
       AND r.effective_from <= a.activation_date
       AND (r.effective_to IS NULL OR r.effective_to >= a.activation_date)"""

LINE_COLUMNS = ("period, source_period, agency_id, order_id, component, accrual_date, basis_fen, rate_u, "
                "quantity, unit_fen, multiplier_u, grade, rule_version, month_index, amount_fen, computed")

HALF = RATE_SCALE * MULT_SCALE // 2
SCALE = RATE_SCALE * MULT_SCALE
MAX_MULT_U = 100_000  # a multiplier is at most 10 (commission_multipliers.multiplier_range)
# The largest basis (fen) for which basis × rate_u × multiplier_u + HALF fits a signed 64-bit
# integer with any rate (≤ 1) and multiplier (≤ 10): about ¥922,337. Lines above it (and one-offs
# whose quantity × unit + fee is above it) are computed exactly in NUMERIC (PostgreSQL) or Python
# integers (SQLite) instead: never a float, never an overflow, for every amount ingest accepts.
EXACT_BOUND = (2**63 - 1 - HALF) // (RATE_SCALE * MAX_MULT_U)


def _exact_share_fen(basis, rate_u, mult_u):
    if basis is None or rate_u is None or mult_u is None:
        return None
    return (int(basis) * int(rate_u) * int(mult_u) + HALF) // SCALE


def _exact_one_off_fen(qty, unit, fee, rate_u, mult_u):
    if None in (qty, unit, fee, rate_u, mult_u):
        return None
    return ((int(qty) * int(unit) * RATE_SCALE + int(fee) * int(rate_u)) * int(mult_u) + HALF) // SCALE


class RunRefused(PeriodError):
    pass


def run_problems(period: str) -> list[str]:
    from commissions.i18n import gettext as _
    from commissions.periods import get_period

    row = get_period(period)
    problems = []
    if row is not None and row.status == PeriodStatus.CLOSED:
        problems.append(_("Period %(period)s is closed: it cannot be run.", period=period))
        return problems
    last = last_closed_period()
    if last is not None and period <= last:
        problems.append(_("Period %(period)s comes before the last closed period %(last)s, so it counts as closed "
                          "and cannot be run: its lines go into %(first)s, the first open period, as late lines.",
                          period=period, last=last, first=next_period(last)))
        return problems
    held = db.session.scalar(sa.select(sa.func.count()).select_from(Statement).where(
        Statement.period == period, Statement.status.in_([StatementStatus.APPROVED, StatementStatus.PAID])))
    if held:
        problems.append(_("%(count)s statements of %(period)s are approved or paid: the period cannot be run again.",
                          count=held, period=period))
    return problems


def run_period(period: str, progress=None, actor=None) -> dict:
    """Recompute the open period `period`; returns figures of the run. The caller commits."""
    started = time.perf_counter()
    period = parse_period(period)
    steps: dict[str, float] = {}
    mark = {"name": "lock", "at": started}

    def report(pct, msg=None):
        now = time.perf_counter()
        if msg:
            steps[mark["name"]] = round(now - mark["at"], 3)
            mark.update(name=msg, at=now)
        if progress is not None:
            progress(pct, msg)

    problems = run_problems(period)  # before the lock: a refused period gets no row
    if problems:
        raise RunRefused(" ".join(problems), code="refused")
    row = lock_period(period)
    problems = run_problems(period)
    if problems:
        raise RunRefused(" ".join(problems), code="refused")
    report(5, "attribution")
    attributed = attribute_pending()
    sql = _Sql(db.engine.dialect.name if db.session.bind is None else db.session.get_bind().dialect.name)
    start, end = period_bounds(period)
    last_closed = last_closed_period()
    late = last_closed is not None and period == next_period(last_closed)
    late_end = period_bounds(last_closed)[1] if late else None
    params = {"p": period, "start": start, "end": end, "late_end": late_end, "pnum": period_number(period),
              "half": HALF, "scale": SCALE, "rscale": RATE_SCALE, "mhalf": MULT_SCALE // 2, "mscale": MULT_SCALE,
              "sale": AttributionKind.SALE.value, "referral": AttributionKind.REFERRAL.value, "t": True}
    ex = lambda text: db.session.execute(sa.text(text), params)  # noqa: E731
    sql.register_functions()

    report(15, "clearing")
    published = dict(db.session.execute(sa.select(Statement.agency_id, Statement.published_at).where(
        Statement.period == period, Statement.status == StatementStatus.PUBLISHED)).all())
    db.session.flush()
    if sql.pg:  # a run replaces a large share of the ledger: plan the DELETE and the reads on fresh statistics
        ex("ANALYZE commission_lines")
    ex("DELETE FROM commission_lines WHERE period = :p AND computed = :t")
    ex("DELETE FROM commission_statements WHERE period = :p")
    ex("DELETE FROM commission_run_multipliers WHERE period = :p")

    report(25, "multipliers")
    _fill_multipliers(sql, params, late)
    if sql.pg:  # fresh rows in this transaction: give the planner their real size
        db.session.execute(sa.text("ANALYZE commission_run_multipliers"))
        if sum(attributed.values()) > 10_000:
            db.session.execute(sa.text("ANALYZE commission_attributions"))

    report(40, "one-off and referral lines")
    one_off = sql.one_off_fen("a.quantity", "r.one_off_per_unit_fen", "a.one_time_fee_fen", "r.one_off_rate_u",
                              "m.multiplier_u")
    referral = sql.share_fen("r.referral_bounty_fen", ":rscale", "m.multiplier_u")
    for component, kind, amount, basis, rate, qty, unit in (
        ("one_off", ":sale", one_off, "a.one_time_fee_fen", "r.one_off_rate_u", "a.quantity", "r.one_off_per_unit_fen"),
        ("referral", ":referral", referral, "r.referral_bounty_fen", "NULL", "NULL", "NULL"),
    ):
        where = "a.activation_date BETWEEN :start AND :end"
        if late:
            where = (f"({where} OR (a.activation_date <= :late_end AND NOT EXISTS (SELECT 1 FROM commission_lines x "
                     f"WHERE x.order_id = a.order_id AND x.component = '{component}')))")
        ex(f"""INSERT INTO commission_lines ({LINE_COLUMNS})
            SELECT :p, {sql.period_of('a.activation_date')}, t.agency_id, a.order_id, '{component}',
                   a.activation_date, {basis}, {rate}, {qty}, {unit}, m.multiplier_u, m.grade, r.version, NULL,
                   {amount}, :t
            FROM commission_attributions t
            JOIN activations a ON a.id = t.activation_id
            {RULE_JOIN}
            JOIN commission_run_multipliers m ON m.period = :p AND m.agency_id = t.agency_id
                 AND m.key = {sql.day_text('a.activation_date')}
            WHERE t.kind = {kind} AND {where} AND {amount} <> 0""")

    report(55, "share lines")
    m_index = f"({sql.period_num('b.period')} - {sql.month_num('a.activation_date')} + 1)"
    share = sql.share_fen("b.paid_fen", "r.share_rate_u", "m.multiplier_u")
    if late:
        params["lastp"] = last_closed
    if sql.pg:
        # The planner under-estimates the rule-range join and would probe billing once per order;
        # hash joins over the whole period are what this statement needs.
        ex("SET LOCAL enable_nestloop = off")
    share_wheres = ["b.period = :p"]
    if late:  # billing of a closed month whose share line was never written (late billing, late attribution)
        share_wheres.append("b.period <= :lastp AND NOT EXISTS (SELECT 1 FROM commission_lines x "
                            "WHERE x.order_id = b.order_id AND x.component = 'share' AND x.source_period = b.period)")
    for share_where in share_wheres:
        ex(f"""INSERT INTO commission_lines ({LINE_COLUMNS})
            SELECT :p, b.period, t.agency_id, b.order_id, 'share', {sql.last_day('b.period')}, b.paid_fen,
                   r.share_rate_u, NULL, NULL, m.multiplier_u, m.grade, r.version, {m_index}, {share}, :t
            FROM billing_records b
            JOIN commission_attributions t ON t.order_id = b.order_id
            JOIN activations a ON a.id = t.activation_id
            {RULE_JOIN}
            JOIN commission_run_multipliers m ON m.period = :p AND m.agency_id = t.agency_id AND m.key = b.period
            WHERE t.kind = :sale AND {share_where}
              AND {m_index} BETWEEN 1 AND r.share_months
              AND {share} <> 0""")
    if sql.pg:
        ex("SET LOCAL enable_nestloop = on")
    if late:
        # A paid amount of a closed month that changed after its share line was written: the
        # difference between the share of today's paid amount and what the lines of that order and
        # month already hold, on the terms (rate, multiplier, rule) of those lines.
        full = sql.share_fen("b.paid_fen", "x.rate_u", "x.multiplier_u")
        ex(f"""INSERT INTO commission_lines ({LINE_COLUMNS}, prior_fen)
            SELECT :p, b.period, x.agency_id, b.order_id, 'share', {sql.last_day('b.period')}, b.paid_fen,
                   x.rate_u, NULL, NULL, x.multiplier_u, x.grade, x.rule_version, x.month_index,
                   {full} - x.prior_fen, :t, x.prior_fen
            FROM billing_records b
            JOIN (SELECT order_id, source_period, MIN(agency_id) AS agency_id, MIN(rate_u) AS rate_u,
                         MIN(multiplier_u) AS multiplier_u, MIN(grade) AS grade, MIN(rule_version) AS rule_version,
                         MIN(month_index) AS month_index, SUM(amount_fen) AS prior_fen
                  FROM commission_lines
                  WHERE component = 'share' AND source_period <= :lastp AND period <> :p
                  GROUP BY order_id, source_period) x ON x.order_id = b.order_id AND x.source_period = b.period
            WHERE b.period <= :lastp AND {full} - x.prior_fen <> 0""")

    report(75, "clawback lines")
    claw_where = "a.termination_date BETWEEN :start AND :end"
    if late:
        claw_where = (f"({claw_where} OR (a.termination_date <= :late_end AND NOT EXISTS (SELECT 1 FROM "
                      "commission_lines x WHERE x.order_id = a.order_id AND x.component = 'clawback')))")
    ex(f"""INSERT INTO commission_lines ({LINE_COLUMNS})
        SELECT :p, {sql.period_of('a.termination_date')}, o.agency_id, o.order_id, 'clawback', a.termination_date,
               o.amount_fen, NULL, NULL, NULL, o.multiplier_u, o.grade, o.rule_version, NULL, -o.amount_fen, :t
        FROM commission_lines o
        JOIN commission_attributions t ON t.order_id = o.order_id
        JOIN activations a ON a.id = t.activation_id
        {RULE_JOIN}
        WHERE o.component IN ('one_off', 'referral') AND o.computed = :t
          AND a.termination_date IS NOT NULL AND {claw_where}
          AND {sql.days_between('a.termination_date', 'a.activation_date')} < r.clawback_days""")
    ex("DELETE FROM commission_run_multipliers WHERE period = :p")

    report(90, "statements")
    if sql.pg:
        ex("ANALYZE commission_lines")
    db.session.expire_all()
    statements, lines, total = build_statements(period)
    _keep_publication(period, published)
    _relink_disputes(period)
    refreshed = _carry_forward(period)
    row = db.session.scalar(sa.select(Period).where(Period.period == period))
    row.last_run_at = utcnow()
    row.runs = (row.runs or 0) + 1
    db.session.flush()
    result = {"period": period, "lines": int(lines), "statements": statements, "total_fen": int(total),
              "attributed": attributed, "late": late, "refreshed": refreshed,
              "seconds": round(time.perf_counter() - started, 3), "steps": steps}
    record("commissions.period_run", row, after={k: v for k, v in result.items() if k not in ("seconds", "steps")}, actor=actor)
    report(100, "done")
    return result


def _carry_forward(period: str) -> list[str]:
    """Keep the carry-forward chain whole: the statements of later periods that were already
    computed open with the carried balance of this one, so they are brought in line (in place,
    in period order, until one does not change). A change to an approved or paid statement
    refuses the run. Returns the periods whose statements changed."""
    later = db.session.scalars(sa.select(Period.period).where(
        Period.period > period, Period.last_run_at.is_not(None)).order_by(Period.period)).all()
    changed_periods = []
    for later_period in later:
        changed, problems = refresh_statements(later_period)
        if problems:
            from commissions.i18n import gettext as _

            raise RunRefused(_("Running %(period)s again would change statements that are already approved or "
                               "paid: %(problems)s.", period=period, problems="; ".join(problems)), code="refused")
        if not changed:
            break
        changed_periods.append(later_period)
    return changed_periods


def _keep_publication(period: str, published: dict) -> None:
    """A re-run keeps the publication of statements the agencies could already see."""
    if not published:
        return
    rows = [{"b_agency": agency_id, "b_at": at} for agency_id, at in published.items()]
    table = Statement.__table__
    db.session.execute(
        table.update().where(table.c.period == period, table.c.agency_id == sa.bindparam("b_agency"))
        .values(status=StatementStatus.PUBLISHED.value, published_at=sa.bindparam("b_at")), rows)


def _relink_disputes(period: str) -> None:
    """Open disputes of the period point at the recomputed line and statement again."""
    disputes = db.session.scalars(sa.select(Dispute).where(Dispute.period == period,
                                                           Dispute.status == DisputeStatus.OPEN)).all()
    for dispute in disputes:
        dispute.statement_id = db.session.scalar(sa.select(Statement.id).where(
            Statement.period == period, Statement.agency_id == dispute.agency_id))
        dispute.line_id = db.session.scalar(sa.select(Line.id).where(
            Line.period == period, Line.agency_id == dispute.agency_id, Line.order_id == dispute.order_id,
            Line.component == dispute.component,
            Line.source_period == (dispute.source_period or Line.source_period)).order_by(Line.id).limit(1))
    db.session.flush()


def _fill_multipliers(sql: _Sql, params: dict, late: bool) -> None:
    """The grade and multiplier of each (agency, accrual date) the run needs, computed in Python
    from the grade history (thousands of rows, not millions) and bulk-inserted."""
    day_pairs = f"""SELECT DISTINCT t.agency_id, {sql.day_text('a.activation_date')}
        FROM commission_attributions t JOIN activations a ON a.id = t.activation_id
        WHERE t.kind IN (:sale, :referral) AND (a.activation_date BETWEEN :start AND :end
        {"OR a.activation_date <= :late_end" if late else ""})"""
    month_pairs = "SELECT DISTINCT t.agency_id, :p FROM commission_attributions t WHERE t.kind = :sale"
    if late:
        month_pairs += """ UNION SELECT DISTINCT t.agency_id, b.period FROM billing_records b
            JOIN commission_attributions t ON t.order_id = b.order_id
            WHERE t.kind = :sale AND b.period <= :lastp AND NOT EXISTS (SELECT 1 FROM commission_lines x
            WHERE x.order_id = b.order_id AND x.component = 'share' AND x.source_period = b.period)"""
        params["lastp"] = params["late_end"].strftime("%Y-%m")
    pairs = [(int(a), str(k)) for a, k in db.session.execute(sa.text(day_pairs), params)]
    pairs += [(int(a), str(k)) for a, k in db.session.execute(sa.text(month_pairs), params)]
    if not pairs:
        return
    grades = defaultdict(list)
    for agency_id, day, grade in db.session.execute(
            sa.select(AgencyGrade.agency_id, AgencyGrade.effective_from, AgencyGrade.grade)
            .order_by(AgencyGrade.agency_id, AgencyGrade.effective_from)):
        grades[agency_id].append((day.isoformat(), str(grade.value if hasattr(grade, "value") else grade)))
    mults = defaultdict(list)
    for grade, day, units in db.session.execute(
            sa.select(GradeMultiplier.grade, GradeMultiplier.effective_from, GradeMultiplier.multiplier_u)
            .order_by(GradeMultiplier.grade, GradeMultiplier.effective_from)):
        mults[grade].append((day.isoformat(), units))

    def on(history, day_text):
        keys = [h[0] for h in history]
        i = bisect.bisect_right(keys, day_text) - 1
        return history[i][1] if i >= 0 else None

    rows = []
    cache = {}
    for agency_id, key in pairs:
        day_text = key if len(key) == 10 else period_bounds(key)[1].isoformat()
        ck = (agency_id, day_text)
        if ck not in cache:
            grade = on(grades.get(agency_id, []), day_text)
            units = on(mults.get(grade, []), day_text) if grade else None
            cache[ck] = (grade, ONE if units is None else int(units))
        grade, units = cache[ck]
        rows.append({"period": params["p"], "agency_id": agency_id, "key": key, "grade": grade, "multiplier_u": units})
    for i in range(0, len(rows), 10_000):
        db.session.execute(sa.insert(AgencyDayMultiplier.__table__), rows[i:i + 10_000])


def ledger_snapshot(period: str) -> tuple[list, list]:
    """The period's lines and statements without ids (to compare two runs)."""
    lines = db.session.execute(sa.select(
        Line.period, Line.source_period, Line.agency_id, Line.order_id, Line.component, Line.accrual_date,
        Line.basis_fen, Line.rate_u, Line.quantity, Line.unit_fen, Line.multiplier_u, Line.grade,
        Line.rule_version, Line.month_index, Line.amount_fen, Line.prior_fen, Line.computed)
        .where(Line.period == period)).all()
    statements = db.session.execute(sa.select(
        Statement.period, Statement.agency_id, Statement.opening_fen, Statement.earned_fen,
        Statement.available_fen, Statement.payable_fen, Statement.carried_fen, Statement.hold_reason,
        Statement.status, Statement.line_count).where(Statement.period == period)).all()
    return sorted(map(tuple, lines), key=repr), sorted(map(tuple, statements), key=repr)


__all__ = ["Attribution", "RunRefused", "ledger_snapshot", "run_period", "run_problems"]
