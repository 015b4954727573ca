"""The ledger engine: a deterministic, set-based recompute of one open period (SPEC §5.4, §5.5).

`run_period(P)`:
1. refuse a period at or before the last closed one (it counts as closed) or with approved/paid
   statements, then lock the period row (SELECT … FOR UPDATE; SQLite serialises writers) and check
   again; open disputes do not refuse a run (they are re-linked to the recomputed lines);
2. attribute pending activations (commissions.attribution);
3. fill a temporary table of grade intervals (agency, from, to, grade, multiplier) from the grade
   and multiplier histories;
4. INSERT … SELECT the one_off, referral, share and clawback lines — scaled-integer arithmetic,
   rounded half-up to the fen exactly like commissions.calculation, exact NUMERIC/Python integers
   where a 64-bit product could overflow; zero lines are not written;
   when P is the period right after the last closed one, lines whose source period is closed and
   that were never written are written into P, keeping their source period, and a share whose paid
   amount changed after its month closed gets a correction line of the difference.
   A first run writes into commission_lines directly (ordered by agency); a re-run writes into a
   temporary table, and one grouped comparison with the stored lines deletes and inserts only the
   lines that differ (a re-run on unchanged data writes no line);
5. make the statements, and bring the statements of later, already computed periods in line with
   the new carried balances (the carry-forward chain).
Nothing is done per order: a handful of statements whatever the volume.
"""

from __future__ import annotations

import bisect
import itertools
import secrets
import time
from collections import defaultdict
from datetime import date

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
from portal.partners.models import Agency, AgencyGrade

ONE = MULT_SCALE  # multiplier 1.00 when an agency has no grade or the grade no multiplier
WORK_MEM = "128MB"  # PostgreSQL, SET LOCAL for the run's transaction


class _Sql:
    """The few expressions that differ between SQLite and PostgreSQL."""

    def __init__(self, dialect: str):
        self.pg = dialect == "postgresql"

    def month_num(self, col: str) -> str:
        """Months since year 0 of a date column (SQLite keeps dates as ISO text)."""
        if self.pg:
            return f"(CAST(date_part('year', {col}) AS INTEGER) * 12 + CAST(date_part('month', {col}) AS INTEGER) - 1)"
        return f"(CAST(substr({col}, 1, 4) AS INTEGER) * 12 + CAST(substr({col}, 6, 2) AS INTEGER) - 1)"

    def period_of(self, col: str) -> str:
        return f"to_char({col}, 'YYYY-MM')" if self.pg else f"substr({col}, 1, 7)"

    def day(self, value: date | None):
        """A date parameter as the database compares it (SQLite: ISO text)."""
        if value is None or self.pg:
            return value
        return value.isoformat()

    def cast_day(self, param: str) -> str:
        return f"CAST({param} AS DATE)" if self.pg else param

    def same(self, a: str, b: str, null_as: str | None) -> str:
        """a equals b, NULL equal to NULL, as a condition a hash join can use (PostgreSQL cannot
        hash IS NOT DISTINCT FROM): the value with NULL replaced, and whether it is NULL."""
        if null_as is None:
            return f"{a} = {b}"
        if self.pg:
            return f"coalesce({a}, {null_as}) = coalesce({b}, {null_as}) AND ({a} IS NULL) = ({b} IS NULL)"
        return f"{a} IS {b}"

    def create_temp(self, name: str, columns) -> None:
        defs = ", ".join(f"{c} {t}" for c, t in columns)
        db.session.execute(sa.text(f"CREATE TEMP TABLE {name} ({defs})" + (" ON COMMIT DROP" if self.pg else "")))

    @staticmethod
    def drop_temp(name: str) -> None:
        db.session.execute(sa.text(f"DROP TABLE IF EXISTS {name}"))

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
    sql = _Sql(db.engine.dialect.name if db.session.bind is None else db.session.get_bind().dialect.name)
    if sql.pg:
        # hash joins and aggregates over the period's million rows stay in memory (this transaction only)
        db.session.execute(sa.text(f"SET LOCAL work_mem = '{WORK_MEM}'"))
    report(5, "attribution")
    attributed = attribute_pending()

    report(15, "clearing")
    published = dict(db.session.execute(sa.select(Statement.agency_id, Statement.published_at).where(
        Statement.period == period, Statement.status == StatementStatus.PUBLISHED)).all())
    db.session.flush()
    run = _Lines(sql, period)
    run.ex("DELETE FROM commission_statements WHERE period = :p")

    report(25, "multipliers")
    _fill_grades(sql, run.grades)
    if sql.pg and sum(attributed.values()) > 10_000:  # fresh rows in this transaction: their real size
        run.ex("ANALYZE commission_attributions")
    report(40, "one-off and referral lines")
    run.one_off_and_referral()
    report(55, "share lines")
    run.share()
    report(75, "clawback lines")
    run.clawback()
    if run.rerun:
        report(85, "changed lines")
        steps["changed"] = _apply_changes(sql, run.params, run.target, run.suffix)
    sql.drop_temp(run.grades)

    report(90, "statements")
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
              "attributed": attributed, "late": run.late, "refreshed": refreshed,
              "seconds": round(time.perf_counter() - started, 3), "steps": steps}
    record("commissions.period_run", row, actor=actor,
           after={k: v for k, v in result.items() if k not in ("seconds", "steps")})
    report(100, "done")
    return result


