"""Builders for test data. Each returns a flushed row; tests commit nothing themselves."""

from __future__ import annotations

import itertools
from datetime import date

import sqlalchemy as sa

from catalog.models import Customer, CustomerTier, Product, ProductStatus
from portal.core import operations as ops
from portal.core.db import db
from portal.core.models import AGENCY_ROLES, Region, Role
from portal.core.validators import uscc_check_character
from portal.partners.models import Agency, AgencyGrade, AgencyStatus, Grade

PASSWORD = "correct-horse-battery"
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"

_seq = itertools.count(1)


def next_seq() -> int:
    return next(_seq)


def make_uscc(seed: int | None = None) -> str:
    """A valid unified social credit code (check character computed)."""
    n = seed if seed is not None else next_seq()
    first17 = f"91440101MA{n:07d}"
    return first17 + uscc_check_character(first17)


class Builder:
    def region(self, code: str | None = None, **kw) -> Region:
        code = code or f"R{next_seq()}"
        existing = db.session.scalar(sa.select(Region).where(Region.code == code))
        if existing:
            return existing
        region = Region(code=code, name_zh=kw.get("name_zh", f"区域{code}"),
                        name_en=kw.get("name_en", f"Region {code}"))
        db.session.add(region)
        db.session.flush()
        return region

    def agency(self, code: str | None = None, region: Region | None = None,
               status: AgencyStatus = AgencyStatus.ACTIVE, grade: Grade | None = Grade.SILVER,
               grade_from: date = date(2020, 1, 1), **kw) -> Agency:
        region = region or self.region("GZ")
        n = next_seq()
        agency = Agency(
            code=code if code is not None else (f"AG{region.code}{n:04d}" if status != AgencyStatus.PENDING else None),
            name=kw.pop("name", f"Agency {n}"),
            uscc=kw.pop("uscc", make_uscc(n)),
            region_id=region.id,
            status=status,
            **kw,
        )
        if grade is not None:
            agency.grades.append(AgencyGrade(grade=grade, effective_from=grade_from))
        db.session.add(agency)
        db.session.flush()
        return agency

    def user(self, role: Role = Role.AGENCY_SALES, agency: Agency | None = None, email: str | None = None,
             password: str = PASSWORD, regions: list[Region] | None = None, totp: bool | None = None,
             **kw):
        role = Role(role)
        if role in AGENCY_ROLES and agency is None:
            agency = self.agency()
        if role == Role.CHANNEL_MANAGER and regions is None:
            regions = [self.region("GZ")]
        email = email or f"{role.value}{next_seq()}@example.test"
        return ops.create_user(
            email, kw.pop("name", email.split("@")[0]), role, password,
            agency_id=agency.id if agency else None,
            region_ids=[r.id for r in regions or []],
            totp_secret=TOTP_SECRET if (totp if totp is not None else role.is_staff) else None,
            **kw,
        )

    def product(self, code: str | None = None, scores=(1, 1, 1), status=ProductStatus.ACTIVE, **kw) -> Product:
        code = code or f"P-{next_seq()}"
        product = Product(
            code=code,
            name_zh=kw.pop("name_zh", f"产品{code}"),
            name_en=kw.pop("name_en", f"Product {code}"),
            category=kw.pop("category", "messaging"),
            description_zh=kw.pop("description_zh", ""),
            description_en=kw.pop("description_en", ""),
            monthly_price_fen=kw.pop("monthly_price_fen", 10000),
            one_time_price_fen=kw.pop("one_time_price_fen", 0),
            module_complexity=scores[0], market_exclusivity=scores[1], training_requirement=scores[2],
            status=status, **kw,
        )
        db.session.add(product)
        db.session.flush()
        return product

    def customer(self, tier: CustomerTier = CustomerTier.C, region: Region | None = None,
                 account_manager=None, **kw) -> Customer:
        n = next_seq()
        region = region or self.region("GZ")
        if tier in (CustomerTier.A, CustomerTier.B) and account_manager is None:
            account_manager = self.user(Role.ACCOUNT_MANAGER, regions=[region])
        customer = Customer(
            uscc=kw.pop("uscc", make_uscc(500000 + n)),
            name=kw.pop("name", f"Customer {n}"),
            industry=kw.pop("industry", "other"),
            region_id=region.id,
            tier=tier,
            account_manager_id=account_manager.id if account_manager else None,
            **kw,
        )
        db.session.add(customer)
        db.session.flush()
        return customer
