"""Materials library: upload checks, agency visibility by date/approval/language, download counts."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from flask import current_app

from portal.core.db import db
from portal.core.models import Role
from portal.core.time import today_shanghai
from portal.enablement import operations as ops
from portal.enablement.models import Material, MaterialDownload, MaterialLanguage
from tests.enablement.conftest import PDF, PNG

ZH = {"Accept-Language": "zh-CN"}
EN = {"Accept-Language": "en"}


def _download(client, material, headers=ZH):
    return client.get(f"/enablement/materials/{material.id}/download", headers=headers)


def test_agency_downloads_current_material_and_downloads_are_counted_per_agency(client, make, login, en):
    material = en.material(language=MaterialLanguage.ZH)
    sales = make.user(Role.AGENCY_SALES)
    other = make.user(Role.AGENCY_SALES)
    login(sales)
    response = _download(client, material)
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.data == PDF
    assert "attachment" in response.headers["Content-Disposition"]
    _download(client, material)
    login(other)
    assert _download(client, material).status_code == 200
    assert ops.download_counts(sales.agency_id) == {material.id: 2}
    assert ops.download_counts(other.agency_id) == {material.id: 1}
    listing = client.get("/enablement/materials", headers=ZH).get_data(as_text=True)
    assert material.title in listing


def test_expired_unapproved_and_future_material_is_not_offered_to_agencies(client, make, login, en):
    today = today_shanghai()
    expired = en.material(
        title="Old promo", valid_from=today - timedelta(days=60), valid_until=today - timedelta(days=1)
    )
    last_day = en.material(title="Ends today", valid_from=today - timedelta(days=60), valid_until=today)
    draft = en.material(title="Draft leaflet", approved=False)
    future = en.material(title="Next month", valid_from=today + timedelta(days=1))
    login(make.user(Role.AGENCY_OWNER))
    page = client.get("/enablement/materials", headers=ZH).get_data(as_text=True)
    assert "Ends today" in page
    for hidden in ("Old promo", "Draft leaflet", "Next month"):
        assert hidden not in page
    assert _download(client, last_day).status_code == 200
    for material in (expired, draft, future):
        assert _download(client, material).status_code == 404
    assert (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(MaterialDownload)
            .where(MaterialDownload.material_id != last_day.id)
        )
        == 0
    )


def test_other_language_only_material_is_refused(client, make, login, en):
    english = en.material(language=MaterialLanguage.EN, title="English price sheet")
    chinese = en.material(language=MaterialLanguage.ZH, title="Chinese brochure")
    both = en.material(language=MaterialLanguage.BOTH, title="Bilingual banner", data=PNG, file_name="b.png")
    login(make.user(Role.AGENCY_SALES))
    zh_page = client.get("/enablement/materials", headers=ZH).get_data(as_text=True)
    assert "English price sheet" not in zh_page and "Chinese brochure" in zh_page
    assert _download(client, english, ZH).status_code == 404
    assert _download(client, chinese, ZH).status_code == 200
    assert _download(client, both, ZH).status_code == 200
    en_page = client.get("/enablement/materials", headers=EN).get_data(as_text=True)
    assert "English price sheet" in en_page and "Chinese brochure" not in en_page
    assert _download(client, english, EN).status_code == 200
    assert _download(client, chinese, EN).status_code == 404


def test_staff_upload_checks_content_and_stores_under_a_random_name(client, make, login):
    login(make.user(Role.CHANNEL_MANAGER))
    today = today_shanghai().isoformat()
    form = {
        "title": "Price sheet",
        "kind": "price_sheet",
        "product_id": "0",
        "language": "both",
        "valid_from": today,
        "approved": "y",
    }
    fake = client.post(
        "/enablement/staff/materials/new",
        headers=EN,
        content_type="multipart/form-data",
        data={**form, "file": (io.BytesIO(b"just text, not a PDF"), "sheet.pdf")},
    )
    assert fake.status_code == 200
    assert "Only PDF, PNG and JPEG files are accepted" in fake.get_data(as_text=True)
    big = client.post(
        "/enablement/staff/materials/new",
        headers=EN,
        content_type="multipart/form-data",
        data={**form, "file": (io.BytesIO(PDF + b"0" * (20 * 1024 * 1024)), "big.pdf")},
    )
    assert "larger than 20 MB" in big.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Material)) == 0
    ok = client.post(
        "/enablement/staff/materials/new",
        headers=EN,
        content_type="multipart/form-data",
        data={**form, "file": (io.BytesIO(PDF), "../../etc/sheet.pdf")},
    )
    assert ok.status_code == 302
    material = db.session.scalar(sa.select(Material))
    assert material.content_type == "application/pdf" and material.approved
    assert material.file_name == "sheet.pdf"
    stored = Path(current_app.config["PORTAL_DATA_DIR"]) / "enablement" / material.stored_name
    assert stored.read_bytes() == PDF
    assert "sheet" not in material.stored_name
    assert client.get(f"/enablement/staff/materials/{material.id}/file").data == PDF


def test_agency_users_cannot_reach_the_staff_library(client, make, login, en):
    material = en.material()
    login(make.user(Role.AGENCY_OWNER))
    assert client.get("/enablement/staff/materials").status_code == 403
    assert client.get(f"/enablement/staff/materials/{material.id}/file").status_code == 403
    assert client.post("/enablement/staff/materials/new").status_code == 403
