"""`portal catalog import` and `portal customers import`: insert or update by key, a report with
line numbers and reasons, nothing applied while a row is rejected unless --skip-bad."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from catalog import importing
from catalog.demo import SEED_CATALOG
from catalog.models import Customer, CustomerTier, Product, Tier
from portal.core.db import db
from portal.core.models import AuditLog, Role
from tests.catalog.conftest import catalog_csv
from tests.factories import make_uscc

SHARED_SEED = Path(__file__).resolve().parents[3] / "shared" / "data" / "catalog.csv"


def _count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def test_seed_catalog_loads_fifteen_products_eight_low_seven_high(app_ctx):
    report = importing.import_products(SEED_CATALOG.read_bytes())
    assert report.applied and report.rejected == []
    assert len(report.inserted) == 15
    products = db.session.scalars(sa.select(Product)).all()
    assert sorted(p.code for p in products if p.tier == Tier.LOW) == [
        "ENT-MAIL",
        "GRP-CRBT",
        "GRP-MMS",
        "GRP-PBX",
        "GRP-SMS",
        "QXT",
        "SN-SMS",
        "VPMN",
    ]
    assert sorted(p.code for p in products if p.tier == Tier.HIGH) == [
        "DDN-LINE",
        "ENT-CARD",
        "ENT-INFO",
        "GRP-ACCESS",
        "HOSTING",
        "MBB-ACCESS",
        "MOB-MEDIA",
    ]
    pbx = next(p for p in products if p.code == "GRP-PBX")
    assert (pbx.monthly_price_fen, pbx.one_time_price_fen) == (30000, 50000)
    # a second run changes nothing
    again = importing.import_products(SEED_CATALOG.read_bytes())
    assert (again.inserted, again.updated, len(again.unchanged)) == ([], [], 15)


@pytest.mark.skipif(not SHARED_SEED.exists(), reason="the operator's shared data folder is not beside this checkout")
def test_repository_seed_is_the_shared_seed():
    assert SEED_CATALOG.read_bytes() == SHARED_SEED.read_bytes()


BAD_FILE = catalog_csv(
    "GRP-SMS,集团短信,Group SMS,messaging,1,1,1,85.00,0.00,Bulk text messages",  # line 2: update
    "NEW-ONE,新产品,New product,messaging,2,2,2,10.5,0,A new one",  # line 3: insert
    "BAD-SCORE,坏,Bad,messaging,6,1,1,1,0,x",  # line 4
    "BAD-PRICE,坏,Bad,messaging,1,1,1,12.5 yuan,0,x",  # line 5
    ",无代码,No code,messaging,1,1,1,1,0,x",  # line 6
    "NEW-ONE,重复,Duplicate,messaging,1,1,1,1,0,x",  # line 7
    "FRAC,分,Fractions,messaging,1,1,1,1.234,0,x",  # line 8
    "NONAME,,,messaging,1,1,1,1,0,x",  # line 9
)


def test_bad_rows_are_reported_and_nothing_is_applied_without_skip_bad(make):
    make.product(
        "GRP-SMS",
        scores=(1, 1, 1),
        monthly_price_fen=8000,
        name_zh="集团短信",
        name_en="Group SMS",
        description_en="Bulk text messages",
    )
    products_before, audit_before = _count(Product), _count(AuditLog)
    report = importing.import_products(BAD_FILE)
    assert not report.applied
    assert [(r.line, r.key) for r in report.rejected] == [
        (4, "BAD-SCORE"),
        (5, "BAD-PRICE"),
        (6, ""),
        (7, "NEW-ONE"),
        (8, "FRAC"),
        (9, "NONAME"),
    ]
    reasons = {r.line: str(r.reason) for r in report.rejected}
    assert reasons[4] == "module_complexity: A complexity score is a whole number from 1 to 5."
    assert reasons[5] == "monthly_price: 12.5 yuan is not an amount in yuan."
    assert "already appears on line 3" in reasons[7]
    assert "two decimals" in reasons[8]
    assert reasons[9].startswith("name_zh:")
    assert (_count(Product), _count(AuditLog)) == (products_before, audit_before)
    sms = db.session.scalar(sa.select(Product).where(Product.code == "GRP-SMS"))
    assert sms.monthly_price_fen == 8000


def test_skip_bad_applies_the_good_rows_and_audits_them(make):
    sms = make.product(
        "GRP-SMS",
        scores=(1, 1, 1),
        monthly_price_fen=8000,
        name_zh="集团短信",
        name_en="Group SMS",
        description_en="Bulk text messages",
    )
    report = importing.import_products(BAD_FILE, skip_bad=True)
    assert report.applied
    assert (report.inserted, report.updated, len(report.rejected)) == (["NEW-ONE"], ["GRP-SMS"], 6)
    assert sms.monthly_price_fen == 8500
    new = db.session.scalar(sa.select(Product).where(Product.code == "NEW-ONE"))
    assert new.monthly_price_fen == 1050 and new.tier == Tier.LOW
    update = db.session.scalar(
        sa.select(AuditLog).where(AuditLog.action == "product.update", AuditLog.object_id == str(sms.id))
    )
    assert update.before["monthly_price_fen"] == 8000 and update.after["monthly_price_fen"] == 8500


def test_import_keeps_status_override_and_chinese_description(make):
    product = make.product(
        "KEEP",
        scores=(1, 1, 1),
        name_zh="保",
        name_en="Keep",
        description_zh="中文说明",
        tier_override=Tier.HIGH,
        tier_override_reason="pilot only",
    )
    from catalog import operations as ops

    ops.retire_product(product)
    report = importing.import_products(catalog_csv("KEEP,保,Keep,messaging,1,1,1,100.00,0,English"))
    assert report.updated == ["KEEP"]
    assert (product.status.value, product.tier, product.description_zh) == ("retired", Tier.HIGH, "中文说明")


def test_description_zh_column_is_optional_extra(app_ctx):
    header = ",".join(importing.PRODUCT_COLUMNS) + ",description_zh"
    report = importing.import_products(
        catalog_csv("ZH-1,中,Zh,messaging,1,1,1,1,0,English,中文说明", header=header)
    )
    assert report.inserted == ["ZH-1"]
    product = db.session.scalar(sa.select(Product).where(Product.code == "ZH-1"))
    assert (product.description_en, product.description_zh) == ("English", "中文说明")


def test_missing_or_unknown_columns_refuse_the_file(app_ctx):
    with pytest.raises(importing.ImportFileError) as info:
        importing.import_products(b"code,name_zh\nX,y\n")
    assert "Missing column(s)" in str(info.value)
    with pytest.raises(importing.ImportFileError) as info:
        importing.import_products(
            catalog_csv(
                header=importing.PRODUCT_COLUMNS[0] + ",colour," + ",".join(importing.PRODUCT_COLUMNS[1:])
            )
        )
    assert "Unknown column(s): colour" in str(info.value)


def test_cli_import_whole_or_nothing_then_skip_bad(app, tmp_path):
    from tests.conftest import fresh_database, make_test_app

    with fresh_database(tmp_path) as url:
        isolated = make_test_app(url, tmp_path / "instance")
        runner = isolated.test_cli_runner()
        seed = runner.invoke(args=["catalog", "import", str(SEED_CATALOG)])
        assert seed.exit_code == 0, seed.output
        assert "read 15, inserted 15, updated 0, unchanged 0, rejected 0" in seed.output
        bad = tmp_path / "bad.csv"
        bad.write_bytes(BAD_FILE)
        refused = runner.invoke(args=["catalog", "import", str(bad)])
        assert refused.exit_code == 1
        assert "line 4 (BAD-SCORE): module_complexity" in refused.output
        assert "Nothing was applied" in refused.output
        with isolated.app_context():
            assert (
                db.session.scalar(sa.select(Product.monthly_price_fen).where(Product.code == "GRP-SMS"))
                == 8000
            )
            assert db.session.scalar(sa.select(Product).where(Product.code == "NEW-ONE")) is None
        applied = runner.invoke(args=["catalog", "import", "--skip-bad", str(bad)])
        assert applied.exit_code == 0, applied.output
        assert "inserted 1, updated 1, unchanged 0, rejected 6" in applied.output
        with isolated.app_context():
            assert (
                db.session.scalar(sa.select(Product.monthly_price_fen).where(Product.code == "GRP-SMS"))
                == 8500
            )
            entry = db.session.scalar(
                sa.select(AuditLog)
                .where(AuditLog.action == "product.create", AuditLog.object_type == "products")
                .order_by(AuditLog.id.desc())
            )
            assert entry.actor_label.startswith("portal catalog import")
            db.session.remove()
            db.engine.dispose()


# --- customers ---------------------------------------------------------------------------------

CUSTOMER_HEADER = ",".join(importing.CUSTOMER_COLUMNS + importing.CUSTOMER_OPTIONAL_COLUMNS)


def test_customer_import_report_and_tiers(make):
    region = make.region("GZ")
    am = make.user(Role.ACCOUNT_MANAGER, email="am-import@example.test")
    good_a, good_c, bad_check = make_uscc(), make_uscc(), make_uscc()[:-1] + "0"
    if bad_check == good_a[:-1] + good_a[-1]:
        bad_check = good_a[:-1] + "1"
    rows = [
        CUSTOMER_HEADER,
        f"{good_a},政务中心,government,{region.code},180000,2500,yes,am-import@example.test,,",
        f"{good_c},小商店,retail,{region.code},12000,150,no,,,",
        f"{make_uscc()},银行,finance,{region.code},50000,500,no,,,",  # B without an owner
        f"{make_uscc()},未知区域,other,XX,1,1,no,,,",
        f"{make_uscc()},手工,other,{region.code},1,1,no,,D,",  # tier by hand without a reason
        f"{make_uscc()}, ,other,{region.code},1,1,maybe,,,",
    ]
    report = importing.import_customers(("\n".join(rows) + "\n").encode())
    assert not report.applied
    assert [r.line for r in report.rejected] == [4, 5, 6, 7]
    reasons = {r.line: str(r.reason) for r in report.rejected}
    assert reasons[4].startswith("account_manager_email:") and "named account" in reasons[4]
    assert reasons[5] == "region: Unknown region XX."
    assert reasons[6].startswith("tier_reason:")
    assert _count(Customer) == 0
    report = importing.import_customers(("\n".join(rows) + "\n").encode(), skip_bad=True)
    assert report.applied and sorted(report.inserted) == sorted([good_a, good_c])
    a = db.session.scalar(sa.select(Customer).where(Customer.uscc == good_a))
    assert (a.tier, a.value_score, a.account_manager_id) == (CustomerTier.A, 110, am.id)
    c = db.session.scalar(sa.select(Customer).where(Customer.uscc == good_c))
    assert (c.tier, c.value_score) == (CustomerTier.C, 40)
    # a tier given with a reason is set by hand
    row = f"{good_c},小商店,retail,{region.code},12000,150,no,,D,Closing its branches"
    again = importing.import_customers(f"{CUSTOMER_HEADER}\n{row}\n".encode())
    assert again.updated == [good_c]
    assert (c.tier, c.tier_manual, c.tier_reason) == (CustomerTier.D, True, "Closing its branches")
