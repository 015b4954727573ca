"""Commission tables: the plan (rule versions, grade multipliers, settings), attribution of
activations, periods, the ledger lines, statements and disputes.

Money is integer fen. Rates and multipliers are exact decimals kept as scaled integers:
`*_rate_u` in millionths (0.08 → 80000, RATE_SCALE) and `multiplier_u` in ten-thousandths
(1.20 → 12000, MULT_SCALE), so the set-based engine computes with integers on SQLite and
PostgreSQL alike and rounds half-up to the fen exactly like `commissions.calculation`.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy import orm as so

from portal.core.db import UTCDateTime, db, utcnow

RATE_SCALE = 1_000_000
MULT_SCALE = 10_000


def _enum(e, length=16):
    return sa.Enum(e, native_enum=False, length=length, values_callable=lambda x: [m.value for m in x])


class PlanSettings(db.Model):
    """The plan's global terms (one row, id 1)."""

    __tablename__ = "commission_settings"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    currency: so.Mapped[str] = so.mapped_column(sa.String(3), default="CNY")
    min_payout_fen: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=10000)
    updated_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class CommissionRule(db.Model):
    """One version of the commission terms of one product (SPEC §5.3)."""

    __tablename__ = "commission_rules"
    __table_args__ = (
        sa.UniqueConstraint("product_id", "version", name="uq_commission_rules_version"),
        sa.UniqueConstraint("product_id", "effective_from", name="uq_commission_rules_from"),
        sa.CheckConstraint("effective_to IS NULL OR effective_to >= effective_from", name="range_order"),
        sa.CheckConstraint("one_off_per_unit_fen >= 0", name="one_off_per_unit_nonneg"),
        sa.CheckConstraint("one_off_rate_u >= 0 AND one_off_rate_u <= 1000000", name="one_off_rate_range"),
        sa.CheckConstraint("share_rate_u >= 0 AND share_rate_u <= 1000000", name="share_rate_range"),
        sa.CheckConstraint("share_months >= 0", name="share_months_nonneg"),
        sa.CheckConstraint("clawback_days >= 0", name="clawback_days_nonneg"),
        sa.CheckConstraint("referral_bounty_fen >= 0", name="referral_bounty_nonneg"),
        sa.Index("ix_commission_rules_product_from", "product_id", "effective_from"),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    product_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("products.id", ondelete="RESTRICT"))
    version: so.Mapped[str] = so.mapped_column(sa.String(16))
    effective_from: so.Mapped[date] = so.mapped_column(sa.Date)
    effective_to: so.Mapped[date | None] = so.mapped_column(sa.Date)  # inclusive
    one_off_per_unit_fen: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=0)
    one_off_rate_u: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=0)
    share_rate_u: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=0)
    share_months: so.Mapped[int] = so.mapped_column(sa.Integer, default=0)
    clawback_days: so.Mapped[int] = so.mapped_column(sa.Integer, default=0)
    referral_bounty_fen: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=0)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime(), default=utcnow)
    updated_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    product = so.relationship("Product", lazy="joined")

    def covers(self, day: date) -> bool:
        return self.effective_from <= day and (self.effective_to is None or day <= self.effective_to)

    def __repr__(self) -> str:
        return f"<CommissionRule {self.product_id} {self.version}>"


class GradeMultiplier(db.Model):
    """The multiplier of one grade from `effective_from` until the grade's next entry."""

    __tablename__ = "commission_multipliers"
    __table_args__ = (
        sa.UniqueConstraint("grade", "effective_from", name="uq_commission_multipliers_day"),
        sa.CheckConstraint("multiplier_u >= 0 AND multiplier_u <= 100000", name="multiplier_range"),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    grade: so.Mapped[str] = so.mapped_column(sa.String(16))
    effective_from: so.Mapped[date] = so.mapped_column(sa.Date)
    multiplier_u: so.Mapped[int] = so.mapped_column(sa.Integer)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime(), default=utcnow)


class AttributionKind(enum.StrEnum):
    SALE = "sale"            # a low product sold by an agency
    REFERRAL = "referral"    # a high product referred by an agency (bounty)
    DIRECT = "direct"        # nobody earns on it
    EXCEPTION = "exception"  # waiting for a person (see ExceptionReason)


class ExceptionReason(enum.StrEnum):
    CONFLICT = "conflict"              # agent code vs another agency's protected lead
    UNKNOWN_AGENT = "unknown_agent"
    INACTIVE_AGENT = "inactive_agent"
    UNKNOWN_PRODUCT = "unknown_product"
    NO_RULE = "no_rule"
    AGENT_ON_HIGH = "agent_on_high"