class _Lines:
    """The INSERT … SELECT statements of one run. A first run writes straight into the ledger,
    ordered by agency (the (period, agency) index is then filled in order: twice as fast). A re-run
    writes into a temporary table; `_apply_changes` then changes only the stored lines that differ
    (usually none or a few): no DELETE and re-INSERT of the whole period, and unchanged lines keep
    their ids. Lines of other periods are always read with `period <> :p`: the stored lines of this
    period are the ones being replaced."""

    def __init__(self, sql: _Sql, period: str):
        self.sql = sql
        start, end = period_bounds(period)
        last_closed = last_closed_period()
        self.late = last_closed is not None and period == next_period(last_closed)
        late_end = period_bounds(last_closed)[1] if self.late else None
        self.params = {"p": period, "start": sql.day(start), "end": sql.day(end), "late_end": sql.day(late_end),
                       "lastp": last_closed if self.late else None, "pnum": period_number(period),
                       "half": HALF, "scale": SCALE, "rscale": RATE_SCALE, "sale": AttributionKind.SALE.value,
                       "referral": AttributionKind.REFERRAL.value, "t": True}
        sql.register_functions()
        self.rerun = self.ex("SELECT 1 FROM commission_lines WHERE period = :p AND computed = :t LIMIT 1").first() \
            is not None
        self.suffix = secrets.token_hex(4)
        self.target = f"commission_run_lines_{self.suffix}" if self.rerun else "commission_lines"
        self.grades = f"commission_run_grades_{self.suffix}"
        if self.rerun:
            sql.create_temp(self.target, RUN_LINE_TYPES)
        self.order = "" if self.rerun else " ORDER BY t.agency_id"

    def ex(self, text: str):
        return db.session.execute(sa.text(text), self.params)

    def nestloop(self, on: bool) -> None:
        """PostgreSQL: the planner under-estimates the rule-range join and would probe billing (or
        the lines) once per order; hash joins over the whole period are what these statements need."""
        if self.sql.pg:
            self.ex(f"SET LOCAL enable_nestloop = {'on' if on else 'off'}")

    def one_off_and_referral(self) -> None:
        sql = self.sql
        one_off = sql.one_off_fen("a.quantity", "r.one_off_per_unit_fen", "a.one_time_fee_fen", "r.one_off_rate_u",
                                  "m.multiplier_u")
        referral = sql.share_fen("r.referral_bounty_fen", ":rscale", "m.multiplier_u")
        for component, kind, amount, basis, rate, qty, unit in (
            ("one_off", ":sale", one_off, "a.one_time_fee_fen", "r.one_off_rate_u", "a.quantity",
             "r.one_off_per_unit_fen"),
            ("referral", ":referral", referral, "r.referral_bounty_fen", "NULL", "NULL", "NULL"),
        ):
            wheres = ["a.activation_date BETWEEN :start AND :end"]
            if self.late:  # activated in a closed month and written in no other period yet
                wheres.append(f"""a.activation_date <= :late_end AND NOT EXISTS (SELECT 1 FROM commission_lines x
                    WHERE x.order_id = a.order_id AND x.component = '{component}' AND x.period <> :p)""")
            for i, where in enumerate(wheres):
                if i:
                    self.nestloop(False)  # one hashed anti-join, not a probe per activation
                self.ex(f"""INSERT INTO {self.target} ({LINE_COLUMNS})
                    SELECT CAST(:p AS VARCHAR(7)), {sql.period_of('a.activation_date')}, t.agency_id, a.order_id,
                           '{component}', a.activation_date, {basis}, {rate}, {qty}, {unit}, m.multiplier_u,
                           m.grade, r.version, NULL, {amount}, :t
                    FROM commission_attributions t
                    JOIN activations a ON a.id = t.activation_id
                    {RULE_JOIN}
                    JOIN {self.grades} m ON m.agency_id = t.agency_id AND m.valid_from <= a.activation_date
                         AND m.valid_to > a.activation_date
                    WHERE t.kind = {kind} AND {where} AND {amount} <> 0{self.order}""")
                if i:
                    self.nestloop(True)

    def share(self) -> None:
        sql = self.sql
        self.nestloop(False)
        # the period's own billing: accrual date, multiplier day and month index from constants
        m_index = f"(:pnum - {sql.month_num('a.activation_date')} + 1)"
        share = sql.share_fen("b.paid_fen", "r.share_rate_u", "m.multiplier_u")
        end = sql.cast_day(":end")
        self.ex(f"""INSERT INTO {self.target} ({LINE_COLUMNS})
            SELECT CAST(:p AS VARCHAR(7)), b.period, t.agency_id, b.order_id, 'share', {end}, b.paid_fen,
                   r.share_rate_u, NULL, NULL, m.multiplier_u, m.grade, r.version, {m_index}, {share}, :t
            FROM billing_records b
            JOIN commission_attributions t ON t.order_id = b.order_id
            JOIN activations a ON a.id = t.activation_id
            {RULE_JOIN}
            JOIN {self.grades} m ON m.agency_id = t.agency_id AND m.valid_from <= {end} AND m.valid_to > {end}
            WHERE t.kind = :sale AND b.period = :p
              AND {m_index} BETWEEN 1 AND r.share_months
              AND {share} <> 0{self.order}""")
        if self.late:
            self.late_share()
        self.nestloop(True)

    def late_share(self) -> None:
        """Billing of closed months: a share line never written (late billing, late attribution), and
        a correction where the paid amount changed after the month closed — the difference between
        the share of today's paid amount and what the lines of that order and month already hold, on
        the terms (rate, multiplier, rule) of those lines."""
        sql = self.sql
        day = sql.last_day("b.period")
        late_index = f"({sql.period_num('b.period')} - {sql.month_num('a.activation_date')} + 1)"
        share = sql.share_fen("b.paid_fen", "r.share_rate_u", "m.multiplier_u")
        self.ex(f"""INSERT INTO {self.target} ({LINE_COLUMNS})
            SELECT CAST(:p AS VARCHAR(7)), b.period, t.agency_id, b.order_id, 'share', {day}, b.paid_fen,
                   r.share_rate_u, NULL, NULL, m.multiplier_u, m.grade, r.version, {late_index}, {share}, :t
            FROM billing_records b
            JOIN commission_attributions t ON t.order_id = b.order_id
            JOIN activations a ON a.id = t.activation_id
            {RULE_JOIN}
            JOIN {self.grades} m ON m.agency_id = t.agency_id AND m.valid_from <= {day} AND m.valid_to > {day}
            WHERE t.kind = :sale AND b.period <= :lastp
              AND NOT EXISTS (SELECT 1 FROM commission_lines x WHERE x.order_id = b.order_id
                              AND x.component = 'share' AND x.source_period = b.period AND x.period <> :p)
              AND {late_index} BETWEEN 1 AND r.share_months
              AND {share} <> 0""")
        # Corrections: only (order, month) pairs with a line whose basis is not today's paid amount
        # can need one — a month whose lines all have today's paid amount as basis holds exactly one
        # line, of the share of that amount (a correction of a difference of zero is not written).
        # One hash join finds those few pairs; only their lines are summed.
        candidates = f"commission_run_corrections_{self.suffix}"
        self.ex(f"""CREATE TEMP TABLE {candidates} AS
            SELECT DISTINCT x.order_id, x.source_period FROM commission_lines x
            JOIN billing_records b ON b.order_id = x.order_id AND b.period = x.source_period
            WHERE x.component = 'share' AND x.source_period <= :lastp AND x.period <> :p
              AND b.paid_fen <> x.basis_fen""")
        if sql.pg:
            self.ex(f"ANALYZE {candidates}")
        else:
            self.ex(f"CREATE INDEX {candidates}_key ON {candidates} (order_id, source_period)")
        full = sql.share_fen("b.paid_fen", "x.rate_u", "x.multiplier_u")
        self.ex(f"""INSERT INTO {self.target} ({LINE_COLUMNS}, prior_fen)
            SELECT CAST(:p AS VARCHAR(7)), b.period, x.agency_id, b.order_id, 'share', {day}, b.paid_fen,
                   x.rate_u, NULL, NULL, x.multiplier_u, x.grade, x.rule_version, x.month_index,
                   {full} - x.prior_fen, :t, x.prior_fen
            FROM billing_records b
            JOIN (SELECT l.order_id, l.source_period, MIN(l.agency_id) AS agency_id, MIN(l.rate_u) AS rate_u,
                         MIN(l.multiplier_u) AS multiplier_u, MIN(l.grade) AS grade,
                         MIN(l.rule_version) AS rule_version, MIN(l.month_index) AS month_index,
                         SUM(l.amount_fen) AS prior_fen
                  FROM {candidates} c
                  JOIN commission_lines l ON l.order_id = c.order_id AND l.source_period = c.source_period
                  WHERE l.component = 'share' AND l.period <> :p
                  GROUP BY l.order_id, l.source_period) x ON x.order_id = b.order_id AND x.source_period = b.period
            WHERE b.period <= :lastp AND {full} - x.prior_fen <> 0""")
        sql.drop_temp(candidates)

    def clawback(self) -> None:
        sql = self.sql
        wheres = ["a.termination_date BETWEEN :start AND :end"]
        if self.late:  # terminated in a closed month and clawed back in no other period yet
            wheres.append("""a.termination_date <= :late_end AND NOT EXISTS (SELECT 1 FROM commission_lines x
                WHERE x.order_id = a.order_id AND x.component = 'clawback' AND x.period <> :p)""")
        # the one-off or referral line reversed: the stored lines of other periods (every period's on
        # a first run, this run's included) and, on a re-run, this run's own lines in the scratch table
        sources = [("commission_lines", " AND o.period <> :p" if self.rerun else "")]
        if self.rerun:
            sources.append((self.target, ""))
        for source, only in sources:
            for where in wheres:
                scan = source == self.target or where is not wheres[0]
                if scan:  # the scratch table has no index, the anti-join is over all terminations: hash joins
                    self.nestloop(False)
                self.ex(f"""INSERT INTO {self.target} ({LINE_COLUMNS})
                    SELECT CAST(:p AS VARCHAR(7)), {sql.period_of('a.termination_date')}, o.agency_id, o.order_id,
                           'clawback', a.termination_date, o.amount_fen, NULL, NULL, NULL, o.multiplier_u, o.grade,
                           o.rule_version, NULL, -o.amount_fen, :t
                    FROM {source} o
                    JOIN commission_attributions t ON t.order_id = o.order_id
                    JOIN activations a ON a.id = t.activation_id
                    {RULE_JOIN}
                    WHERE o.component IN ('one_off', 'referral') AND o.computed = :t{only}
                      AND a.termination_date IS NOT NULL AND {where}
                      AND {sql.days_between('a.termination_date', 'a.activation_date')} < r.clawback_days""")
                if scan:
                    self.nestloop(True)


