"""Demo data of the catalog: the seed catalog (15 products) and a dozen group customers."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from catalog import importing
from catalog import operations as ops
from catalog.customer_tiers import assess
from catalog.models import CustomerTier
from portal.core.validators import uscc_check_character

SEED_CATALOG = Path(__file__).resolve().parent / "data" / "catalog.csv"

# Chinese descriptions of the seed products (the seed file has English ones only).
DESCRIPTIONS_ZH = {
    "ENT-MAIL": "以企业自有域名开通的托管电子邮箱",
    "GRP-MMS": "向成员和客户批量发送彩信",
    "GRP-SMS": "向成员和客户批量发送短信",
    "GRP-CRBT": "每条成员线路的彩铃播放企业宣传信息",
    "SN-SMS": "成员之间以短号互发短信",
    "QXT": "以短信发送通知和提醒的网页及客户端平台",
    "VPMN": "成员之间以短号互拨，享受集团资费",
    "GRP-PBX": "一个对外号码接入成员手机，支持语音菜单和排队",
    "ENT-CARD": "向来电方展示企业名称和名片",
    "ENT-INFO": "部署在企业网络中的网关设备，通过运营商收发信息",
    "GRP-ACCESS": "专用接入点（APN），将成员终端接入企业内网",
    "MBB-ACCESS": "通过移动网络为各站点提供宽带",
    "HOSTING": "运营商数据中心的机架、电力和带宽",
    "MOB-MEDIA": "面向移动用户投放的广告和内容",
    "DDN-LINE": "站点之间有服务等级承诺的数字数据专线",
}

# (name, industry, region, monthly spend in yuan, members, strategic flag)
CUSTOMERS = [
    ("广州市政务服务数据管理局", "government", "GZ", "180000", 2500, True),
    ("广州珠江银行股份有限公司", "finance", "GZ", "120000", 1800, False),
    ("深圳南山实验教育集团", "education", "SZ", "40000", 900, True),
    ("广州白云国际物流有限公司", "logistics", "GZ", "60000", 1200, False),
    ("深圳湾区智能制造有限公司", "manufacturing", "SZ", "35000", 600, False),
    ("广州市第八人民医院", "healthcare", "GZ", "25000", 450, False),
    ("深圳前海跨境贸易有限公司", "retail", "SZ", "12000", 150, False),
    ("广州天河酒店管理有限公司", "hospitality", "GZ", "15000", 150, False),
    ("深圳宝安建筑工程有限公司", "construction", "SZ", "12000", 320, False),
    ("广州从化绿色农业合作社", "agriculture", "GZ", "1500", 30, False),
    ("深圳龙华便利连锁有限公司", "retail", "SZ", "3500", 120, False),
    ("广州番禺小微科技工作室", "other", "GZ", "600", 8, False),
]


def demo_uscc(n: int) -> str:
    """A valid unified social credit code for demo customer number n."""
    first17 = f"91440300MA5D{n:05d}"
    return first17 + uscc_check_character(first17)


def seed_with_chinese_descriptions() -> str:
    """The repository's seed catalog with a description_zh column added (the optional column of
    `portal catalog import`)."""
    rows = list(csv.DictReader(io.StringIO(SEED_CATALOG.read_text(encoding="utf-8-sig"), newline="")))
    out = io.StringIO()
    writer = csv.DictWriter(
        out, fieldnames=[*importing.PRODUCT_COLUMNS, "description_zh"], lineterminator="\n"
    )
    writer.writeheader()
    for row in rows:
        writer.writerow({**row, "description_zh": DESCRIPTIONS_ZH.get(row["code"], "")})
    return out.getvalue()


def load(ctx) -> None:
    report = importing.import_products(seed_with_chinese_descriptions(), source="demo")
    if not report.applied:
        raise RuntimeError(f"the seed catalog did not load: {report.summary()}")
    for code in report.inserted + report.updated + report.unchanged:
        ctx.products[code] = ops.get_product_by_code(code)
    low = sum(1 for p in ctx.products.values() if p.tier == "low")
    ctx.summary.append(f"catalog: {len(ctx.products)} products ({low} low, {len(ctx.products) - low} high)")

    manager = ctx.users.get("am@demo.local")
    tiers: dict[str, int] = {}
    for n, (name, industry, region, spend, members, strategic) in enumerate(CUSTOMERS, start=1):
        uscc = demo_uscc(n)
        existing = ops.get_customer_by_uscc(uscc)
        data = ops.CustomerData(
            uscc=uscc,
            name=name,
            industry=industry,
            region_id=ctx.regions[region].id,
            monthly_spend_fen=int(spend) * 100,
            members=members,
            strategic=strategic,
            account_manager_id=None,
        )
        if assess(data.monthly_spend_fen, members, industry, strategic).tier in (
            CustomerTier.A,
            CustomerTier.B,
        ):
            data.account_manager_id = manager.id if manager else None
        customer, _changed = ops.save_customer(existing, data, source="demo")
        ctx.customers[uscc] = customer
        tiers[customer.tier.value] = tiers.get(customer.tier.value, 0) + 1
    ctx.summary.append("customers: " + ", ".join(f"{t} {tiers.get(t, 0)}" for t in "ABCD"))
