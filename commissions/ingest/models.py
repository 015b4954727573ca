"""Activations and billing records as delivered by the operator's billing system (BOSS), and the
report of every import run.

`Activation.order_id` is the business key; `BillingRecord` is keyed by (order_id, period).
Immutable facts of an activation (everything but the termination) never change after the first
import; a later row may add `terminated_at`, a billing row may change `paid_fen` (see
commissions.ingest.operations)."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm as so

from commissions.jobs import Job  # noqa: F401 - the job table is part of this package's schema
from portal.core.db import UTCDateTime, db, utcnow


def _enum(e, length=16):
    return sa.Enum(e, native_enum=False, length=length, values_callable=lambda x: [m.value for m in x])


class Activation(db.Model):
    """One order (业务开通) of a group customer."""

    __tablename__ = "activations"
    __table_args__ = (
        sa.CheckConstraint("quantity >= 1", name="quantity_positive"),
        sa.CheckConstraint("monthly_fee_fen >= 0", name="monthly_fee_nonneg"),
        sa.CheckConstraint("one_time_fee_fen >= 0", name="one_time_fee_nonneg"),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    order_id: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    uscc: so.Mapped[str] = so.mapped_column(sa.String(18), index=True)
    customer_name: so.Mapped[str] = so.mapped_column(sa.String(200))
    product_code: so.Mapped[str] = so.mapped_column(sa.String(32), index=True)
    agent_code: so.Mapped[str | None] = so.mapped_column(sa.String(16), index=True)
    quantity: so.Mapped[int] = so.mapped_column(sa.Integer)
    monthly_fee_fen: so.Mapped[int] = so.mapped_column(sa.BigInteger)
    one_time_fee_fen: so.Mapped[int] = so.mapped_column(sa.BigInteger)
    activated_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime())
    activation_date: so.Mapped[date] = so.mapped_column(sa.Date, index=True)  # Asia/Shanghai
    terminated_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime())
    termination_date: so.Mapped[date | None] = so.mapped_column(sa.Date, index=True)  # Asia/Shanghai
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime(), default=utcnow)
    updated_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    def __repr__(self) -> str:
        return f"<Activation {self.order_id}>"


class BillingRecord(db.Model):
    """What one order was billed and what the customer paid in one month."""

    __tablename__ = "billing_records"
    __table_args__ = (
        # The key is (period, order_id) and nothing else: no surrogate id, whose index cost a
        # third of a monthly import (1,000,000 rows). (period, order_id), not (order_id, period):
        # a new month's rows append at the end of the index instead of touching every leaf page,
        # and the key also serves "all billing of period P". SQLite keeps the rows in that key's
        # b-tree (WITHOUT ROWID) instead of a rowid table and an index.
        sa.PrimaryKeyConstraint("period", "order_id", name="pk_billing_records"),
        sa.CheckConstraint("billed_fen >= 0", name="billed_nonneg"),
        sa.CheckConstraint("paid_fen >= 0", name="paid_nonneg"),
        {"sqlite_with_rowid": False},
    )

    period: so.Mapped[str] = so.mapped_column(sa.String(7))  # YYYY-MM
    order_id: so.Mapped[str] = so.mapped_column(sa.String(64))
    billed_fen: so.Mapped[int] = so.mapped_column(sa.BigInteger)
    paid_fen: so.Mapped[int] = so.mapped_column(sa.BigInteger)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime(), default=utcnow)
    updated_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    def __repr__(self) -> str:
        return f"<BillingRecord {self.order_id} {self.period}>"


class ImportKind(enum.StrEnum):
    ACTIVATIONS = "activations"
    BILLING = "billing"


class ImportSource(enum.StrEnum):
    UI = "ui"
    CLI = "cli"
    API = "api"
    DEMO = "demo"


class ImportStatus(enum.StrEnum):
    UPLOADED = "uploaded"    # stored, not yet checked
    PREVIEWED = "previewed"  # checked, nothing applied, waiting for the user
    APPLIED = "applied"      # the good rows are stored
    REFUSED = "refused"      # bad rows and no confirmation: nothing applied
    FAILED = "failed"        # the file could not be read (header, encoding …): nothing applied
    DISCARDED = "discarded"  # the user dropped a previewed upload


class ImportRun(db.Model):
    """The report of one import: counts and every rejected row (line, reason).

    Every rejected row is an `ImportRejection`; `rejections` repeats the first
    INLINE_REJECTIONS of them (by line) as `[line, order_id, code, params]` for the pages, the
    command line and the API; `rejected` is always the full count."""

    __tablename__ = "import_runs"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    kind: so.Mapped[ImportKind] = so.mapped_column(_enum(ImportKind))
    source: so.Mapped[ImportSource] = so.mapped_column(_enum(ImportSource))
    status: so.Mapped[ImportStatus] = so.mapped_column(_enum(ImportStatus), default=ImportStatus.UPLOADED,
                                                       index=True)
    filename: so.Mapped[str] = so.mapped_column(sa.String(255), default="")
    stored_file: so.Mapped[str | None] = so.mapped_column(sa.String(80))  # random name in the data dir
    file_size: so.Mapped[int | None] = so.mapped_column(sa.BigInteger)
    skip_bad: so.Mapped[bool] = so.mapped_column(default=False)
    rows_read: so.Mapped[int] = so.mapped_column(sa.Integer, default=0)
    inserted: so.Mapped[int] = so.mapped_column(sa.Integer, default=0)
    updated: so.Mapped[int] = so.mapped_column(sa.Integer, default=0)
    unchanged: so.Mapped[int] = so.mapped_column(sa.Integer, default=0)
    rejected: so.Mapped[int] = so.mapped_column(sa.Integer, default=0)
    previewed_rejected: so.Mapped[int | None] = so.mapped_column(sa.Integer)
    rejections: so.Mapped[list[Any]] = so.mapped_column(sa.JSON, default=list)
    message: so.Mapped[str | None] = so.mapped_column(sa.Text)  # English, for logs and the CLI
    error: so.Mapped[dict[str, Any] | None] = so.mapped_column(sa.JSON)  # unreadable file: {code, params}
    seconds: so.Mapped[float | None] = so.mapped_column(sa.Float)  # duration, not money
    job_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("jobs.id", ondelete="SET NULL"), index=True)
    created_by_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"), index=True)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime(), default=utcnow, index=True)
    finished_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime())

    created_by = so.relationship("User", lazy="joined")

    @property
    def applied(self) -> bool:
        return self.status == ImportStatus.APPLIED

    def __repr__(self) -> str:
        return f"<ImportRun {self.id} {self.kind} {self.status}>"


class ImportRejection(db.Model):
    """One rejected row of an import (SPEC §5.1: every rejected row with its line number and a
    reason): the reason is a code and its parameters, put into words in the reader's language."""

    __tablename__ = "import_rejections"
    __table_args__ = (sa.Index("ix_import_rejections_run_line", "run_id", "line"),)

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    run_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("import_runs.id", ondelete="CASCADE"))
    line: so.Mapped[int] = so.mapped_column(sa.Integer)
    order_id: so.Mapped[str | None] = so.mapped_column(sa.String(64))
    code: so.Mapped[str] = so.mapped_column(sa.String(32))
    params: so.Mapped[dict[str, Any]] = so.mapped_column(sa.JSON, default=dict)
