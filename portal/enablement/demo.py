"""Demo data of enablement: materials (PDF and PNG made here), courses with quizzes for QXT and
GRP-PBX (both require certification), a certified and an uncertified agency user, survey
answers, complaints and notices."""

from __future__ import annotations

import struct
import zlib
from datetime import timedelta

import sqlalchemy as sa

from catalog.models import Customer, Product
from portal.core.db import db
from portal.core.time import today_shanghai
from portal.enablement import operations as ops
from portal.enablement.models import (
    ComplaintCategory,
    ComplaintSeverity,
    MaterialKind,
    MaterialLanguage,
)


def make_pdf(lines: list[str]) -> bytes:
    """A small, valid one-page PDF showing `lines` (ASCII) in Helvetica."""

    def esc(text: str) -> str:
        return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    stream = "BT /F1 14 Tf 72 770 Td 18 TL " + " ".join(f"({esc(line)}) '" for line in lines) + " ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        "/Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode("ascii")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode("ascii")
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode("ascii")
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode("ascii")
    return bytes(out)


def make_png(width: int = 240, height: int = 80, rgb=(11, 92, 173)) -> bytes:
    """A small, valid solid-colour PNG (a promotional banner placeholder)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    row = b"\x00" + bytes(rgb) * width
    raw = row * height
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


QXT_PAGES = [
    (
        "企信通是什么 / What Qixintong is",
        "企信通让企业通过网页平台或客户端，以短信向成员和客户发送通知、提醒和营销信息。\n"
        "典型客户：学校（家校通知）、物业、诊所、连锁门店。\n\n"
        "Qixintong lets an enterprise send notices, reminders and marketing messages to members and "
        "customers as SMS from a web platform or a desktop client. Typical customers: schools, property "
        "managers, clinics, retail chains.",
    ),
    (
        "合规销售 / Selling it right",
        "了解客户的接收人数和每月短信量。\n"
        "必须有客户签字的短信签名申请；营销短信须取得接收人同意并提供退订方式。\n"
        "不得承诺运营商未保证的送达时间。\n\n"
        "Ask for recipients and monthly volume. Sell only with the customer's signed sender-name "
        "application; marketing messages need consent and an opt-out. Never promise delivery times the "
        "operator does not guarantee.",
    ),
    (
        "售后 / After the sale",
        "协助客户建立第一个通讯录和模板。运营商在 2 个工作日内开通；客户会通过短信收到满意度调查。\n\n"
        "Help the customer create the first address book and template. The operator activates within 2 "
        "working days; the customer receives a satisfaction survey by SMS.",
    ),
]
QXT_QUIZ = [
    (
        "企信通营销短信可以发给谁？ / Who may receive marketing messages?",
        [
            "客户掌握号码的任何人 / Anyone whose number the customer has",
            "已同意且可退订的接收人 / Recipients who consented, with an opt-out",
            "仅客户的员工 / Only the customer's employees",
        ],
        1,
    ),
    (
        "开通前客户必须提供什么？ / What must the customer provide before activation?",
        [
            "签字的短信签名申请 / A signed sender-name application",
            "银行保函 / A bank guarantee",
            "无需提供 / Nothing",
        ],
        0,
    ),
    (
        "哪类客户是企信通的典型用户？ / Which customer is a typical Qixintong user?",
        [
            "向家长发通知的学校 / A school sending notices to parents",
            "数据中心 / A data centre",
            "手机店的散客 / A phone shop's walk-in customer",
        ],
        0,
    ),
    (
        "可以承诺运营商未保证的送达时间吗？ / May you promise a delivery time the operator "
        "does not guarantee?",
        ["可以，只要能成交 / Yes, if it closes the sale", "不可以 / No"],
        1,
    ),
]
PBX_PAGES = [
    (
        "Group switchboard basics",
        "One published number routed to members' mobiles, with menus, queues and working hours.",
    ),
    (
        "Set-up",
        "Collect the call-flow from the customer on the operator's form; the account manager "
        "confirms numbering before the order.",
    ),
]
PBX_QUIZ = [
    ("What does the group switchboard route calls to?", ["Members' mobiles", "Fax machines only"], 0),
    ("Who confirms the numbering plan?", ["The agency alone", "The operator's account manager"], 1),
]


def _product(ctx, code: str):
    product = ctx.products.get(code) if isinstance(ctx.products, dict) else None
    return product or db.session.scalar(sa.select(Product).where(Product.code == code))


def _course(product, title, summary, pass_mark, pages, quiz):
    course = ops.create_course(product.id, title, summary, pass_mark)
    for page_title, body in pages:
        ops.add_course_page(course, page_title, body)
    for text, options, right in quiz:
        ops.add_question(course, text, options, right)
    ops.update_course(course, published=True)
    return course


def load(ctx) -> None:
    today = today_shanghai()
    qxt, pbx, sms = _product(ctx, "QXT"), _product(ctx, "GRP-PBX"), _product(ctx, "GRP-SMS")
    agency1, agency2 = ctx.agencies.get("AGGZ0001"), ctx.agencies.get("AGSZ0001")
    owner, sales = ctx.users.get("owner@agency1.demo.local"), ctx.users.get("sales@agency1.demo.local")
    channel = ctx.users.get("channel@demo.local")
    admin = ctx.users.get("admin@demo.local")
    summary = []

    # materials
    ops.upload_material(
        make_pdf(
            [
                "Qixintong (QXT) brochure",
                "Notices and reminders by SMS",
                "Ask your channel manager for the price sheet.",
            ]
        ),
        "qxt-brochure-zh.pdf",
        title="企信通产品手册",
        kind=MaterialKind.BROCHURE,
        product_id=qxt.id if qxt else None,
        language=MaterialLanguage.ZH,
        valid_from=today - timedelta(days=30),
        valid_until=today + timedelta(days=335),
        approved=True,
        uploaded_by=channel,
        description="面向学校、物业和连锁门店的企信通介绍。",
    )
    ops.upload_material(
        make_pdf(["Qixintong (QXT) price sheet 2026", "Monthly fee: CNY 200.00"]),
        "qxt-price-sheet-en.pdf",
        title="QXT price sheet 2026",
        kind=MaterialKind.PRICE_SHEET,
        product_id=qxt.id if qxt else None,
        language=MaterialLanguage.EN,
        valid_from=today - timedelta(days=30),
        valid_until=today + timedelta(days=60),
        approved=True,
        uploaded_by=channel,
    )
    banner = ops.upload_material(
        make_png(),
        "group-sms-banner.png",
        title="Group SMS promotion banner / 集团短信推广横幅",
        kind=MaterialKind.PROMOTION,
        product_id=sms.id if sms else None,
        language=MaterialLanguage.BOTH,
        valid_from=today - timedelta(days=10),
        approved=True,
        uploaded_by=channel,
    )
    ops.upload_material(
        make_pdf(["Summer 2025 promotion (expired)"]),
        "summer-2025.pdf",
        title="2025 夏季促销（已过期）",
        kind=MaterialKind.PROMOTION,
        language=MaterialLanguage.BOTH,
        valid_from=today - timedelta(days=400),
        valid_until=today - timedelta(days=200),
        approved=True,
        uploaded_by=channel,
    )
    ops.upload_material(
        make_pdf(["Draft: enterprise mail leaflet"]),
        "ent-mail-draft.pdf",
        title="企业邮箱宣传单（待审批）",
        kind=MaterialKind.BROCHURE,
        language=MaterialLanguage.BOTH,
        valid_from=today,
        approved=False,
        uploaded_by=channel,
    )
    if agency1 and sales:
        for _ in range(3):
            ops.record_download(banner, sales)
    summary.append("materials: 5 (3 current)")

    # courses and certifications
    if qxt:
        ops.set_product_training(qxt.id, True, 12)
        _course(
            qxt,
            "企信通销售认证 / QXT sales certification",
            "了解企信通是什么、如何合规销售以及售后流程。Learn what Qixintong is, how to sell it within the "
            "rules, and what happens after the sale.",
            75,
            QXT_PAGES,
            QXT_QUIZ,
        )
    if pbx:
        ops.set_product_training(pbx.id, True, 12)
        _course(
            pbx,
            "集团总机销售认证 / Group switchboard certification",
            "集团总机的呼叫流程与开通设置。The switchboard's call flow and set-up.",
            50,
            PBX_PAGES,
            PBX_QUIZ,
        )
        if owner:
            # certified 11 months and ~11 days ago: ends within 30 days (shows the expiry notice)
            ops.certify(owner, pbx.id, today - timedelta(days=345))
    summary.append(
        "courses: QXT (sales@agency1 not certified yet), GRP-PBX (owner@agency1 certified, ending soon)"
    )

    # satisfaction surveys (without leads) and answers
    customers = list(ctx.customers.values()) if isinstance(ctx.customers, dict) else []
    if not customers:
        customers = list(db.session.scalars(sa.select(Customer).order_by(Customer.id).limit(3)))
    customer_id = customers[0].id if customers else None
    answers = [
        (
            agency1,
            sms,
            {"product": 5, "agent": 4, "channel": 4, "promotion": 4, "relationship": 5},
            "业务员很专业，开通很快。",
        ),
        (agency1, sms, {"product": 4, "agent": 4, "channel": 3, "promotion": 4, "relationship": 4}, ""),
        (
            agency2,
            sms,
            {"product": 4, "agent": 3, "channel": 3, "promotion": 3, "relationship": 3},
            "Follow-up could be better.",
        ),
    ]
    for n, (agency, product, scores, comment) in enumerate(answers):
        if agency is None:
            continue
        invitation = ops.create_survey(
            contact_mobile=f"1380000{n:04d}",
            contact_name="Demo contact",
            agency_id=agency.id,
            product_id=product.id if product else None,
            customer_id=customer_id,
        )
        ops.answer_survey(invitation, scores, comment, language="zh")
    if agency1:
        ops.create_survey(
            contact_mobile="13800009999",
            contact_name="Demo contact",
            agency_id=agency1.id,
            product_id=sms.id if sms else None,
            customer_id=customer_id,
        )
    summary.append("survey answers: 3, one link waiting in the outbox (SMS)")

    # complaints
    if agency1:
        ops.record_complaint(
            agency1.id,
            ComplaintCategory.DELAY,
            ComplaintSeverity.MEDIUM,
            "客户反映集团短信开通后一周仍无法使用，业务员未及时回复。",
            customer_id=customer_id,
            created_by=channel,
        )
    if agency2:
        done = ops.record_complaint(
            agency2.id,
            ComplaintCategory.MISSELLING,
            ComplaintSeverity.HIGH,
            "Customer was promised unlimited messages at the basic price.",
            created_by=channel,
        )
        if channel:
            ops.resolve_complaint(done, channel, "Agency corrected the offer in writing; customer accepted.")
    summary.append("complaints: AGGZ0001 open (medium), AGSZ0001 resolved (high)")

    # notices
    gz = ctx.regions.get("GZ")
    ops.post_announcement(
        "企信通需认证后方可销售 / QXT now requires certification",
        "自即日起，代理商须至少有一名通过企信通销售认证的人员，方可报备企信通销售商机。请在“培训”中完成课程。\n"
        "From today an agency needs at least one user certified for QXT to register QXT sale "
        "leads. Take the course under Training.",
        created_by=admin,  # to all agencies: only an admin may (a channel manager: its regions)
    )
    if gz:
        ops.post_announcement(
            "广州区四季度促销政策 / Guangzhou Q4 promotion",
            "四季度集团短信新装客户首月月费减半，宣传资料见“资料库”。",
            region_id=gz.id,
            created_by=channel,
        )
    summary.append("notices: 2")
    ctx.summary.append("enablement: " + "; ".join(summary))
