"""Bank transfer rail: the payment file (CSV/XLSX, safe against formula injection), recording the
bank reference, importing the bank's confirmation CSV."""

from __future__ import annotations

import csv
import io

import sqlalchemy as sa
from openpyxl import load_workbook

from commissions.models import StatementStatus
from commissions.payouts import operations as ops
from commissions.payouts.models import Payout, PayoutStatus
from portal.core.db import db
from portal.core.models import Notification

PERIOD = "2026-10"
EN = {"Accept-Language": "en"}


def _queue(client, ledger, *amounts, name=None):
    rows = []
    for i, amount in enumerate(amounts):
        agency, owner = ledger.bank_agency(name=name if i == 0 else None)
        rows.append((agency, owner, ledger.statement(agency, PERIOD, amount)))
    client.post(f"/payouts/{PERIOD}/run", headers=EN)
    return rows


def test_payment_file_csv_and_xlsx(client, finance, stripe_off, ledger):
    (agency, _o, _s), (agency2, _o2, _s2) = _queue(client, ledger, 123_456, 50_000,
                                                   name='=HYPERLINK("http://evil","x")')
    response = client.get(f"/payouts/{PERIOD}/bank-file?format=csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert f"bank-payments-{PERIOD}.csv" in response.headers["Content-Disposition"]
    text = response.data.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["agency_code", "agency_name", "account_name", "bank", "account_number", "amount", "currency",
                       "reference"]
    by_code = {r[0]: r for r in rows[1:]}
    first = by_code[agency.code]
    assert first[1] == "'=HYPERLINK(\"http://evil\",\"x\")"  # never a formula
    assert first[2:7] == ["深圳示例科技有限公司", "招商银行深圳分行", "6225880012345678", "1234.56", "CNY"]
    payout = db.session.scalar(sa.select(Payout).where(Payout.agency_id == agency.id))
    assert first[7] == ops.bank_reference_code(payout) == f"PAY202610-{payout.id:06d}"
    assert by_code[agency2.code][5] == "500.00"

    response = client.get(f"/payouts/{PERIOD}/bank-file?format=xlsx")
    sheet = load_workbook(io.BytesIO(response.data)).active
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert values[0][0] == "agency_code"
    xrow = next(v for v in values[1:] if v[0] == agency.code)
    assert xrow[1].startswith("'=") and xrow[4] == "6225880012345678" and str(xrow[5]) == "1234.56"
    assert client.get(f"/payouts/{PERIOD}/bank-file?format=pdf").status_code == 404


def test_recording_the_bank_reference_marks_the_statement_paid(client, finance, stripe_off, ledger):
    ((agency, owner, statement),) = _queue(client, ledger, 20_000)
    payout = db.session.scalar(sa.select(Payout).where(Payout.agency_id == agency.id))
    response = client.post(f"/payouts/payout/{payout.id}/bank-reference", data={"ref-reference": ""}, headers=EN,
                           follow_redirects=True)
    assert b"Enter the bank" in response.data
    response = client.post(f"/payouts/payout/{payout.id}/bank-reference", data={"ref-reference": "ICBC-0001"},
                           headers=EN, follow_redirects=True)
    assert f"Payout {payout.id} marked paid by bank transfer.".encode() in response.data
    db.session.expire_all()
    assert (payout.status, payout.bank_reference) == (PayoutStatus.PAID, "ICBC-0001")
    assert (statement.status, statement.paid_reference) == (StatementStatus.PAID, "ICBC-0001")
    assert db.session.scalar(sa.select(Notification.kind).where(Notification.user_id == owner.id)) == "payouts.paid"
    again = client.post(f"/payouts/payout/{payout.id}/bank-reference", data={"ref-reference": "ICBC-0002"},
                        headers=EN, follow_redirects=True)
    assert b"not waiting for a bank transfer" in again.data
    assert payout.bank_reference == "ICBC-0001"


def test_confirmation_csv_import(client, finance, stripe_off, ledger):
    rows = _queue(client, ledger, 10_000, 20_000, 30_000)
    payouts = {p.agency_id: p for p in db.session.scalars(sa.select(Payout))}
    p1, p2, p3 = (payouts[a.id] for a, _o, _s in rows)
    ref = ops.bank_reference_code
    data = ("reference,bank_reference,amount\r\n"
            f"{ref(p1)},BANK-1,100.00\r\n"
            f"{ref(p2)},BANK-2,200.01\r\n"          # wrong amount: refused
            "PAY202610-999999,BANK-X,1.00\r\n"      # unknown reference
            f"{ref(p3)},BANK-3,300\r\n").encode("gb18030")
    response = client.post(f"/payouts/{PERIOD}/bank-confirmation", headers=EN, follow_redirects=True,
                           data={"file": (io.BytesIO(data), "confirm.csv")}, content_type="multipart/form-data")
    assert b"2 marked paid, 0 already paid, 2 rejected" in response.data
    assert b"Line 3: amount \xc2\xa5200.01 differs" in response.data
    assert b"Line 4: unknown reference PAY202610-999999" in response.data
    db.session.expire_all()
    assert [(p.status, p.bank_reference) for p in (p1, p2, p3)] == [
        (PayoutStatus.PAID, "BANK-1"), (PayoutStatus.PENDING, None), (PayoutStatus.PAID, "BANK-3")]
    assert [s.status for _a, _o, s in rows] == [StatementStatus.PAID, StatementStatus.APPROVED, StatementStatus.PAID]

    # the same file again changes nothing
    response = client.post(f"/payouts/{PERIOD}/bank-confirmation", headers=EN, follow_redirects=True,
                           data={"file": (io.BytesIO(data), "confirm.csv")}, content_type="multipart/form-data")
    assert b"0 marked paid, 2 already paid, 2 rejected" in response.data
    bad = client.post(f"/payouts/{PERIOD}/bank-confirmation", headers=EN, follow_redirects=True,
                      data={"file": (io.BytesIO(b"a,b\n1,2\n"), "x.csv")}, content_type="multipart/form-data")
    assert b"missing columns: reference, bank_reference, amount" in bad.data


def test_cli_bank_export_and_confirmation(app, stripe_off, ledger, tmp_path):
    agency, _owner = ledger.bank_agency()
    statement = ledger.statement(agency, PERIOD, 45_600)
    ops.run_payouts(PERIOD)
    runner = app.test_cli_runner()
    out = tmp_path / "pay.csv"
    result = runner.invoke(args=["payouts", "bank-export", PERIOD, "--output", str(out)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(out.read_text("utf-8-sig"))))
    assert [(r["agency_code"], r["amount"]) for r in rows] == [(agency.code, "456.00")]
    confirmation = tmp_path / "confirm.csv"
    confirmation.write_text(f"reference,bank_reference,amount\n{rows[0]['reference']},CMB-9,456.00\n")
    result = runner.invoke(args=["payouts", "bank-confirm", str(confirmation)])
    assert result.exit_code == 0 and "paid 1" in result.output
    db.session.expire_all()
    assert statement.status == StatementStatus.PAID and statement.paid_reference == "CMB-9"
    result = runner.invoke(args=["payouts", "bank-export", PERIOD, "--format", "xlsx", "--output",
                                 str(tmp_path / "p.xlsx")])
    assert result.exit_code == 0 and "0 payment(s)" in result.output


def test_period_page_lists_the_statements_with_a_payout_in_one_state(client, finance, stripe_off, ledger):
    """The finance dashboard's "payouts by state" numbers open this filtered list."""
    (paid_agency, _o, _s), (waiting_agency, _o2, _s2) = _queue(client, ledger, 30_000, 40_000)
    paid = db.session.scalar(sa.select(Payout).where(Payout.agency_id == paid_agency.id))
    client.post(f"/payouts/payout/{paid.id}/bank-reference", data={"ref-reference": "ICBC-9"}, headers=EN)

    def listed(status):
        html = client.get(f"/payouts/{PERIOD}", query_string={"status": status}, headers=EN).get_data(as_text=True)
        return {a.code for a in (paid_agency, waiting_agency) if a.code in html}

    assert listed("paid") == {paid_agency.code}
    assert listed("pending") == {waiting_agency.code}
    assert listed("") == {paid_agency.code, waiting_agency.code}
