"""Builders for the agency tests: application form data, licence files, submitted applications."""

from __future__ import annotations

import io

import pytest

from portal.core.models import Role
from portal.partners import operations as ops
from portal.partners.demo import demo_licence_pdf
from portal.partners.licences import CheckedLicence
from tests.browser.conftest import (  # noqa: F401 - the browser fixtures for test_browser_*.py here
    browser_context_args,
    browser_type_launch_args,
    live_server,
    sign_in,
)
from tests.factories import PASSWORD, make_uscc, next_seq

PNG_1PX = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


def pdf_bytes() -> bytes:
    return demo_licence_pdf("Licence for tests")


def form_data(region, **overrides) -> dict:
    """A complete, valid application form (multipart), with a fresh USCC and e-mail."""
    n = next_seq()
    data = {
        "name": f"测试通信有限公司 {n}",
        "uscc": make_uscc(700000 + n),
        "legal_representative": "张三",
        "contact_name": "李四",
        "mobile": "13812345678",
        "email": f"applicant{n}@example.test",
        "region_id": str(region.id),
        "address": "广州市天河区测试路 1 号",
        "business_scope": "通信产品销售",
        "password": PASSWORD,
        "confirm": PASSWORD,
        "accept_agreement": "y",
        "licence": (io.BytesIO(pdf_bytes()), "licence.pdf"),
    }
    data.update(overrides)
    return data


def post_application(client, data, lang="en"):
    return client.post(
        "/apply", data=data, content_type="multipart/form-data", headers={"Accept-Language": lang}
    )


@pytest.fixture
def gz(make):
    return make.region("GZ")


@pytest.fixture
def sz(make):
    return make.region("SZ")


@pytest.fixture
def channel_gz(make, gz):
    return make.user(Role.CHANNEL_MANAGER, regions=[gz])


@pytest.fixture
def apply(make, gz):
    """`apply(region=gz, **fields)` submits an application through the operation; returns the agency."""

    def _apply(region=None, **fields):
        region = region or gz
        n = next_seq()
        data = ops.ApplicationData(
            name=fields.pop("name", f"申请公司 {n}"),
            uscc=fields.pop("uscc", make_uscc(800000 + n)),
            legal_representative="王五",
            contact_name="赵六",
            mobile="13912345678",
            email=fields.pop("email", f"apply{n}@example.test"),
            region_id=region.id,
            address="地址",
            business_scope="范围",
        )
        licence = CheckedLicence(pdf_bytes(), "application/pdf", "pdf", "licence.pdf")
        return ops.submit_application(data, licence, PASSWORD, locale="en")

    return _apply


def owner_of(agency):
    return ops.owners_of(agency)[0]
