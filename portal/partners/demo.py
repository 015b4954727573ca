"""Demo agencies in every state, their users, and applications for the channel manager to review.

`ctx.agencies` receives the two active agencies other features build on (AGGZ0001, AGSZ0001);
the others are in `ctx.extra["partners.agencies"]`."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from portal.core import audit
from portal.core import operations as core_ops
from portal.core.db import db
from portal.core.models import Role
from portal.core.validators import uscc_check_character
from portal.partners import operations as ops
from portal.partners.licences import CheckedLicence
from portal.partners.models import Agency, AgencyGrade, AgencyStatus, Grade


def _uscc(first17: str) -> str:
    return first17 + uscc_check_character(first17)


AGENCIES = [
    # code, name, uscc, region, status, grade
    ("AGGZ0001", "广州云帆通信服务有限公司", "91440101MA5CYQ0X1A", "GZ", AgencyStatus.ACTIVE, Grade.GOLD),
    ("AGSZ0001", "深圳鹏程信息技术有限公司", "91440300MA5G8Y2L4W", "SZ", AgencyStatus.ACTIVE, Grade.SILVER),
    (
        "AGGZ0002",
        "广州南沙信联科技有限公司",
        _uscc("91440115MA59DEM02"),
        "GZ",
        AgencyStatus.SUSPENDED,
        Grade.BRONZE,
    ),
    (
        "AGSZ0002",
        "深圳前海速通网络有限公司",
        _uscc("91440300MA5FDEM03"),
        "SZ",
        AgencyStatus.TERMINATED,
        Grade.BRONZE,
    ),
]
DETAILS = {
    "AGGZ0001": (
        "王强",
        "张伟",
        "13800138001",
        "广州市天河区珠江新城华夏路 10 号",
        "通信工程、信息技术服务、通信产品销售",
    ),
    "AGSZ0001": ("陈刚", "刘洋", "13900139001", "深圳市南山区科技园南区 8 栋", "信息系统集成、通信设备销售"),
    "AGGZ0002": ("黄磊", "周敏", "13700137002", "广州市南沙区进港大道 66 号", "通信产品代理销售"),
    "AGSZ0002": (
        "林峰",
        "吴静",
        "13600136002",
        "深圳市前海深港合作区前湾一路 1 号",
        "网络工程、通信产品销售",
    ),
}
STATUS_REASONS = {
    AgencyStatus.SUSPENDED: "客户投诉调查中 / customer complaints under investigation",
    AgencyStatus.TERMINATED: "合同到期未续签 / agreement expired and not renewed",
}

AGENCY_USERS = [
    ("owner@agency1.demo.local", "张伟 Zhang Wei", Role.AGENCY_OWNER, "AGGZ0001"),
    ("sales@agency1.demo.local", "李娜 Li Na", Role.AGENCY_SALES, "AGGZ0001"),
    ("owner@agency2.demo.local", "刘洋 Liu Yang", Role.AGENCY_OWNER, "AGSZ0001"),
    ("owner@suspended.demo.local", "周敏 Zhou Min", Role.AGENCY_OWNER, "AGGZ0002"),
    ("owner@terminated.demo.local", "吴静 Wu Jing", Role.AGENCY_OWNER, "AGSZ0002"),
]

# Applications: (applicant e-mail, company, uscc first 17, region, legal rep, contact, mobile, what happens)
APPLICATIONS = [
    (
        "applicant@pending.demo.local",
        "广州白云启航通信有限公司",
        "91440111MA5DEM041",
        "GZ",
        "郑涛",
        "孙丽",
        "13500135004",
        "submitted",
    ),
    (
        "applicant@moreinfo.demo.local",
        "深圳龙岗智联信息服务有限公司",
        "91440307MA5DEM052",
        "SZ",
        "何军",
        "马芳",
        "13500135005",
        "info_requested",
    ),
    (
        "applicant@rejected.demo.local",
        "广州番禺星河贸易有限公司",
        "91440113MA5DEM063",
        "GZ",
        "罗斌",
        "谢婷",
        "13500135006",
        "rejected",
    ),
]


def demo_licence_pdf(title: str = "Business licence (demo)") -> bytes:
    """A small, valid one-page PDF."""
    stream = f"BT /F1 18 Tf 60 760 Td ({title}) Tj ET".encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def _licence() -> CheckedLicence:
    return CheckedLicence(
        content=demo_licence_pdf(), mime="application/pdf", extension="pdf", filename="business-licence.pdf"
    )


def _agency(ctx, code, name, uscc, region, status, grade) -> Agency:
    from portal.partners.licences import store_licence

    agency = db.session.scalar(sa.select(Agency).where(Agency.code == code))
    if agency is not None:
        return agency
    legal, contact, mobile, address, scope = DETAILS[code]
    licence = _licence()
    agency = Agency(
        code=code,
        name=name,
        uscc=uscc,
        region_id=ctx.regions[region].id,
        status=status,
        legal_representative=legal,
        contact_name=contact,
        mobile=mobile,
        address=address,
        business_scope=scope,
        approved_on=date(2026, 1, 1),
        status_reason=STATUS_REASONS.get(status),
        licence_file=store_licence(licence),
        licence_filename=licence.filename,
        licence_mime=licence.mime,
        agreement_version=ops.AGREEMENT_VERSION,
    )
    agency.grades.append(AgencyGrade(grade=grade, effective_from=date(2026, 1, 1), reason="demo"))
    db.session.add(agency)
    db.session.flush()
    audit.record("agency.import", agency, after={"code": code, "status": status, "grade": grade})
    return agency


def load(ctx) -> None:
    from portal.demo import DEMO_PASSWORD

    others = ctx.extra.setdefault("partners.agencies", {})
    for code, name, uscc, region, status, grade in AGENCIES:
        agency = _agency(ctx, code, name, uscc, region, status, grade)
        if status == AgencyStatus.ACTIVE:
            ctx.agencies[code] = agency
        else:
            others[code] = agency
    every = {**ctx.agencies, **others}
    for email, name, role, code in AGENCY_USERS:
        user = core_ops.get_user_by_email(email)
        if user is None:
            user = core_ops.create_user(email, name, role, DEMO_PASSWORD, agency_id=every[code].id)
        ctx.users[email] = user
        if not every[code].email and role == Role.AGENCY_OWNER:
            every[code].email = email

    reviewer = ctx.users.get("channel@demo.local")
    for email, company, first17, region, legal, contact, mobile, outcome in APPLICATIONS:
        if core_ops.get_user_by_email(email) is not None:
            continue
        data = ops.ApplicationData(
            name=company,
            uscc=_uscc(first17),
            legal_representative=legal,
            contact_name=contact,
            mobile=mobile,
            email=email,
            region_id=ctx.regions[region].id,
            address=f"{company} 注册地址（演示）",
            business_scope="通信产品销售、信息技术服务",
        )
        agency = ops.submit_application(data, _licence(), DEMO_PASSWORD, locale="zh_Hans_CN")
        if outcome == "info_requested":
            ops.request_information(
                agency,
                "请补充上传清晰的营业执照副本。/ Please upload a legible copy of the business licence.",
                reviewer,
            )
        elif outcome == "rejected":
            ops.reject_application(
                agency,
                "经营范围不含通信产品销售。/ The business scope does not include the "
                "sale of telecom products.",
                reviewer,
            )
        others[f"application:{email}"] = agency
        ctx.users[email] = core_ops.get_user_by_email(email)
    ctx.summary.append(
        f"agencies: {', '.join(ctx.agencies)} active, "
        f"{len(AGENCIES) - len(ctx.agencies)} suspended/terminated, "
        f"{len(APPLICATIONS)} applications (one waiting in GZ); agency users: "
        f"{len(AGENCY_USERS) + len(APPLICATIONS)}"
    )
