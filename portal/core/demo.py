"""Demo regions and staff sign-ins (SPEC §8)."""

from __future__ import annotations

import sqlalchemy as sa

from portal.core import operations as ops
from portal.core.db import db
from portal.core.models import Region, Role

REGIONS = [("GZ", "广州", "Guangzhou"), ("SZ", "深圳", "Shenzhen")]

STAFF = [
    ("admin@demo.local", "系统管理员 Admin", Role.ADMIN, []),
    ("channel@demo.local", "渠道经理 Channel Manager", Role.CHANNEL_MANAGER, ["GZ", "SZ"]),
    ("am@demo.local", "客户经理 Account Manager", Role.ACCOUNT_MANAGER, ["GZ"]),
    ("finance@demo.local", "财务 Finance", Role.FINANCE, []),
]


def load(ctx) -> None:
    from portal.demo import DEMO_PASSWORD, DEMO_TOTP_SECRET

    for code, zh, en in REGIONS:
        region = db.session.scalar(sa.select(Region).where(Region.code == code))
        ctx.regions[code] = region or ops.create_region(code, zh, en)
    for email, name, role, regions in STAFF:
        user = ops.get_user_by_email(email) or ops.create_user(
            email, name, role, DEMO_PASSWORD,
            region_ids=[ctx.regions[c].id for c in regions], totp_secret=DEMO_TOTP_SECRET,
        )
        ctx.users[email] = user
    ctx.summary.append(f"regions: {', '.join(ctx.regions)}; staff users: {len(STAFF)}")
