"""Agency tables: agencies, their grade history, application rounds and code counters."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm as so

from portal.core.db import UTCDateTime, db, utcnow
from portal.core.models import Region


class AgencyStatus(enum.StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    REJECTED = "rejected"
    TERMINATED = "terminated"


# An application or agency in one of these states holds its USCC: no second one may exist.
LIVE_STATUSES = (AgencyStatus.PENDING, AgencyStatus.ACTIVE, AgencyStatus.SUSPENDED)
_LIVE_SQL = sa.text("status IN ('pending', 'active', 'suspended')")


class Grade(enum.StrEnum):
    GOLD = "gold"
    SILVER = "silver"
    BRONZE = "bronze"


class RoundOutcome(enum.StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"
    INFO_REQUESTED = "info_requested"


def _enum(e):
    return sa.Enum(e, native_enum=False, length=16, values_callable=lambda x: [m.value for m in x])


class Agency(db.Model):
    """A third-party sales agency. `code` is issued on approval (AG + region code + 4 digits).

    From the application on, the row holds the company's details as last submitted; each
    submission is also kept as an `ApplicationRound`."""

    __tablename__ = "agencies"
    __table_args__ = (
        sa.Index(
            "uq_agencies_live_uscc", "uscc", unique=True, sqlite_where=_LIVE_SQL, postgresql_where=_LIVE_SQL
        ),
    )
    __agency_column__ = "id"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    code: so.Mapped[str | None] = so.mapped_column(sa.String(16), unique=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(200))
    uscc: so.Mapped[str] = so.mapped_column(sa.String(18), index=True)
    region_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("regions.id"), index=True)
    status: so.Mapped[AgencyStatus] = so.mapped_column(
        _enum(AgencyStatus), default=AgencyStatus.PENDING, index=True
    )
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime(), default=utcnow)

    # Application details (SPEC §3)
    legal_representative: so.Mapped[str | None] = so.mapped_column(sa.String(64))
    contact_name: so.Mapped[str | None] = so.mapped_column(sa.String(64))
    mobile: so.Mapped[str | None] = so.mapped_column(sa.String(20))
    email: so.Mapped[str | None] = so.mapped_column(sa.String(254))
    address: so.Mapped[str | None] = so.mapped_column(sa.String(300))
    business_scope: so.Mapped[str | None] = so.mapped_column(sa.Text)
    licence_file: so.Mapped[str | None] = so.mapped_column(sa.String(80))  # random name in the data dir
    licence_filename: so.Mapped[str | None] = so.mapped_column(sa.String(200))  # as uploaded, for display
    licence_mime: so.Mapped[str | None] = so.mapped_column(sa.String(40))
    agreement_version: so.Mapped[str | None] = so.mapped_column(sa.String(16))
    agreement_accepted_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime())

    # Lifecycle
    approved_on: so.Mapped[date | None] = so.mapped_column(sa.Date)
    status_reason: so.Mapped[str | None] = so.mapped_column(sa.Text)
    status_changed_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime())
    # An existing Stripe Connect account (imported, or connected by the payouts feature).
    stripe_account_id: so.Mapped[str | None] = so.mapped_column(sa.String(64))

    region: so.Mapped[Region] = so.relationship(lazy="joined")
    grades: so.Mapped[list[AgencyGrade]] = so.relationship(
        back_populates="agency", order_by="AgencyGrade.effective_from", cascade="all, delete-orphan"
    )
    rounds: so.Mapped[list[ApplicationRound]] = so.relationship(
        back_populates="agency", order_by="ApplicationRound.number", cascade="all, delete-orphan"
    )
    status_history: so.Mapped[list[AgencyStatusChange]] = so.relationship(
        back_populates="agency",
        order_by="(AgencyStatusChange.effective_from, AgencyStatusChange.id)",
        cascade="all, delete-orphan",
    )

    def grade_on(self, day: date) -> Grade | None:
        """The grade with the latest `effective_from` not after `day`."""
        current = None
        for g in self.grades:
            if g.effective_from <= day:
                current = g.grade
        return current

    @property
    def latest_round(self) -> ApplicationRound | None:
        return self.rounds[-1] if self.rounds else None

    @property
    def awaiting_review(self) -> bool:
        """Pending, with a submission no channel manager has decided yet."""
        last = self.latest_round
        return self.status == AgencyStatus.PENDING and last is not None and last.outcome is None

    @property
    def awaiting_applicant(self) -> bool:
        """Pending, and the channel manager asked the applicant for more information."""
        last = self.latest_round
        return (
            self.status == AgencyStatus.PENDING
            and last is not None
            and last.outcome == RoundOutcome.INFO_REQUESTED
        )

    def __repr__(self) -> str:
        return f"<Agency {self.code or self.uscc} {self.status.value}>"


class AgencyGrade(db.Model):
    """One entry of an agency's grade history."""

    __tablename__ = "agency_grades"
    __table_args__ = (sa.UniqueConstraint("agency_id", "effective_from", name="uq_agency_grades_day"),)
    __agency_column__ = "agency_id"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    agency_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("agencies.id", ondelete="CASCADE"), index=True)
    grade: so.Mapped[Grade] = so.mapped_column(_enum(Grade))
    effective_from: so.Mapped[date] = so.mapped_column(sa.Date)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime(), default=utcnow)
    created_by_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"))
    reason: so.Mapped[str | None] = so.mapped_column(sa.Text)

    agency: so.Mapped[Agency] = so.relationship(back_populates="grades")


