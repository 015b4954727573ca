"""Demo leads in every state, a conflict, referrals, an extension request and API tokens' absence
(tokens are made on demand: they are shown only once).

Runs the real operations, so the leads carry their history, audit records and notifications."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from catalog.models import Customer, CustomerTier, Product, ProductStatus, Tier
from portal.core.context import Actor, reset_actor, set_actor
from portal.core.db import db
from portal.core.models import User
from portal.core.time import today_shanghai
from portal.core.validators import uscc_check_character
from portal.leads import operations as ops

CUSTOMERS = [
    # first 17 characters of the USCC, name, tier, region
    ("91440101MA5DL0001", "广州天河智慧物流有限公司", CustomerTier.C, "GZ"),
    ("91440101MA5DL0002", "广州珠江连锁餐饮管理有限公司", CustomerTier.D, "GZ"),
    ("91440101MA5DL0003", "广州白云制衣集团有限公司", CustomerTier.C, "GZ"),
    ("91440101MA5DL0004", "广州番禺教育培训中心", CustomerTier.D, "GZ"),
    ("91440101MA5DL0005", "广州黄埔精密制造有限公司", CustomerTier.C, "GZ"),
    ("91440101MA5DL0006", "广州荔湾医疗器械有限公司", CustomerTier.D, "GZ"),
    ("91440101MA5DL0007", "广州海珠文化传媒有限公司", CustomerTier.C, "GZ"),
    ("91440101MA5DL0008", "广州南方商业银行股份有限公司", CustomerTier.A, "GZ"),
    ("91440300MA5DL0009", "深圳南山软件园运营有限公司", CustomerTier.C, "SZ"),
]
FALLBACK_PRODUCTS = [
    # code, zh, en, category, scores
    ("GRP-SMS", "集团短信", "Group SMS", "messaging", (2, 2, 2)),
    ("GRP-VPN", "集团 VPN 专线", "Group VPN private line", "connectivity", (4, 3, 3)),
]


def _uscc(first17: str) -> str:
    return first17 + uscc_check_character(first17)


def _products(ctx) -> tuple[Product, Product]:
    """A low and a high product from the catalog (the catalog's demo, else two made here)."""
    products = list(ctx.products.values()) or list(
        db.session.scalars(
            sa.select(Product).where(Product.status == ProductStatus.ACTIVE).order_by(Product.code)
        )
    )
    lows = [p for p in products if p.tier == Tier.LOW and p.status == ProductStatus.ACTIVE]
    highs = [p for p in products if p.tier == Tier.HIGH and p.status == ProductStatus.ACTIVE]
    for code, zh, en, category, scores in FALLBACK_PRODUCTS:
        wanted = lows if scores == (2, 2, 2) else highs
        if wanted:
            continue
        product = db.session.scalar(sa.select(Product).where(Product.code == code))
        if product is None:
            product = Product(
                code=code,
                name_zh=zh,
                name_en=en,
                category=category,
                monthly_price_fen=20000,
                module_complexity=scores[0],
                market_exclusivity=scores[1],
                training_requirement=scores[2],
            )
            db.session.add(product)
            db.session.flush()
            ctx.products[code] = product
        wanted.append(product)
    lows.sort(key=lambda p: (p.code != "GRP-SMS", p.code))
    return lows[0], highs[0]


def _customer(
    ctx, first17: str, name: str, tier: CustomerTier, region: str, manager: User | None
) -> Customer:
    uscc = _uscc(first17)
    customer = ctx.customers.get(uscc) or db.session.scalar(sa.select(Customer).where(Customer.uscc == uscc))
    if customer is None:
        customer = Customer(
            uscc=uscc,
            name=name,
            industry="other",
            region_id=ctx.regions[region].id,
            tier=tier,
            account_manager_id=manager.id if manager and tier in (CustomerTier.A, CustomerTier.B) else None,
        )
        db.session.add(customer)
        db.session.flush()
        ctx.customers[uscc] = customer
    return customer


def load(ctx) -> None:
    agency1 = ctx.agencies.get("AGGZ0001")
    agency2 = ctx.agencies.get("AGSZ0001")
    sales = ctx.users.get("sales@agency1.demo.local")
    owner2 = ctx.users.get("owner@agency2.demo.local")
    channel = ctx.users.get("channel@demo.local")
    am = ctx.users.get("am@demo.local")
    if not (agency1 and agency2 and sales and channel and am):
        ctx.summary.append("leads: skipped (the demo agencies or staff are missing)")
        return
    low, high = _products(ctx)
    customers = [_customer(ctx, *row, manager=am) for row in CUSTOMERS]
    today = today_shanghai()

    def register(agency, user, customer, product, **kw):
        return ops.register_leads(
            agency,
            user,
            customer.uscc,
            customer.name,
            kw.get("contact", "陈经理"),
            "13800138000",
            [product.code],
            kw.get("lines", 20),
            kw.get("revenue", "2400.00"),
            kw.get("notes", ""),
            today=today,
        )

    def as_user(user):
        return set_actor(Actor(user_id=user.id if user else None, label=user.email if user else "system"))

    token = as_user(sales)
    try:
        submitted = register(
            agency1, sales, customers[0], low, notes="客户计划下月扩容 / expansion next month"
        ).created[0]
        approved = register(agency1, sales, customers[1], low).created[0]
        expiring = register(agency1, sales, customers[2], low).created[0]
        rejected = register(agency1, sales, customers[3], low).created[0]
        expired = register(agency1, sales, customers[4], low).created[0]
        won = register(agency1, sales, customers[5], low).created[0]
        lost = register(agency1, sales, customers[6], low).created[0]
        routed = register(agency1, sales, customers[0], high, notes="需要专线方案").created[0]
        named = register(agency1, sales, customers[7], low, contact="林主任").created[0]
    finally:
        reset_actor(token)

    token = as_user(channel)
    try:
        ops.approve(approved, channel, today=today - timedelta(days=10))
        ops.approve(expiring, channel, today=today - timedelta(days=ops.protection_days() - 9))
        ops.reject(rejected, channel, "客户信息不完整 / incomplete customer details")
        ops.approve(expired, channel, today=today - timedelta(days=ops.protection_days() + 20))
        ops.approve(won, channel, today=today - timedelta(days=30))
        ops.approve(lost, channel, today=today - timedelta(days=40))
    finally:
        reset_actor(token)
    token = as_user(None)
    try:
        ops.expire_protections(today)
        ops.mark_won(won, order_id="DEMO-ORDER-0001")
    finally:
        reset_actor(token)
    token = as_user(sales)
    try:
        ops.mark_lost(lost, sales, "客户选择了其他运营商 / the customer chose another operator")
        ops.request_extension(expiring, sales, "客户招标推迟两周 / the tender was postponed by two weeks")
    finally:
        reset_actor(token)
    token = as_user(am)
    try:
        if named.account_manager_id == am.id and named.status.value == "routed":
            ops.accept(named, am)
    finally:
        reset_actor(token)

    # A conflict: the Shenzhen agency tries the customer and product the Guangzhou agency holds.
    conflict = None
    if owner2 is not None:
        token = as_user(owner2)
        try:
            answer = register(agency2, owner2, customers[1], low)
            conflict = answer.rejected[0] if answer.rejected else None
            register(agency2, owner2, customers[8], low)  # and a lead of its own, awaiting approval
        finally:
            reset_actor(token)
    db.session.flush()
    ctx.extra["leads"] = {
        "submitted": submitted,
        "approved": approved,
        "expiring": expiring,
        "rejected": rejected,
        "expired": expired,
        "won": won,
        "lost": lost,
        "routed": routed,
        "accepted": named,
    }
    line = (
        f"leads: {len(ctx.extra['leads']) + 1} in every state (submitted … expired, referrals routed and "
        f"accepted), one extension request"
    )
    if conflict is not None:
        line += f"; AGSZ0001 refused for {customers[1].name} / {low.code}: {conflict.message}"
    ctx.summary.append(line)