# The columns of a line that a run computes, compared between the stored lines and a re-run's
# (period and computed are the same for all of them); those that may be NULL are compared null-safely.
DIFF_COLUMNS = ("source_period", "agency_id", "order_id", "component", "accrual_date", "basis_fen", "rate_u",
                "quantity", "unit_fen", "multiplier_u", "grade", "rule_version", "month_index", "amount_fen",
                "prior_fen")
NULLABLE = {"order_id": "''", "basis_fen": "0", "rate_u": "0", "quantity": "0", "unit_fen": "0",
            "multiplier_u": "0", "grade": "''", "rule_version": "''", "month_index": "0", "prior_fen": "0"}
RUN_LINE_TYPES = (("period", "VARCHAR(7)"), ("source_period", "VARCHAR(7)"), ("agency_id", "INTEGER"),
                  ("order_id", "VARCHAR(64)"), ("component", "VARCHAR(16)"), ("accrual_date", "DATE"),
                  ("basis_fen", "BIGINT"), ("rate_u", "BIGINT"), ("quantity", "INTEGER"), ("unit_fen", "BIGINT"),
                  ("multiplier_u", "INTEGER"), ("grade", "VARCHAR(16)"), ("rule_version", "VARCHAR(16)"),
                  ("month_index", "INTEGER"), ("amount_fen", "BIGINT"), ("computed", "BOOLEAN"),
                  ("prior_fen", "BIGINT"))