class Attribution(db.Model):
    """Who earns on one activation; made once per activation (exceptions are re-checked)."""

    __tablename__ = "commission_attributions"
    __table_args__ = (sa.Index("ix_commission_attributions_kind_reason", "kind", "reason"),)
    __agency_column__ = "agency_id"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    activation_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("activations.id", ondelete="CASCADE"),
                                                     unique=True)
    order_id: so.Mapped[str] = so.mapped_column(sa.String(64), index=True)
    product_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("products.id"))
    kind: so.Mapped[AttributionKind] = so.mapped_column(_enum(AttributionKind))
    reason: so.Mapped[ExceptionReason | None] = so.mapped_column(_enum(ExceptionReason, 20))
    agency_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("agencies.id"), index=True)
    lead_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("leads.id", ondelete="SET NULL"))
    # a conflict: the agency of the agent code and the agency of the protected lead
    candidate_agency_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("agencies.id"))
    resolved_by_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"))
    resolved_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime())
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime(), default=utcnow)

    activation = so.relationship("Activation", lazy="joined")
    agency = so.relationship("Agency", foreign_keys=[agency_id])
    candidate_agency = so.relationship("Agency", foreign_keys=[candidate_agency_id])


class PeriodStatus(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class Period(db.Model):
    """A calendar month (`YYYY-MM`), open until finance closes it."""

    __tablename__ = "commission_periods"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    period: so.Mapped[str] = so.mapped_column(sa.String(7), unique=True)
    status: so.Mapped[PeriodStatus] = so.mapped_column(_enum(PeriodStatus), default=PeriodStatus.OPEN)
    last_run_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime())
    runs: so.Mapped[int] = so.mapped_column(sa.Integer, default=0)
    closed_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime())
    closed_by_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"))

    @property
    def is_open(self) -> bool:
        return self.status == PeriodStatus.OPEN

    def __repr__(self) -> str:
        return f"<Period {self.period} {self.status.value}>"


class Component(enum.StrEnum):
    ONE_OFF = "one_off"
    SHARE = "share"
    REFERRAL = "referral"
    CLAWBACK = "clawback"
    ADJUSTMENT = "adjustment"


class Line(db.Model):
    """One ledger line. `period` is where it counts; `source_period` the month of its accrual
    date (they differ for a late line written into the first open period). Computed lines are
    replaced by every run of their period; adjustments (`computed` false) are kept."""

    __tablename__ = "commission_lines"
    __table_args__ = (
        sa.Index("ix_commission_lines_period_agency", "period", "agency_id"),
        # by order only for the few one-off/referral/clawback lines (clawbacks, late lines); share
        # lines, the bulk of every run, stay out of it: that index costs more than the insert itself
        sa.Index("ix_commission_lines_order_once", "order_id", "component",
                 sqlite_where=sa.text("component IN ('one_off', 'referral', 'clawback')"),
                 postgresql_where=sa.text("component IN ('one_off', 'referral', 'clawback')")),
    )
    __agency_column__ = "agency_id"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    period: so.Mapped[str] = so.mapped_column(sa.String(7))
    source_period: so.Mapped[str] = so.mapped_column(sa.String(7))
    # Not a foreign key on purpose: PostgreSQL checks one with a trigger per inserted row, which
    # was a third of the time of a period run (755,000 share lines). Every computed line takes its
    # agency from commission_attributions.agency_id (a foreign key), an adjustment from an Agency
    # row; agencies are never deleted (they are suspended or terminated), and one with attributions
    # or statements cannot be.
    agency_id: so.Mapped[int] = so.mapped_column(sa.Integer)
    order_id: so.Mapped[str | None] = so.mapped_column(sa.String(64))
    component: so.Mapped[Component] = so.mapped_column(_enum(Component))
    accrual_date: so.Mapped[date] = so.mapped_column(sa.Date)
    basis_fen: so.Mapped[int | None] = so.mapped_column(sa.BigInteger)
    rate_u: so.Mapped[int | None] = so.mapped_column(sa.BigInteger)
    quantity: so.Mapped[int | None] = so.mapped_column(sa.Integer)
    unit_fen: so.Mapped[int | None] = so.mapped_column(sa.BigInteger)
    multiplier_u: so.Mapped[int | None] = so.mapped_column(sa.Integer)
    grade: so.Mapped[str | None] = so.mapped_column(sa.String(16))
    rule_version: so.Mapped[str | None] = so.mapped_column(sa.String(16))
    month_index: so.Mapped[int | None] = so.mapped_column(sa.Integer)
    amount_fen: so.Mapped[int] = so.mapped_column(sa.BigInteger)
    # A correction of a closed month's share (its paid amount changed after the close): what the
    # earlier lines of this order, component and source period already hold. The line's amount
    # is the share of today's basis minus this; None on every other line.
    prior_fen: so.Mapped[int | None] = so.mapped_column(sa.BigInteger)
    computed: so.Mapped[bool] = so.mapped_column(default=True)
    note: so.Mapped[str | None] = so.mapped_column(sa.Text)  # the reason of an adjustment
    dispute_id: so.Mapped[int | None] = so.mapped_column(sa.Integer)
    created_by_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"))

    agency = so.relationship("Agency", lazy="joined", primaryjoin="foreign(Line.agency_id) == Agency.id",
                             viewonly=True)

    @property
    def is_late(self) -> bool:
        return self.source_period != self.period

    @property
    def is_correction(self) -> bool:
        return self.prior_fen is not None


