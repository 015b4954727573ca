"""Every rejected row is kept with its line number and reason (SPEC §5.1), however many: the
pages show the first ones and offer all of them as a CSV download; the CLI writes them to a file."""

from __future__ import annotations

import csv
import io

import sqlalchemy as sa

from commissions.ingest import operations as ops
from commissions.ingest.models import ImportRejection, ImportRun, ImportSource, ImportStatus
from portal.core.db import db
from portal.core.models import Role
from tests.ingest.conftest import activation, billing

MANY = 10_050  # more than the 10,000 an earlier version kept


def last_run() -> ImportRun:
    return db.session.scalars(sa.select(ImportRun).order_by(ImportRun.id.desc())).first()


def stored(run):
    return db.session.execute(sa.select(ImportRejection.line, ImportRejection.code)
                              .where(ImportRejection.run_id == run.id).order_by(ImportRejection.line)).all()


def _big_billing_file(files):
    """Line 2 is good; lines 3…(MANY+2) bill unknown orders (found by the SQL classification);
    the last 10 lines have a bad period (found by the row checks)."""
    rows = [billing("ORD-OK", "2026-10")]
    rows += [billing(f"NOPE-{i}", "2026-10") for i in range(MANY)]
    rows += [billing(f"BAD-{i}", "2026-13") for i in range(10)]
    return files.billing(rows)


def test_every_rejected_row_is_kept_with_its_line(cli, files, catalog, tmp_path):
    cli("import", "activations", str(files.activations([activation("ORD-OK")])))
    out = tmp_path / "rejections.csv"
    result = cli("import", "billing", str(_big_billing_file(files)), "--skip-bad", "--rejections", str(out))
    assert result.exit_code == 0, result.output
    run = last_run()
    assert (run.status, run.inserted, run.rejected) == (ImportStatus.APPLIED, 1, MANY + 10)
    rows = stored(run)
    assert len(rows) == MANY + 10
    assert [line for line, _code in rows] == list(range(3, MANY + 13))
    assert {code for line, code in rows if line <= MANY + 2} == {"unknown_order"}
    assert {code for line, code in rows if line > MANY + 2} == {"bad_period"}
    assert len(run.rejections) == ops.INLINE_REJECTIONS and run.rejections[0][0] == 3
    with open(out, encoding="utf-8") as fh:
        written = list(csv.reader(fh))
    assert written[0] == ["line", "order_id", "code", "reason"]
    assert len(written) == MANY + 11
    assert written[1] == ["3", "NOPE-0", "unknown_order",
                          "billing for an unknown order NOPE-0 (import its activation first)"]
    assert written[-1] == [str(MANY + 12), "BAD-9", "bad_period", "bad period 2026-13 (expected YYYY-MM)"]
    assert f"{MANY + 10 - 200:,} more rejected rows" in result.output


def test_a_refused_import_keeps_its_rejections_and_a_new_check_replaces_them(files, catalog, app_ctx):
    path = files.activations([activation("R-1"), activation("R-2", product_code="NOPE"),
                              activation("R-3", quantity="0")])
    run = ops.new_run("activations", ImportSource.CLI, filename="x.csv")
    ops.import_file(run, path)
    assert run.status == ImportStatus.REFUSED  # the SAVEPOINT was rolled back …
    assert stored(run) == [(3, "unknown_product"), (4, "bad_quantity")]  # … the report was not
    ops.import_file(run, path, dry_run=True)
    assert stored(run) == [(3, "unknown_product"), (4, "bad_quantity")]  # replaced, not doubled


def test_the_page_lists_the_first_rows_and_offers_all_as_csv(client, login, make, files, catalog):
    from commissions.ingest.parsing import BILLING_COLUMNS
    from tests.ingest.conftest import csv_bytes

    run = ops.new_run("billing", ImportSource.UI, filename="big.csv")
    rows = [billing(f"=HYPERLINK(\"x\")-{i}", "2026-10") for i in range(1_200)]
    path = files.write(csv_bytes(BILLING_COLUMNS, rows))
    ops.import_file(run, path, dry_run=True)
    assert run.rejected == 1_200
    login(make.user(Role.FINANCE))
    page = client.get(f"/imports/{run.id}", headers={"Accept-Language": "en"})
    assert page.status_code == 200
    assert "The first 1,000 of 1,200 rejected rows are listed." in page.text
    assert f'href="/imports/{run.id}/rejections.csv"' in page.text
    download = client.get(f"/imports/{run.id}/rejections.csv", headers={"Accept-Language": "zh-CN"})
    assert download.status_code == 200 and download.mimetype == "text/csv"
    table = list(csv.reader(io.StringIO(download.get_data(as_text=True))))
    assert len(table) == 1_201 and table[1][0] == "2" and table[-1][0] == "1201"
    assert table[1][1].startswith("'=HYPERLINK")            # formula injection defused
    assert table[1][3] == '未知订单 =HYPERLINK("x")-0 的账单（请先导入其开通记录）'  # the reader's language
    sales = make.user(Role.AGENCY_OWNER)
    login(sales)
    assert client.get(f"/imports/{run.id}/rejections.csv").status_code == 403
