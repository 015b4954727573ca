"""The web import in two steps (issue 3 item 1, SPEC §5.1 "the good ones are applied only when the
user confirms"): the upload shows the report with nothing applied; the confirmation posts back a
reference to the file kept on the server and applies exactly the previewed good rows."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
import sqlalchemy as sa

from catalog import importing
from catalog import operations as ops
from catalog.models import Customer, Product
from portal.core.db import db
from portal.core.models import AuditLog, Role
from tests.catalog.conftest import catalog_csv
from tests.catalog.test_import import BAD_FILE, CUSTOMER_HEADER
from tests.factories import make_uscc


def _count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def _upload(client, headers, data: bytes, kind: str = "products"):
    return client.post(f"/admin/{kind}/import", data={"file": (io.BytesIO(data), "file.csv")},
                       content_type="multipart/form-data", headers=headers)


def _confirm(client, token, kind: str = "products", headers=None, **fields):
    data = {"upload": token, **(fields or {"apply": "1"})}
    return client.post(f"/admin/{kind}/import/apply", data=data, headers=headers or {})


def _token(html: str) -> str | None:
    match = re.search(r'name="upload" type="hidden" value="([0-9a-f]{32})"', html)
    return match.group(1) if match else None


def _pending_files(app) -> list[Path]:
    folder = Path(app.config["PORTAL_DATA_DIR"]) / "catalog-imports"
    return sorted(folder.iterdir()) if folder.exists() else []


@pytest.fixture
def sms(make):
    return make.product("GRP-SMS", scores=(1, 1, 1), monthly_price_fen=8000, name_zh="集团短信",
                        name_en="Group SMS", description_en="Bulk text messages")


@pytest.fixture
def admin(make, login):
    user = make.user(Role.ADMIN)
    login(user)
    return user


def test_upload_shows_the_report_and_applies_nothing(app, client, admin, sms, en):
    products, audit = _count(Product), _count(AuditLog)
    response = _upload(client, en, BAD_FILE)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'data-applied="no"' in html and "Nothing has been applied yet." in html
    assert "Inserted: 1" in html and "Updated: 1" in html and "Unchanged: 0" in html and "Rejected: 6" in html
    rejected = re.search(r'data-testid="import-rejected">(.*?)</table>', html, re.S).group(1)
    assert [int(n) for n in re.findall(r"<tr><td>(\d+)</td>", rejected)] == [4, 5, 6, 7, 8, 9]
    assert "module_complexity: A complexity score is a whole number from 1 to 5." in rejected
    assert "already appears on line 3" in rejected
    assert "Apply the good rows (2)" in html
    assert "NEW-ONE" in re.search(r'data-testid="import-inserted".*?</details>', html, re.S).group(0)
    # nothing written: no product, no audit record, the price unchanged
    assert (_count(Product), _count(AuditLog)) == (products, audit)
    assert sms.monthly_price_fen == 8000
    assert db.session.scalar(sa.select(Product).where(Product.code == "NEW-ONE")) is None
    # the file waits on the server under the random name the form refers to
    token = _token(html)
    assert token and {p.name for p in _pending_files(app)} >= {f"{token}.csv", f"{token}.json"}
    assert (Path(app.config["PORTAL_DATA_DIR"]) / "catalog-imports" / f"{token}.csv").read_bytes() == BAD_FILE


def test_confirmation_applies_exactly_the_previewed_good_rows_and_audits(app, client, admin, sms, en):
    preview = _upload(client, en, BAD_FILE).get_data(as_text=True)
    token = _token(preview)
    assert _count(Product) == 1  # still only GRP-SMS
    response = _confirm(client, token, headers=en)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'data-applied="yes"' in html and "Import applied: 1 inserted, 1 updated." in html
    assert sorted(db.session.scalars(sa.select(Product.code))) == ["GRP-SMS", "NEW-ONE"]  # no rejected row
    assert sms.monthly_price_fen == 8500
    new = db.session.scalar(sa.select(Product).where(Product.code == "NEW-ONE"))
    assert new.monthly_price_fen == 1050 and new.name_zh == "新产品"  # line 3, not the duplicate of line 7
    created = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "product.create",
                                                          AuditLog.object_id == str(new.id)))
    assert created.actor_id == admin.id and created.after["source"] == "upload"
    summary = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "product.import"))
    assert summary.actor_id == admin.id
    assert (summary.after["inserted"], summary.after["updated"]) == (["NEW-ONE"], ["GRP-SMS"])
    assert [r["line"] for r in summary.after["rejected"]] == [4, 5, 6, 7, 8, 9]
    assert summary.after["rejected"][0]["reason"].startswith("module_complexity: A complexity score")
    # the stored file is gone: posting the confirmation again applies nothing twice
    assert not any(p.stem == token for p in _pending_files(app))
    audit = _count(AuditLog)
    again = _confirm(client, token, headers=en)
    assert again.status_code == 302 and again.headers["Location"].endswith("/admin/products/import")
    assert _count(AuditLog) == audit


def test_a_clean_file_is_previewed_too(client, admin, en):
    data = catalog_csv("CLEAN-1,一,One,messaging,1,1,1,1,0,x", "CLEAN-2,二,Two,messaging,5,1,1,1,0,x")
    html = _upload(client, en, data).get_data(as_text=True)
    assert "Nothing has been applied yet." in html and "Rejected: 0" in html
    assert "Apply the good rows (2)" in html
    assert _count(Product) == 0
    _confirm(client, _token(html), headers=en)
    assert sorted(db.session.scalars(sa.select(Product.code))) == ["CLEAN-1", "CLEAN-2"]


def test_nothing_to_confirm_when_no_row_would_change(client, admin, sms, en):
    same = "GRP-SMS,集团短信,Group SMS,messaging,1,1,1,80.00,0,Bulk text messages"
    html = _upload(client, en, catalog_csv(same, "BAD,坏,Bad,messaging,9,1,1,1,0,x")).get_data(as_text=True)
    assert "Unchanged: 1" in html and "Nothing to apply: every good row is already up to date." in html
    assert _token(html) is None and 'data-testid="import-confirm"' not in html
    html = _upload(client, en, catalog_csv("BAD,坏,Bad,messaging,9,1,1,1,0,x")).get_data(as_text=True)
    assert "No row can be applied: fix the file and check it again." in html and _token(html) is None


def test_a_change_since_the_preview_applies_nothing_and_shows_the_new_report(app, client, admin, sms, en):
    token = _token(_upload(client, en, BAD_FILE).get_data(as_text=True))
    ops.create_product(ops.clean_product_data(  # another admin creates NEW-ONE meanwhile
        {"code": "NEW-ONE", "name_zh": "别的", "name_en": "Other", "category": "messaging",
         "module_complexity": 1, "market_exclusivity": 1, "training_requirement": 1,
         "monthly_price_fen": 100, "one_time_price_fen": 0, "description_en": "x"}, creating=True))
    db.session.flush()
    response = _confirm(client, token, headers=en)
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert "The data changed since your preview, so nothing was applied." in html
    assert 'data-applied="no"' in html and "Inserted: 0" in html and "Updated: 2" in html
    assert sms.monthly_price_fen == 8000  # the previewed update was not applied either
    assert db.session.scalar(sa.select(Product.name_zh).where(Product.code == "NEW-ONE")) == "别的"
    assert db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "product.import")) is None
    new_token = _token(html)
    assert new_token and new_token != token
    stems = {p.stem for p in _pending_files(app)}
    assert new_token in stems and token not in stems


def test_the_reference_must_be_the_users_own_live_upload(app, client, make, login, admin, sms, en):
    token = _token(_upload(client, en, BAD_FILE).get_data(as_text=True))
    for bad in ("", "../../etc/passwd", "0" * 32, token.upper()):
        response = _confirm(client, bad, headers=en)
        assert response.status_code == 302, bad
    # the file of one import kind cannot be applied as the other
    assert _confirm(client, token, "customers").status_code == 302
    login(make.user(Role.ADMIN))  # another administrator
    assert _confirm(client, token).status_code == 302
    assert sms.monthly_price_fen == 8000 and _count(Product) == 1
    # the file kept on the server is checked against its fingerprint
    login(admin)
    (Path(app.config["PORTAL_DATA_DIR"]) / "catalog-imports" / f"{token}.csv").write_bytes(
        catalog_csv("EVIL,坏,Evil,messaging,1,1,1,1,0,x"))
    response = _confirm(client, token, headers=en)
    assert response.status_code == 302
    page = client.get("/admin/products/import", headers=en).get_data(as_text=True)
    assert "This upload is no longer available" in page
    assert _count(Product) == 1


def test_an_old_upload_expires(app, client, admin, sms, en, monkeypatch):
    token = _token(_upload(client, en, BAD_FILE).get_data(as_text=True))
    monkeypatch.setattr(importing, "PENDING_MAX_AGE", -1)
    assert _confirm(client, token).status_code == 302
    assert sms.monthly_price_fen == 8000


def test_discarding_removes_the_file_and_applies_nothing(app, client, admin, sms, en):
    token = _token(_upload(client, en, BAD_FILE).get_data(as_text=True))
    response = _confirm(client, token, headers=en, discard="y")
    assert response.status_code == 302
    assert not any(p.stem == token for p in _pending_files(app))
    assert sms.monthly_price_fen == 8000 and _count(Product) == 1


def test_customers_are_previewed_then_confirmed(client, make, admin, en):
    region = make.region("GZ")
    good, other = make_uscc(), make_uscc()
    data = "\n".join([CUSTOMER_HEADER, f"{good},小商店,retail,{region.code},12000,150,no,,,",
                      f"{other},未知区域,other,XX,1,1,no,,,"]).encode() + b"\n"
    html = _upload(client, en, data, kind="customers").get_data(as_text=True)
    assert "Inserted: 1" in html and "region: Unknown region XX." in html and _count(Customer) == 0
    _confirm(client, _token(html), "customers", headers=en)
    assert list(db.session.scalars(sa.select(Customer.uscc))) == [good]
    assert db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "customer.import")) is not None


def test_the_report_is_in_chinese(client, admin, sms, zh):
    html = _upload(client, zh, BAD_FILE).get_data(as_text=True)
    assert "尚未导入" in html and "导入有效行（2 行）" in html
    assert "Nothing has been applied yet." not in html


def test_product_page_marks_scores_with_the_catalog_threshold(client, make, login, en, monkeypatch):
    import catalog.views

    make.product("THR-1", scores=(3, 2, 1), name_zh="阈", name_en="Threshold", description_en="x")
    login(make.user(Role.ADMIN))
    html = client.get("/catalog/THR-1", headers=en).get_data(as_text=True)
    assert "catalog-score-high" not in html and "any score of 4 or more" in html
    monkeypatch.setattr(catalog.views, "HIGH_SCORE_THRESHOLD", 3)
    html = client.get("/catalog/THR-1", headers=en).get_data(as_text=True)
    assert html.count('class="catalog-score-high"') == 1 and "any score of 3 or more" in html
