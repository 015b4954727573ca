"""Core tables: users and roles, regions, the audit log, notifications and the mail outbox."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy import orm as so

from portal.core.db import UTCDateTime, db, utcnow


class Role(enum.StrEnum):
    AGENCY_OWNER = "agency_owner"
    AGENCY_SALES = "agency_sales"
    CHANNEL_MANAGER = "channel_manager"
    ACCOUNT_MANAGER = "account_manager"
    FINANCE = "finance"
    ADMIN = "admin"

    @property
    def is_staff(self) -> bool:
        return self not in (Role.AGENCY_OWNER, Role.AGENCY_SALES)

    @property
    def is_agency(self) -> bool:
        return not self.is_staff


AGENCY_ROLES = frozenset({Role.AGENCY_OWNER, Role.AGENCY_SALES})
STAFF_ROLES = frozenset(set(Role) - AGENCY_ROLES)


user_regions = sa.Table(
    "user_regions",
    db.metadata,
    sa.Column("user_id", sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("region_id", sa.ForeignKey("regions.id", ondelete="CASCADE"), primary_key=True),
)


class Region(db.Model):
    """A sales region (地市); channel managers and account-manager pools are scoped by region."""

    __tablename__ = "regions"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    code: so.Mapped[str] = so.mapped_column(sa.String(8), unique=True)
    name_zh: so.Mapped[str] = so.mapped_column(sa.String(64))
    name_en: so.Mapped[str] = so.mapped_column(sa.String(64))

    def name(self, locale: str | None) -> str:
        return self.name_en if (locale or "").startswith("en") else self.name_zh

    def __repr__(self) -> str:
        return f"<Region {self.code}>"


class User(UserMixin, db.Model):
    """A person who signs in. Exactly one role; agency users belong to one agency."""

    __tablename__ = "users"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    email: so.Mapped[str] = so.mapped_column(sa.String(254), unique=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(128))
    password_hash: so.Mapped[str | None] = so.mapped_column(sa.String(256))
    role: so.Mapped[Role] = so.mapped_column(
        sa.Enum(Role, native_enum=False, length=32, values_callable=lambda e: [m.value for m in e])
    )
    agency_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("agencies.id", ondelete="RESTRICT"), index=True
    )
    locale: so.Mapped[str | None] = so.mapped_column(sa.String(16))
    is_enabled: so.Mapped[bool] = so.mapped_column(default=True)
    failed_logins: so.Mapped[int] = so.mapped_column(default=0, server_default="0")
    locked_until: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime())
    totp_secret: so.Mapped[str | None] = so.mapped_column(sa.String(64))
    totp_enabled: so.Mapped[bool] = so.mapped_column(default=False)
    totp_last_counter: so.Mapped[int | None] = so.mapped_column(sa.BigInteger)
    session_version: so.Mapped[int] = so.mapped_column(default=1, server_default="1")
    last_login_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime())
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime(), default=utcnow)

    regions: so.Mapped[list[Region]] = so.relationship(secondary=user_regions, lazy="selectin")
    agency: so.Mapped[Any] = so.relationship("Agency", foreign_keys=[agency_id], lazy="joined")

    # Flask-Login: the id carries a version so that "sign out everywhere" invalidates old cookies.
    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}"

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.is_enabled

    @property
    def is_staff(self) -> bool:
        return self.role.is_staff

    @property
    def is_agency_user(self) -> bool:
        return self.role.is_agency

    def has_role(self, *roles: Role) -> bool:
        return self.role in roles

    @property
    def region_ids(self) -> set[int]:
        return {r.id for r in self.regions}

    def __repr__(self) -> str:
        return f"<User {self.email} {self.role.value}>"


class AuditLog(db.Model):
    """Append-only record of every state change. Rows are never updated or deleted
    (enforced by database triggers installed with the schema)."""

    __tablename__ = "audit_log"
    __table_args__ = (
        sa.Index("ix_audit_log_object", "object_type", "object_id"),
        sa.Index("ix_audit_log_created_at", "created_at"),
    )

    id: so.Mapped[int] = so.mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime(), default=utcnow)
    actor_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"), index=True)
    actor_label: so.Mapped[str] = so.mapped_column(sa.String(254))
    action: so.Mapped[str] = so.mapped_column(sa.String(64), index=True)
    object_type: so.Mapped[str] = so.mapped_column(sa.String(64))
    object_id: so.Mapped[str | None] = so.mapped_column(sa.String(64))
    before: so.Mapped[dict | None] = so.mapped_column(sa.JSON)
    after: so.Mapped[dict | None] = so.mapped_column(sa.JSON)
    ip: so.Mapped[str | None] = so.mapped_column(sa.String(64))
    request_id: so.Mapped[str | None] = so.mapped_column(sa.String(64))

    actor: so.Mapped[User | None] = so.relationship(lazy="joined")


class Notification(db.Model):
    """An in-app notification for one user. Text is kept as a message id plus parameters so it
    renders in the reader's language."""

    __tablename__ = "notifications"
    __table_args__ = (sa.Index("ix_notifications_user_unread", "user_id", "read_at"),)

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    kind: so.Mapped[str] = so.mapped_column(sa.String(64))
    params: so.Mapped[dict] = so.mapped_column(sa.JSON, default=dict)
    link: so.Mapped[str | None] = so.mapped_column(sa.String(512))
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime(), default=utcnow)
    read_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime())


class OutboxMessage(db.Model):
    """An e-mail (or SMS) to send. Without SMTP configured it stays here for admins to read."""

    __tablename__ = "outbox"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    channel: so.Mapped[str] = so.mapped_column(sa.String(16), default="email")
    recipient: so.Mapped[str] = so.mapped_column(sa.String(254), index=True)
    subject: so.Mapped[str] = so.mapped_column(sa.String(255))
    body: so.Mapped[str] = so.mapped_column(sa.Text)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime(), default=utcnow)
    sent_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime())
    error: so.Mapped[str | None] = so.mapped_column(sa.Text)
    attempts: so.Mapped[int] = so.mapped_column(default=0, server_default="0")
    # A sender claims a message before sending it (see portal.core.notify.deliver_pending), so that
    # two workers or nodes never send it twice; a claim older than the lease may be taken over.
    claimed_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime())
