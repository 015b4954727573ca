"""API bearer tokens: agency tokens (products, leads, statements of one agency) and integration
tokens (activations and billing ingest). Only a SHA-256 hash of the token is stored."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm as so

from portal.core.db import UTCDateTime, db, utcnow


class TokenKind(enum.StrEnum):
    AGENCY = "agency"
    INTEGRATION = "integration"


class ApiToken(db.Model):
    __tablename__ = "api_tokens"
    __table_args__ = (
        sa.CheckConstraint("(kind = 'agency') = (agency_id IS NOT NULL)", name="agency_matches_kind"),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    kind: so.Mapped[TokenKind] = so.mapped_column(
        sa.Enum(TokenKind, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e])
    )
    agency_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("agencies.id", ondelete="CASCADE"), index=True
    )
    name: so.Mapped[str] = so.mapped_column(sa.String(100))
    prefix: so.Mapped[str] = so.mapped_column(sa.String(16))  # shown in lists to recognise a token
    token_hash: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime(), default=utcnow)
    created_by_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"))
    last_used_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime())
    revoked_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime())

    agency: so.Mapped[Any] = so.relationship("Agency", lazy="joined")

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def __repr__(self) -> str:
        return f"<ApiToken {self.prefix} {self.kind.value}>"