def _apply_changes(sql: _Sql, params: dict, target: str, suffix: str) -> int:
    """Make the period's stored computed lines equal (as a multiset) to the re-run's lines in
    `target`: one grouped pass finds the groups of identical lines whose count differs between the
    two; only their lines are deleted and inserted. Returns the number of lines deleted + inserted."""
    changed = f"commission_run_changed_{suffix}"
    cols = ", ".join(DIFF_COLUMNS)
    db.session.execute(sa.text(f"""CREATE TEMP TABLE {changed} AS
        SELECT {cols}, SUM(side) AS delta FROM (
            SELECT {cols}, 1 AS side FROM commission_lines WHERE period = :p AND computed = :t
            UNION ALL
            SELECT {cols}, -1 AS side FROM {target}) u
        GROUP BY {cols} HAVING SUM(side) <> 0"""), params)
    count = db.session.execute(sa.text(f"SELECT COUNT(*) FROM {changed}")).scalar()
    written = 0
    if count:
        if sql.pg:
            db.session.execute(sa.text(f"ANALYZE {changed}"))
        else:
            db.session.execute(sa.text(f"CREATE INDEX {changed}_key ON {changed} (agency_id, order_id, component)"))

        def same(a: str, b: str) -> str:
            return " AND ".join(sql.same(f"{a}.{c}", f"{b}.{c}", NULLABLE.get(c)) for c in DIFF_COLUMNS)

        written += db.session.execute(sa.text(f"""DELETE FROM commission_lines WHERE id IN (
            SELECT l.id FROM commission_lines l JOIN {changed} c ON {same('c', 'l')}
            WHERE l.period = :p AND l.computed = :t)"""), params).rowcount
        written += db.session.execute(sa.text(f"""INSERT INTO commission_lines ({LINE_COLUMNS}, prior_fen)
            SELECT {', '.join('n.' + c for c in LINE_COLUMNS.split(', '))}, n.prior_fen
            FROM {target} n JOIN {changed} c ON {same('c', 'n')} ORDER BY n.agency_id"""), params).rowcount
    sql.drop_temp(changed)
    sql.drop_temp(target)
    return int(written)


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


