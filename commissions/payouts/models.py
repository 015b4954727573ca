"""Payout tables: the agency's payout account (Stripe state and bank details), one row per payout
attempt of a statement, explicit carries, and the Stripe webhook events already processed."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import orm as so

from portal.core.db import UTCDateTime, db, utcnow


def _enum(e, length: int = 16):
    return sa.Enum(e, native_enum=False, length=length, values_callable=lambda x: [m.value for m in x])


class Rail(enum.StrEnum):
    STRIPE = "stripe"
    BANK = "bank"


class PayoutStatus(enum.StrEnum):
    PENDING = "pending"      # recorded before the Stripe call / waiting for the bank reference
    PAID = "paid"            # Stripe transfer created, or bank reference recorded
    FAILED = "failed"        # Stripe refused it (nothing was transferred); a new attempt may follow
    REVERSED = "reversed"    # the transfer was reversed; the statement is unpaid again


# A statement has at most one payout that is pending or paid: the database refuses a second one,
# so two runs, a double click or a retry can never create two live payouts for one statement.
_LIVE_SQL = sa.text("status IN ('pending', 'paid')")


class PayoutAccount(db.Model):
    """What the portal knows of an agency's payout account: its Stripe Connect state (kept from
    `accounts.retrieve` and `account.updated`) and its bank details for the bank rail."""

    __tablename__ = "payout_accounts"
    __agency_column__ = "agency_id"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    agency_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("agencies.id", ondelete="CASCADE"), unique=True)
    # Stripe Connect (the account id itself lives on Agency.stripe_account_id)
    stripe_account_id: so.Mapped[str | None] = so.mapped_column(sa.String(64), index=True)
    payouts_enabled: so.Mapped[bool] = so.mapped_column(default=False)
    details_submitted: so.Mapped[bool] = so.mapped_column(default=False)
    transfers_capability: so.Mapped[str | None] = so.mapped_column(sa.String(16))
    currently_due: so.Mapped[list] = so.mapped_column(sa.JSON, default=list)
    disabled_reason: so.Mapped[str | None] = so.mapped_column(sa.String(128))
    stripe_checked_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime())
    last_event_id: so.Mapped[str | None] = so.mapped_column(sa.String(64))
    last_payout_status: so.Mapped[str | None] = so.mapped_column(sa.String(32))
    last_payout_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime())
    # Bank transfer rail
    bank_account_name: so.Mapped[str | None] = so.mapped_column(sa.String(200))
    bank_name: so.Mapped[str | None] = so.mapped_column(sa.String(200))
    bank_account_number: so.Mapped[str | None] = so.mapped_column(sa.String(64))
    updated_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    @property
    def stripe_usable(self) -> bool:
        return bool(self.stripe_account_id and self.payouts_enabled and self.transfers_capability == "active")

    @property
    def has_bank_details(self) -> bool:
        return bool(self.bank_account_name and self.bank_name and self.bank_account_number)


class Payout(db.Model):
    """One attempt to pay one statement, by Stripe transfer or by bank transfer.

    Stripe attempts are written and committed as `pending` before the API call and completed
    after it; the idempotency key is derived from the statement and the attempt's generation, so
    a re-run that finds the pending row replays the very same request."""

    __tablename__ = "payouts"
    __agency_column__ = "agency_id"
    __table_args__ = (
        sa.Index("uq_payouts_live_statement", "statement_id", unique=True,
                 sqlite_where=_LIVE_SQL, postgresql_where=_LIVE_SQL),
        sa.UniqueConstraint("statement_id", "generation", name="uq_payouts_statement_generation"),
        sa.Index("ix_payouts_period_status", "period", "status"),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    statement_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("commission_statements.id", ondelete="RESTRICT"), index=True)
    agency_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("agencies.id", ondelete="RESTRICT"), index=True)
    period: so.Mapped[str] = so.mapped_column(sa.String(7))
    rail: so.Mapped[Rail] = so.mapped_column(_enum(Rail))
    status: so.Mapped[PayoutStatus] = so.mapped_column(_enum(PayoutStatus), default=PayoutStatus.PENDING)
    generation: so.Mapped[int] = so.mapped_column(default=1)
    amount_fen: so.Mapped[int] = so.mapped_column(sa.BigInteger)
    currency: so.Mapped[str] = so.mapped_column(sa.String(3), default="cny")
    idempotency_key: so.Mapped[str | None] = so.mapped_column(sa.String(80), unique=True)
    stripe_account_id: so.Mapped[str | None] = so.mapped_column(sa.String(64))
    stripe_transfer_id: so.Mapped[str | None] = so.mapped_column(sa.String(64), unique=True)
    reversed_fen: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=0)
    bank_reference: so.Mapped[str | None] = so.mapped_column(sa.String(128))
    error: so.Mapped[str | None] = so.mapped_column(sa.Text)
    attempts: so.Mapped[int] = so.mapped_column(default=0)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime(), default=utcnow)
    created_by_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"))
    completed_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime())
    updated_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    @property
    def reference(self) -> str | None:
        return self.stripe_transfer_id or self.bank_reference


class PayoutCarry(db.Model):
    """Finance's explicit decision not to pay a payable statement in its period (carried forward);
    the period may then close with the statement unpaid."""

    __tablename__ = "payout_carries"
    __agency_column__ = "agency_id"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    statement_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("commission_statements.id", ondelete="RESTRICT"), unique=True)
    agency_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("agencies.id", ondelete="RESTRICT"), index=True)
    period: so.Mapped[str] = so.mapped_column(sa.String(7), index=True)
    amount_fen: so.Mapped[int] = so.mapped_column(sa.BigInteger)
    reason: so.Mapped[str] = so.mapped_column(sa.Text)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime(), default=utcnow)
    created_by_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"))


class WebhookEvent(db.Model):
    """A Stripe event already processed (its id is unique: a replay changes nothing)."""

    __tablename__ = "stripe_webhook_events"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    event_id: so.Mapped[str] = so.mapped_column(sa.String(80), unique=True)
    type: so.Mapped[str] = so.mapped_column(sa.String(80))
    account: so.Mapped[str | None] = so.mapped_column(sa.String(64))
    object_id: so.Mapped[str | None] = so.mapped_column(sa.String(80))
    outcome: so.Mapped[str] = so.mapped_column(sa.String(200), default="")
    received_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime(), default=utcnow)
