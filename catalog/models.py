"""Products and group customers."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import orm as so

from portal.core.db import UTCDateTime, db, utcnow
from portal.core.models import Region, User


def _enum(e, length=16):
    return sa.Enum(e, native_enum=False, length=length, values_callable=lambda x: [m.value for m in x])


class Tier(enum.StrEnum):
    LOW = "low"
    HIGH = "high"


class ProductStatus(enum.StrEnum):
    ACTIVE = "active"
    RETIRED = "retired"


HIGH_SCORE_THRESHOLD = 4  # any complexity score at or above this makes a product `high`


class Product(db.Model):
    """A group-customer product with its three complexity scores (1–5)."""

    __tablename__ = "products"
    __table_args__ = (
        sa.CheckConstraint("module_complexity BETWEEN 1 AND 5", name="module_complexity_range"),
        sa.CheckConstraint("market_exclusivity BETWEEN 1 AND 5", name="market_exclusivity_range"),
        sa.CheckConstraint("training_requirement BETWEEN 1 AND 5", name="training_requirement_range"),
        sa.CheckConstraint("monthly_price_fen >= 0", name="monthly_price_nonneg"),
        sa.CheckConstraint("one_time_price_fen >= 0", name="one_time_price_nonneg"),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    code: so.Mapped[str] = so.mapped_column(sa.String(32), unique=True)
    name_zh: so.Mapped[str] = so.mapped_column(sa.String(128))
    name_en: so.Mapped[str] = so.mapped_column(sa.String(128))
    category: so.Mapped[str] = so.mapped_column(sa.String(32), index=True)
    description_zh: so.Mapped[str] = so.mapped_column(sa.Text, default="")
    description_en: so.Mapped[str] = so.mapped_column(sa.Text, default="")
    monthly_price_fen: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=0)
    one_time_price_fen: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=0)
    status: so.Mapped[ProductStatus] = so.mapped_column(
        _enum(ProductStatus), default=ProductStatus.ACTIVE, index=True
    )
    module_complexity: so.Mapped[int] = so.mapped_column(sa.SmallInteger)
    market_exclusivity: so.Mapped[int] = so.mapped_column(sa.SmallInteger)
    training_requirement: so.Mapped[int] = so.mapped_column(sa.SmallInteger)
    tier_override: so.Mapped[Tier | None] = so.mapped_column(_enum(Tier))
    tier_override_reason: so.Mapped[str | None] = so.mapped_column(sa.Text)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime(), default=utcnow)
    updated_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    @property
    def derived_tier(self) -> Tier:
        scores = (self.module_complexity, self.market_exclusivity, self.training_requirement)
        return Tier.HIGH if any(s >= HIGH_SCORE_THRESHOLD for s in scores) else Tier.LOW

    @property
    def tier(self) -> Tier:
        """The effective tier: the admin's override when set, else derived from the scores."""
        return self.tier_override or self.derived_tier

    @property
    def is_active(self) -> bool:
        return self.status == ProductStatus.ACTIVE

    def __repr__(self) -> str:
        return f"<Product {self.code}>"


class CustomerTier(enum.StrEnum):
    A = "A"
    B = "B"
    C = "C"
    D = "D"


NAMED_ACCOUNT_TIERS = frozenset({CustomerTier.A, CustomerTier.B})


class Customer(db.Model):
    """A group customer (集团客户), identified by its USCC."""

    __tablename__ = "customers"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    uscc: so.Mapped[str] = so.mapped_column(sa.String(18), unique=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(200), index=True)
    industry: so.Mapped[str] = so.mapped_column(sa.String(32), default="other")
    region_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("regions.id"), index=True)
    tier: so.Mapped[CustomerTier] = so.mapped_column(_enum(CustomerTier, 1), default=CustomerTier.D)
    account_manager_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"), index=True)
    # value-assessment inputs (价值评估)
    monthly_spend_fen: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=0)
    members: so.Mapped[int] = so.mapped_column(default=0)
    strategic: so.Mapped[bool] = so.mapped_column(default=False)
    value_score: so.Mapped[int | None] = so.mapped_column()
    tier_manual: so.Mapped[bool] = so.mapped_column(default=False)
    tier_reason: so.Mapped[str | None] = so.mapped_column(sa.Text)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime(), default=utcnow)

    region: so.Mapped[Region | None] = so.relationship(lazy="joined")
    account_manager: so.Mapped[User | None] = so.relationship(lazy="joined")

    @property
    def is_named_account(self) -> bool:
        return self.tier in NAMED_ACCOUNT_TIERS

    def __repr__(self) -> str:
        return f"<Customer {self.uscc} {self.tier.value}>"