class StatementStatus(enum.StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    APPROVED = "approved"
    PAID = "paid"


class HoldReason(enum.StrEnum):
    BELOW_MINIMUM = "below_minimum"
    NEGATIVE_BALANCE = "negative_balance"
    AGENCY_SUSPENDED = "agency_suspended"
    NO_PAYOUT_ACCOUNT = "no_payout_account"


class Statement(db.Model):
    """What one agency earned in one period and what is paid or carried forward."""

    __tablename__ = "commission_statements"
    __table_args__ = (sa.UniqueConstraint("period", "agency_id", name="uq_commission_statements_period_agency"),
                      sa.Index("ix_commission_statements_agency_period", "agency_id", "period"))
    __agency_column__ = "agency_id"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    period: so.Mapped[str] = so.mapped_column(sa.String(7), index=True)
    agency_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("agencies.id"))
    opening_fen: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=0)
    earned_fen: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=0)
    available_fen: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=0)
    payable_fen: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=0)
    carried_fen: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=0)
    line_count: so.Mapped[int] = so.mapped_column(sa.Integer, default=0)
    hold_reason: so.Mapped[HoldReason | None] = so.mapped_column(_enum(HoldReason, 20))
    status: so.Mapped[StatementStatus] = so.mapped_column(_enum(StatementStatus), default=StatementStatus.DRAFT)
    published_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime())
    approved_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime())
    approved_by_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"))
    paid_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime())
    paid_reference: so.Mapped[str | None] = so.mapped_column(sa.String(128))
    unpaid_reason: so.Mapped[str | None] = so.mapped_column(sa.Text)

    agency = so.relationship("Agency", lazy="joined")

    def __repr__(self) -> str:
        return f"<Statement {self.period} {self.agency_id} {self.status.value}>"


class DisputeStatus(enum.StrEnum):
    OPEN = "open"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class Dispute(db.Model):
    """An agency's objection to one published line. The line's facts are copied, because a
    later run of an open period replaces computed lines (the run links open disputes to the
    recomputed line and statement again)."""

    __tablename__ = "commission_disputes"
    __table_args__ = (
        sa.Index("uq_commission_disputes_open_line", "line_id", unique=True,
                 sqlite_where=sa.text("status = 'open'"), postgresql_where=sa.text("status = 'open'")),
        # A line's disputes, newest first (the statement page shows each line's latest one).
        sa.Index("ix_commission_disputes_line_id_id", "line_id", "id"),
    )
    __agency_column__ = "agency_id"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    agency_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("agencies.id"), index=True)
    period: so.Mapped[str] = so.mapped_column(sa.String(7), index=True)
    line_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("commission_lines.id", ondelete="SET NULL"))
    statement_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("commission_statements.id", ondelete="SET NULL"), index=True)
    order_id: so.Mapped[str | None] = so.mapped_column(sa.String(64))
    component: so.Mapped[Component] = so.mapped_column(_enum(Component))
    source_period: so.Mapped[str | None] = so.mapped_column(sa.String(7))
    line_amount_fen: so.Mapped[int] = so.mapped_column(sa.BigInteger)
    comment: so.Mapped[str] = so.mapped_column(sa.Text)
    status: so.Mapped[DisputeStatus] = so.mapped_column(_enum(DisputeStatus), default=DisputeStatus.OPEN,
                                                        index=True)
    resolution: so.Mapped[str | None] = so.mapped_column(sa.Text)
    adjustment_fen: so.Mapped[int | None] = so.mapped_column(sa.BigInteger)
    adjustment_line_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("commission_lines.id", ondelete="SET NULL"))
    opened_by_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"))
    opened_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime(), default=utcnow)
    resolved_by_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"))
    resolved_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime())

    agency = so.relationship("Agency", lazy="joined")
    opened_by = so.relationship("User", foreign_keys=[opened_by_id])
