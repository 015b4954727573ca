"""Leads (商机报备): one registration of one customer and product by one agency, and its history."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm as so

from portal.core.db import UTCDateTime, db, utcnow
from portal.core.models import AGENCY_ROLES, Role
from portal.core.permissions import agency_ids_in_regions


class LeadKind(enum.StrEnum):
    SALE = "sale"
    REFERRAL = "referral"


class LeadStatus(enum.StrEnum):
    SUBMITTED = "submitted"
    APPROVED = "approved"
    REJECTED = "rejected"
    ROUTED = "routed"
    ACCEPTED = "accepted"
    WON = "won"
    LOST = "lost"
    EXPIRED = "expired"


class ExtensionDecision(enum.StrEnum):
    GRANTED = "granted"
    DENIED = "denied"


# A lead in one of these states holds its customer and product: no second live lead may exist.
LIVE_STATUSES = frozenset({LeadStatus.SUBMITTED, LeadStatus.APPROVED, LeadStatus.ROUTED, LeadStatus.ACCEPTED})
CLOSED_STATUSES = frozenset(set(LeadStatus) - LIVE_STATUSES)
_LIVE_SQL = sa.text("status IN ('submitted', 'approved', 'routed', 'accepted')")


def _enum(e, length=16):
    return sa.Enum(e, native_enum=False, length=length, values_callable=lambda x: [m.value for m in x])


class Lead(db.Model):
    """A lead registration. `protected_until` is the last protected day (inclusive), a calendar
    date in Asia/Shanghai. Referrals (kind `referral`) go to an account manager."""

    __tablename__ = "leads"
    __table_args__ = (
        sa.Index(
            "uq_leads_live_customer_product",
            "customer_id",
            "product_id",
            unique=True,
            sqlite_where=_LIVE_SQL,
            postgresql_where=_LIVE_SQL,
        ),
        sa.Index("ix_leads_agency_status", "agency_id", "status"),
        # an agency's lead list is ordered by id and paged: one index serves the filter and the order
        sa.Index("ix_leads_agency_id_id", "agency_id", "id"),
        sa.CheckConstraint("expected_lines >= 0", name="expected_lines_nonneg"),
        sa.CheckConstraint("expected_monthly_revenue_fen >= 0", name="expected_revenue_nonneg"),
    )
    __agency_column__ = "agency_id"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    agency_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("agencies.id", ondelete="RESTRICT"))
    customer_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("customers.id", ondelete="RESTRICT"), index=True
    )
    product_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("products.id", ondelete="RESTRICT"), index=True
    )
    kind: so.Mapped[LeadKind] = so.mapped_column(_enum(LeadKind), default=LeadKind.SALE)
    status: so.Mapped[LeadStatus] = so.mapped_column(
        _enum(LeadStatus), default=LeadStatus.SUBMITTED, index=True
    )

    contact_name: so.Mapped[str] = so.mapped_column(sa.String(64))
    contact_mobile: so.Mapped[str] = so.mapped_column(sa.String(20))
    expected_lines: so.Mapped[int] = so.mapped_column(default=0)
    expected_monthly_revenue_fen: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=0)
    notes: so.Mapped[str] = so.mapped_column(sa.Text, default="")

    submitted_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime(), default=utcnow)
    approved_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime())
    protected_until: so.Mapped[date | None] = so.mapped_column(sa.Date, index=True)
    routed_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime())
    accepted_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime())
    account_manager_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"), index=True)
    decided_by_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"))
    decided_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime())
    reason: so.Mapped[str | None] = so.mapped_column(sa.Text)

    extension_requested_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime())
    extension_reason: so.Mapped[str | None] = so.mapped_column(sa.Text)
    extension_decision: so.Mapped[ExtensionDecision | None] = so.mapped_column(_enum(ExtensionDecision))
    extension_decided_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime())

    won_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime())
    order_id: so.Mapped[str | None] = so.mapped_column(sa.String(64))
    closed_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime())
    created_by_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"))
    updated_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    agency: so.Mapped[Any] = so.relationship("Agency", lazy="joined")
    customer: so.Mapped[Any] = so.relationship("Customer", lazy="joined")
    product: so.Mapped[Any] = so.relationship("Product", lazy="joined")
    account_manager: so.Mapped[Any] = so.relationship("User", foreign_keys=[account_manager_id])
    decided_by: so.Mapped[Any] = so.relationship("User", foreign_keys=[decided_by_id])
    created_by: so.Mapped[Any] = so.relationship("User", foreign_keys=[created_by_id])
    events: so.Mapped[list[LeadEvent]] = so.relationship(
        back_populates="lead", order_by="LeadEvent.id", cascade="all, delete-orphan"
    )

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_STATUSES

    @property
    def is_referral(self) -> bool:
        return self.kind == LeadKind.REFERRAL

    @property
    def may_request_extension(self) -> bool:
        return (
            self.status == LeadStatus.APPROVED
            and self.kind == LeadKind.SALE
            and self.extension_requested_at is None
        )

    @property
    def extension_pending(self) -> bool:
        return self.extension_requested_at is not None and self.extension_decision is None

    @classmethod
    def visible_to(cls, user):
        """Agency users: their agency's leads. Channel managers: leads of their regions' agencies.
        Account managers: leads routed to them and leads of the customers they own.
        Finance and admins: everything."""
        role = user.role
        if role in AGENCY_ROLES:
            return cls.agency_id == user.agency_id
        if role == Role.CHANNEL_MANAGER:
            return cls.agency_id.in_(agency_ids_in_regions(user.region_ids))
        if role == Role.ACCOUNT_MANAGER:
            from catalog.models import Customer

            owned = sa.select(Customer.id).where(Customer.account_manager_id == user.id)
            return sa.or_(cls.account_manager_id == user.id, cls.customer_id.in_(owned))
        if role in (Role.FINANCE, Role.ADMIN):
            return sa.true()
        return sa.false()

    def __repr__(self) -> str:
        return f"<Lead {self.id} {self.kind.value} {self.status.value}>"


class LeadEvent(db.Model):
    """One step in a lead's history (shown on the lead page; the audit log has the full record)."""

    __tablename__ = "lead_events"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    lead_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime(), default=utcnow)
    actor_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"))
    actor_label: so.Mapped[str] = so.mapped_column(sa.String(254), default="system")
    action: so.Mapped[str] = so.mapped_column(sa.String(32))
    from_status: so.Mapped[str | None] = so.mapped_column(sa.String(16))
    to_status: so.Mapped[str | None] = so.mapped_column(sa.String(16))
    note: so.Mapped[str | None] = so.mapped_column(sa.Text)

    lead: so.Mapped[Lead] = so.relationship(back_populates="events")


class AccountManagerCursor(db.Model):
    """Round-robin position of a region's account-manager pool (locked FOR UPDATE when used)."""

    __tablename__ = "lead_routing_cursors"

    region_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("regions.id", ondelete="CASCADE"), primary_key=True
    )
    last_user_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"))