GRADE_COLUMNS = (("agency_id", "INTEGER"), ("valid_from", "DATE"), ("valid_to", "DATE"), ("grade", "VARCHAR(16)"),
                 ("multiplier_u", "INTEGER"))
DAY_MIN, DAY_MAX = date(1, 1, 1), date(9999, 12, 31)


def grade_intervals() -> list[tuple[int, date, date, str | None, int]]:
    """Every agency's grade and multiplier as intervals [valid_from, valid_to) covering all days
    once: the grade is the agency's entry with the latest `effective_from` not after the day, the
    multiplier that grade's entry with the latest `effective_from` not after the day; no grade, or
    a grade without a multiplier yet, counts 1.00. Computed in Python from the histories
    (thousands of rows, not millions)."""
    grades = defaultdict(list)
    for agency_id, day, grade in db.session.execute(
            sa.select(AgencyGrade.agency_id, AgencyGrade.effective_from, AgencyGrade.grade)
            .order_by(AgencyGrade.agency_id, AgencyGrade.effective_from)):
        grades[agency_id].append((day, str(grade.value if hasattr(grade, "value") else grade)))
    mults = defaultdict(list)
    for grade, day, units in db.session.execute(
            sa.select(GradeMultiplier.grade, GradeMultiplier.effective_from, GradeMultiplier.multiplier_u)
            .order_by(GradeMultiplier.grade, GradeMultiplier.effective_from)):
        mults[grade].append((day, int(units)))
    rows = []
    for agency_id in db.session.scalars(sa.select(Agency.id).order_by(Agency.id)):
        history = grades.get(agency_id, [])
        segments = [(DAY_MIN, history[0][0] if history else DAY_MAX, None)]
        segments += [(day, history[i + 1][0] if i + 1 < len(history) else DAY_MAX, grade)
                     for i, (day, grade) in enumerate(history)]
        for seg_from, seg_to, grade in segments:
            if seg_from >= seg_to:
                continue
            if grade is None:
                rows.append((agency_id, seg_from, seg_to, None, ONE))
                continue
            changes = mults.get(grade, [])
            points = [seg_from] + [day for day, _units in changes if seg_from < day < seg_to] + [seg_to]
            days = [day for day, _units in changes]
            for lo, hi in itertools.pairwise(points):
                i = bisect.bisect_right(days, lo) - 1
                rows.append((agency_id, lo, hi, grade, changes[i][1] if i >= 0 else ONE))
    return rows


def _fill_grades(sql: _Sql, table: str) -> None:
    """The run's scratch table of grade intervals (temporary, this transaction's)."""
    sql.create_temp(table, GRADE_COLUMNS)
    scratch = sa.table(table, *(sa.column(c) for c, _t in GRADE_COLUMNS))
    rows = [{"agency_id": a, "valid_from": sql.day(lo), "valid_to": sql.day(hi), "grade": g, "multiplier_u": u}
            for a, lo, hi, g, u in grade_intervals()]
    for i in range(0, len(rows), 10_000):
        db.session.execute(sa.insert(scratch), rows[i:i + 10_000])
    if sql.pg:
        db.session.execute(sa.text(f"ANALYZE {table}"))
    else:
        db.session.execute(sa.text(f"CREATE INDEX {table}_agency ON {table} (agency_id, valid_from)"))


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
