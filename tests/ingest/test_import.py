"""`portal import activations|billing`: parsing by content, every rejection with its line number,
idempotency, the allowed changes, whole-or-nothing and --skip-bad. Runs on SQLite and, with
TEST_DATABASE_URL, on PostgreSQL (COPY path)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa

from commissions.ingest.models import Activation, BillingRecord, ImportRun, ImportStatus
from commissions.ingest.parsing import ACTIVATION_COLUMNS, BILLING_COLUMNS
from portal.core.db import db
from tests.ingest.conftest import USCC_B, activation, billing, csv_bytes, xlsx_bytes


def acts():
    return {a.order_id: a for a in db.session.scalars(sa.select(Activation))}


def bills():
    return {(b.order_id, b.period): b for b in db.session.scalars(sa.select(BillingRecord))}


def last_run() -> ImportRun:
    return db.session.scalars(sa.select(ImportRun).order_by(ImportRun.id.desc())).first()


def test_activations_csv_values_are_exact(cli, files, catalog):
    path = files.activations([
        activation("A-1", monthly_fee="80.1", one_time_fee="1234.56", quantity="3",
                   activated_at="2026-10-31T23:30:00", terminated_at=""),
        activation("A-2", agent_code="", activated_at="2026-10-31T16:30:00+00:00",
                   terminated_at="2026-11-02T01:00:00Z", customer_name="  空格公司 "),
    ])
    result = cli("import", "activations", str(path))
    assert result.exit_code == 0, result.output
    assert "inserted           2" in result.output
    a1, a2 = acts()["A-1"], acts()["A-2"]
    assert (a1.monthly_fee_fen, a1.one_time_fee_fen, a1.quantity) == (8010, 123456, 3)
    # no offset = Shanghai: 23:30 local is 15:30 UTC, still 31 October in Shanghai
    assert a1.activated_at == datetime(2026, 10, 31, 15, 30, tzinfo=UTC)
    assert a1.activation_date == date(2026, 10, 31)
    # +00:00 16:30 is 00:30 on 1 November in Shanghai
    assert a2.activation_date == date(2026, 11, 1)
    assert a2.agent_code is None and a2.customer_name == "空格公司"
    assert a2.terminated_at == datetime(2026, 11, 2, 1, 0, tzinfo=UTC) and a2.termination_date == date(2026, 11, 2)
    run = last_run()
    assert (run.status, run.rows_read, run.inserted, run.rejected) == (ImportStatus.APPLIED, 2, 2, 0)


def test_bom_and_xlsx_are_recognised_by_content(cli, files, catalog):
    path = files.write(csv_bytes(ACTIVATION_COLUMNS, [activation("B-1")], bom=True), suffix=".txt")
    assert cli("import", "activations", str(path)).exit_code == 0
    rows = [activation("X-1", quantity=4, monthly_fee=80.5, one_time_fee=0),
            [*activation("X-2")[:8], datetime(2026, 10, 6, 8, 0), None]]
    xlsx = files.write(xlsx_bytes(ACTIVATION_COLUMNS, rows), suffix=".csv")  # misleading suffix
    result = cli("import", "activations", str(xlsx))
    assert result.exit_code == 0, result.output
    found = acts()
    assert found["X-1"].quantity == 4 and found["X-1"].monthly_fee_fen == 8050
    assert found["X-2"].activated_at == datetime(2026, 10, 6, 0, 0, tzinfo=UTC)  # 08:00 Shanghai
    billing_xlsx = files.write(xlsx_bytes(BILLING_COLUMNS, [["X-1", datetime(2026, 11, 1), 100.25, 100]]),
                               suffix=".xlsx")
    result = cli("import", "billing", str(billing_xlsx))
    assert result.exit_code == 0, result.output
    assert bills()[("X-1", "2026-11")].billed_fen == 10025
    assert bills()[("X-1", "2026-11")].paid_fen == 10000


ACTIVATION_REJECTIONS = [
    (activation("R-1", activated_at="2026-13-01"), "bad date in activated_at: 2026-13-01"),
    (activation("R-2", terminated_at="yesterday"), "bad date in terminated_at: yesterday"),
    (activation("R-3", monthly_fee="12,5"), "bad amount in monthly_fee: 12,5"),
    (activation("R-4", one_time_fee="-5.00"), "negative amount in one_time_fee: -5.00"),
    (activation("R-5", monthly_fee="1.234"), "monthly_fee has more than 2 decimals: 1.234"),
    (activation("R-6", product_code="NOPE"), "unknown product NOPE"),
    (activation("R-7", uscc="91440101MA0000000X"), "invalid USCC 91440101MA0000000X"),
    (activation("R-8", quantity="0"), "quantity must be a whole number of at least 1, not 0"),
    (activation("R-9", activated_at="2026-10-05T09:00:00", terminated_at="2026-10-04T09:00:00"),
     "terminated_at 2026-10-04T09:00:00 is before activated_at 2026-10-05T09:00:00"),
    (activation("", ), "order_id is empty"),
    (activation("R-11", monthly_fee="1e3"), "bad amount in monthly_fee: 1e3"),
    (activation("R-12")[:9], "expected 10 fields, found 9"),
]


def test_every_activation_rejection_reason_with_its_line(cli, files, catalog):
    rows = [activation("GOOD-1")] + [row for row, _reason in ACTIVATION_REJECTIONS]
    rows += [activation("DUP", quantity="1"), activation("GOOD-2"), activation("DUP", quantity="2")]
    result = cli("import", "activations", str(files.activations(rows)))
    assert result.exit_code == 1
    for offset, (_row, reason) in enumerate(ACTIVATION_REJECTIONS):
        assert f"line {3 + offset}: {reason}" in result.output, result.output
    dup_lines = (3 + len(ACTIVATION_REJECTIONS), 5 + len(ACTIVATION_REJECTIONS))
    text = f"order DUP appears more than once in this file with different data (lines {dup_lines[0]}, {dup_lines[1]})"
    assert f"line {dup_lines[0]}: {text}" in result.output and f"line {dup_lines[1]}: {text}" in result.output
    run = last_run()
    assert run.status == ImportStatus.REFUSED and run.rejected == len(ACTIVATION_REJECTIONS) + 2
    assert run.inserted == 2  # would be inserted
    assert acts() == {}  # whole or nothing
    assert "Nothing was applied" in result.output


def test_identical_duplicate_in_one_file_is_unchanged(cli, files, catalog):
    result = cli("import", "activations", str(files.activations([activation("D-1"), activation("D-1")])))
    assert result.exit_code == 0
    run = last_run()
    assert (run.inserted, run.unchanged, run.rejected) == (1, 1, 0)


def test_same_file_twice_is_all_unchanged(cli, files, catalog):
    path = files.activations([activation("I-1"), activation("I-2", terminated_at="2026-12-01")])
    cli("import", "activations", str(path))
    first = {k: (a.id, a.updated_at) for k, a in acts().items()}
    bill = files.billing([billing("I-1", "2026-10"), billing("I-2", "2026-11", "10.00", "5.00")])
    cli("import", "billing", str(bill))
    result = cli("import", "activations", str(path))
    assert result.exit_code == 0
    run = last_run()
    assert (run.rows_read, run.inserted, run.updated, run.unchanged, run.rejected) == (2, 0, 0, 2, 0)
    db.session.expire_all()
    assert {k: (a.id, a.updated_at) for k, a in acts().items()} == first
    cli("import", "billing", str(bill))
    run = last_run()
    assert (run.inserted, run.updated, run.unchanged) == (0, 0, 2)


def test_termination_added_later_is_an_update_other_changes_are_rejected(cli, files, catalog):
    cli("import", "activations", str(files.activations([activation("T-1"), activation("T-2")])))
    path = files.activations([activation("T-1", terminated_at="2026-11-20T10:00:00"), activation("T-2")])
    result = cli("import", "activations", str(path))
    assert result.exit_code == 0
    run = last_run()
    assert (run.updated, run.unchanged) == (1, 1)
    t1 = acts()["T-1"]
    assert t1.terminated_at == datetime(2026, 11, 20, 2, 0, tzinfo=UTC) and t1.termination_date == date(2026, 11, 20)

    bad = files.activations([
        activation("T-1", terminated_at="2026-11-21T10:00:00"),
        activation("T-1x", terminated_at=""),
        activation("T-2", quantity="99", uscc=USCC_B),
        activation("T-1", terminated_at="")[:0] or activation("T-3"),
    ])
    result = cli("import", "activations", str(bad))
    assert result.exit_code == 1
    assert ("line 2: order T-1 is already terminated at 2026-11-20 10:00:00; a row cannot change or remove "
            "the termination (the row says 2026-11-21 10:00:00)") in result.output
    assert "line 4: differs from the stored order T-2 in: uscc, quantity (only terminated_at may be added later)" \
        in result.output
    assert set(acts()) == {"T-1", "T-2"} and acts()["T-2"].quantity == 10  # nothing applied
    removed = files.activations([activation("T-1")])
    result = cli("import", "activations", str(removed))
    assert "line 2: order T-1 is already terminated at 2026-11-20 10:00:00" in result.output
    assert acts()["T-1"].terminated_at is not None


BILLING_REJECTIONS = [
    (billing("B-1", "2026-13"), "bad period 2026-13 (expected YYYY-MM)"),
    (billing("B-1", "202610"), "bad period 202610 (expected YYYY-MM)"),
    (billing("B-1", "2026-10", "abc"), "bad amount in billed_amount: abc"),
    (billing("B-1", "2026-10", "10.00", "-1"), "negative amount in paid_amount: -1"),
    (billing("B-1", "2026-10", "10.00", "10.01"), "paid_amount 10.01 exceeds billed_amount 10.00"),
    (billing("NOPE-1", "2026-10"), "billing for an unknown order NOPE-1 (import its activation first)"),
    (billing("B-1", "2026-09"), "period 2026-09 is before the activation month 2026-10 of order B-1"),
]


def test_every_billing_rejection_reason_and_paid_change(cli, files, catalog):
    cli("import", "activations", str(files.activations([activation("B-1"), activation("B-2")])))
    assert cli("import", "billing", str(files.billing([billing("B-1", "2026-11", "100.00", "50.00")]))).exit_code == 0
    rows = [billing("B-2", "2026-10")] + [r for r, _ in BILLING_REJECTIONS] + [
        billing("B-1", "2026-11", "120.00", "50.00"),               # billed changed
        billing("B-2", "2026-11", "1.00", "1.00"), billing("B-2", "2026-11", "1.00", "0.50"),  # dup conflict
    ]
    result = cli("import", "billing", str(files.billing(rows)))
    assert result.exit_code == 1
    for offset, (_row, reason) in enumerate(BILLING_REJECTIONS):
        assert f"line {3 + offset}: {reason}" in result.output, result.output
    n = 3 + len(BILLING_REJECTIONS)
    assert (f"line {n}: billed_amount 120.00 differs from the stored 100.00 for B-1 2026-11 "
            "(only paid_amount may change)") in result.output
    assert f"line {n + 1}: order B-2 appears more than once in this file with different data (lines {n + 1}, {n + 2})" \
        in result.output
    assert set(bills()) == {("B-1", "2026-11")}

    result = cli("import", "billing", str(files.billing([billing("B-1", "2026-11", "100.00", "80.00")])))
    assert result.exit_code == 0
    run = last_run()
    assert (run.updated, run.inserted) == (1, 0)
    assert bills()[("B-1", "2026-11")].paid_fen == 8000


def test_whole_or_nothing_keeps_existing_rows_and_skip_bad_applies_the_good(cli, files, catalog):
    cli("import", "activations", str(files.activations([activation("W-1")])))
    cli("import", "billing", str(files.billing([billing("W-1", "2026-10", "10.00", "5.00")])))
    rows = [billing("W-1", "2026-10", "10.00", "9.00"), billing("W-1", "2026-11"), billing("UNKNOWN", "2026-11")]
    path = files.billing(rows)
    result = cli("import", "billing", str(path))
    assert result.exit_code == 1
    assert bills()[("W-1", "2026-10")].paid_fen == 500 and ("W-1", "2026-11") not in bills()
    result = cli("import", "billing", str(path), "--skip-bad")
    assert result.exit_code == 0, result.output
    run = last_run()
    assert (run.status, run.inserted, run.updated, run.rejected) == (ImportStatus.APPLIED, 1, 1, 1)
    db.session.expire_all()
    assert bills()[("W-1", "2026-10")].paid_fen == 900 and ("W-1", "2026-11") in bills()
    assert ("UNKNOWN", "2026-11") not in bills()


def test_dry_run_stores_nothing(cli, files, catalog):
    result = cli("import", "activations", str(files.activations([activation("DR-1")])), "--dry-run")
    assert result.exit_code == 0 and "Dry run" in result.output
    assert acts() == {} and last_run().status == ImportStatus.PREVIEWED


@pytest.mark.parametrize(("data", "message"), [
    (b"", "The file is empty."),
    (b"order_id,period\nX,2026-10\n", "The first row must be exactly: order_id,period,billed_amount,paid_amount"),
    (b"order_id,period,billed_amount,paid_amount\nX,2026-10,\xff\xfe,1\n", "The file is not UTF-8 text"),
    (b"PK\x03\x04garbage", "The spreadsheet cannot be read"),
])
def test_unreadable_files_fail_cleanly(cli, files, catalog, data, message):
    result = cli("import", "billing", str(files.write(data)))
    assert result.exit_code == 1 and message in result.output
    assert last_run().status == ImportStatus.FAILED and bills() == {}


def test_streaming_reader_does_not_load_the_file(files, app_ctx):
    """The CSV reader yields rows lazily: the first row comes before the file is read through."""
    from commissions.ingest.parsing import iter_file_rows

    header = ",".join(BILLING_COLUMNS) + "\n"
    body = "".join(f"O{i},2026-10,1.00,1.00\n" for i in range(200_000))
    path = files.write((header + body).encode())
    with open(path, "rb") as stream:
        rows = iter_file_rows(stream, "billing")
        first = next(rows)
        assert first == (2, ["O0", "2026-10", "1.00", "1.00"])
        assert stream.tell() < path.stat().st_size / 4