class AgencyStatusChange(db.Model):
    """One entry of an agency's status history: `status` from the Shanghai calendar day
    `effective_from` on. The status in effect on a day is that of the entry with the latest
    `effective_from` not after it (the last change of that day when there are several), like the
    grade history. Written by every status change in `portal.partners.operations`."""

    __tablename__ = "agency_status_history"
    __table_args__ = (sa.Index("ix_agency_status_history_agency_day", "agency_id", "effective_from"),)
    __agency_column__ = "agency_id"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    agency_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("agencies.id", ondelete="CASCADE"))
    status: so.Mapped[AgencyStatus] = so.mapped_column(_enum(AgencyStatus))
    effective_from: so.Mapped[date] = so.mapped_column(sa.Date)
    changed_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime(), default=utcnow)
    changed_by_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"))
    reason: so.Mapped[str | None] = so.mapped_column(sa.Text)

    agency: so.Mapped[Agency] = so.relationship(back_populates="status_history")


class ApplicationRound(db.Model):
    """One submission of an application and the channel manager's decision on it.

    A request for more information closes a round; the applicant's resubmission opens the next."""

    __tablename__ = "application_rounds"
    __table_args__ = (sa.UniqueConstraint("agency_id", "number", name="uq_application_rounds_number"),)
    __agency_column__ = "agency_id"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    agency_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("agencies.id", ondelete="CASCADE"), index=True)
    number: so.Mapped[int] = so.mapped_column()
    submitted_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime(), default=utcnow)
    data: so.Mapped[dict] = so.mapped_column(sa.JSON, default=dict)  # the fields as submitted
    outcome: so.Mapped[RoundOutcome | None] = so.mapped_column(_enum(RoundOutcome))
    note: so.Mapped[str | None] = so.mapped_column(sa.Text)  # reason / question of the reviewer
    decided_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime())
    decided_by_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"))

    agency: so.Mapped[Agency] = so.relationship(back_populates="rounds")
    decided_by: so.Mapped[Any] = so.relationship("User", foreign_keys=[decided_by_id])


class AgencyCodeCounter(db.Model):
    """The last agency-code sequence issued per region; locked FOR UPDATE while a code is issued."""

    __tablename__ = "agency_code_counters"

    region_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("regions.id", ondelete="CASCADE"), primary_key=True
    )
    last_seq: so.Mapped[int] = so.mapped_column(default=0)
