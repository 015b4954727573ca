"""Statements, disputes, exports and isolation through HTTP, the CLI and the API."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from commissions.disputes import DisputeError, accept_dispute, open_dispute
from commissions.engine import run_period
from commissions.exports import safe_cell
from commissions.models import Component, Dispute, DisputeStatus, Line, Statement, StatementStatus
from commissions.statements import StatementError, approve_statement, mark_paid, mark_unpaid, publish_period
from portal.core.db import db
from portal.core.models import Notification, Role


@pytest.fixture
def world(cb, make):
    agency, product, _rule = cb.setup(min_payout_fen=0)
    act = cb.activation(product, agency, quantity=2, order_id="ORD-A-1")
    cb.billing(act, "2026-09", 128000)
    rival = make.agency(approved_on=agency.approved_on)
    act2 = cb.activation(product, rival, quantity=1, order_id="ORD-B-1")
    cb.billing(act2, "2026-09", 50000)
    run_period("2026-09")
    publish_period("2026-09")
    return {"agency": agency, "rival": rival, "owner": cb.owner(agency), "rival_owner": cb.owner(rival),
            "finance": make.user(Role.FINANCE), "sales": make.user(Role.AGENCY_SALES, agency=agency),
            "product": product}


def first_line(agency, period="2026-09", component=Component.SHARE):
    return db.session.scalar(sa.select(Line).where(Line.agency_id == agency.id, Line.period == period,
                                                   Line.component == component))


def test_owner_reads_statement_with_explanations(client, login, world):
    login(world["owner"])
    page = client.get("/commissions/statements")
    assert page.status_code == 200 and "2026-09" in page.text and "earned-chart" in page.text
    detail = client.get("/commissions/statements/2026-09", headers={"Accept-Language": "en"})
    assert detail.status_code == 200
    assert "8.00% × ¥1,280.00 paid for 2026-09 × 1.00 (silver), plan 2026A" in detail.text
    chinese = client.get("/commissions/statements/2026-09", headers={"Accept-Language": "zh-CN"})
    assert "8.00% × 2026-09 实缴 ¥1,280.00 × 1.00（银牌），方案 2026A" in chinese.text
    assert "ORD-B-1" not in detail.text
    filtered = client.get("/commissions/statements/2026-09?component=one_off")
    assert "ORD-A-1" in filtered.text and "paid for" not in filtered.text


def _line_row(html: str, line_id: int) -> str:
    start = html.index(f'<tr data-line="{line_id}">')
    return html[start:html.index("</tr>", start)]


def test_the_statement_page_shows_each_lines_latest_dispute_or_the_dispute_link(client, login, world, make):
    line = first_line(world["agency"])
    other = first_line(world["agency"], component=Component.ONE_OFF)
    rejected = open_dispute(line, "why?", world["owner"])
    rejected.status, rejected.resolution = DisputeStatus.REJECTED, "the bill is right"
    db.session.flush()
    login(world["owner"])
    page = client.get("/commissions/statements/2026-09", headers={"Accept-Language": "en"}).text
    row = _line_row(page, line.id)
    assert f'href="/commissions/disputes/{rejected.id}"' in row and 'data-dispute-status="rejected"' in row
    assert f'href="/commissions/lines/{other.id}/dispute"' in _line_row(page, other.id)
    assert ">Dispute<" in _line_row(page, other.id)
    # disputed again after the rejection: the newer, open dispute is the one shown
    again = open_dispute(line, "still wrong: see the bill", world["owner"])
    page = client.get("/commissions/statements/2026-09", headers={"Accept-Language": "zh-CN"}).text
    row = _line_row(page, line.id)
    assert f'href="/commissions/disputes/{again.id}"' in row and 'data-dispute-status="open"' in row
    assert f"/commissions/disputes/{rejected.id}\"" not in row
    assert "/dispute\"" not in row  # no second dispute of a disputed line
    # past the ten days, no line offers the dispute link any more
    statement = db.session.get(Statement, again.statement_id)
    statement.published_at -= timedelta(days=11)
    db.session.flush()
    page = client.get("/commissions/statements/2026-09").text
    assert f"/commissions/lines/{other.id}/dispute" not in page
    assert f'href="/commissions/disputes/{again.id}"' in page


def test_sales_users_never_see_money(client, login, world):
    login(world["sales"])
    assert client.get("/commissions/statements").status_code == 403
    assert client.get("/commissions/statements/2026-09").status_code == 403
    line = first_line(world["agency"])
    assert client.get(f"/commissions/lines/{line.id}/dispute").status_code == 403


def test_agency_isolation_of_statements_and_disputes(client, login, world):
    rival_line = first_line(world["rival"])
    own_line = first_line(world["agency"])
    dispute = open_dispute(rival_line, "wrong", world["rival_owner"])
    login(world["owner"])
    assert client.get(f"/commissions/lines/{rival_line.id}/dispute").status_code == 404
    assert client.post(f"/commissions/lines/{rival_line.id}/dispute", data={"comment": "x"}).status_code == 404
    assert client.get(f"/commissions/disputes/{dispute.id}").status_code == 404
    assert "ORD-B-1" not in client.get("/commissions/disputes?status=all").text
    assert client.get("/commissions/statements/2026-08").status_code == 404
    assert client.get(f"/commissions/lines/{own_line.id}/dispute").status_code == 200


def test_dispute_accept_flow_over_http(client, login, world, make):
    line = first_line(world["agency"])
    login(world["owner"])
    response = client.post(f"/commissions/lines/{line.id}/dispute", data={"comment": "paid 1,380.00 not 1,280.00"})
    assert response.status_code == 302
    dispute = db.session.scalar(sa.select(Dispute).where(Dispute.line_id == line.id))
    assert dispute.status == DisputeStatus.OPEN
    assert db.session.scalar(sa.select(Notification).where(Notification.user_id == world["finance"].id,
                                                           Notification.kind == "commissions.dispute_opened"))
    statement = db.session.get(Statement, dispute.statement_id)
    with pytest.raises(StatementError, match="open dispute"):
        approve_statement(statement)
    login(world["finance"])
    response = client.post(f"/commissions/disputes/{dispute.id}/accept",
                           data={"amount": "8.00", "reason": "bill fixed"})
    assert response.status_code == 302
    db.session.refresh(dispute)
    assert (dispute.status, dispute.adjustment_fen) == (DisputeStatus.ACCEPTED, 800)
    adjustment = db.session.get(Line, dispute.adjustment_line_id)
    assert (adjustment.component, adjustment.amount_fen, adjustment.computed) == (Component.ADJUSTMENT, 800, False)
    assert adjustment.period > "2026-09"
    assert db.session.scalar(sa.select(Notification).where(Notification.user_id == world["owner"].id,
                                                           Notification.kind == "commissions.dispute_accepted"))
    # the adjustment survives the run of its period and counts in its statement
    run_period(adjustment.period)
    st = db.session.scalar(sa.select(Statement).where(Statement.period == adjustment.period,
                                                      Statement.agency_id == world["agency"].id))
    assert st.earned_fen == 800 + sum(ln.amount_fen for ln in db.session.scalars(sa.select(Line).where(
        Line.period == adjustment.period, Line.agency_id == world["agency"].id,
        Line.component != Component.ADJUSTMENT)))
    approve_statement(statement)
    assert statement.status == StatementStatus.APPROVED


def test_dispute_reject_needs_a_reason_and_window_is_ten_days(client, login, world):
    line = first_line(world["agency"])
    with pytest.raises(DisputeError):
        open_dispute(line, "  ", world["owner"])
    dispute = open_dispute(line, "why?", world["owner"])
    login(world["finance"])
    client.post(f"/commissions/disputes/{dispute.id}/reject", data={"reject-reason": ""})
    db.session.refresh(dispute)
    assert dispute.status == DisputeStatus.OPEN
    client.post(f"/commissions/disputes/{dispute.id}/reject", data={"reject-reason": "the bill is right"})
    db.session.refresh(dispute)
    assert (dispute.status, dispute.resolution) == (DisputeStatus.REJECTED, "the bill is right")
    with pytest.raises(DisputeError):
        accept_dispute(dispute, 100, "late", world["finance"])
    statement = db.session.get(Statement, dispute.statement_id)
    statement.published_at -= timedelta(days=11)
    db.session.flush()
    other = first_line(world["agency"], component=Component.ONE_OFF)
    with pytest.raises(DisputeError, match="10 days"):
        open_dispute(other, "too late", world["owner"])


def test_rerun_keeps_publication_and_relinks_open_disputes(world):
    line = first_line(world["agency"])
    dispute = open_dispute(line, "check", world["owner"])
    run_period("2026-09")
    db.session.refresh(dispute)
    new_line = first_line(world["agency"])
    statement = db.session.get(Statement, dispute.statement_id)
    assert dispute.line_id == new_line.id and statement.status == StatementStatus.PUBLISHED
    with pytest.raises(StatementError):
        approve_statement(statement)


def test_paid_and_unpaid_hooks(world):
    statement = db.session.scalar(sa.select(Statement).where(Statement.agency_id == world["agency"].id))
    with pytest.raises(StatementError):
        mark_paid(statement, "tr_1")
    approve_statement(statement)
    mark_paid(statement, "tr_1")
    assert statement.status == StatementStatus.PAID
    mark_unpaid(statement, "bounced")
    assert (statement.status, statement.unpaid_reason) == (StatementStatus.APPROVED, "bounced")
    with pytest.raises(Exception, match="approved or paid"):
        run_period("2026-09")


def test_finance_pages(client, login, world):
    login(world["finance"])
    for url in ("/commissions/periods", "/commissions/periods/2026-09", "/commissions/plans",
                "/commissions/exceptions", "/commissions/disputes", "/commissions/plans/rules/new"):
        assert client.get(url).status_code == 200, url
    statement = db.session.scalar(sa.select(Statement).where(Statement.agency_id == world["agency"].id))
    assert client.get(f"/commissions/statement/{statement.id}").status_code == 200
    assert client.post("/commissions/periods/2026-09/run").status_code == 302
    assert client.post("/commissions/periods/2026-09/approve").status_code == 302
    db.session.expire_all()
    assert {s.status for s in db.session.scalars(sa.select(Statement))} == {StatementStatus.APPROVED}
    csv_text = client.get("/commissions/periods/2026-09/export/lines.csv").text
    assert csv_text.splitlines()[0] == "period,agency_code,order_id,component,source_period,basis_amount,rate," \
                                       "multiplier,amount,rule_version"


def test_formula_injection_and_numbers():
    assert safe_cell("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert safe_cell("+1") == "'+1" and safe_cell("-x") == "'-x" and safe_cell("@a") == "'@a"
    assert safe_cell("\tx") == "'\tx" and safe_cell("\rx") == "'\rx"
    from decimal import Decimal

    assert safe_cell(Decimal("-30.00")) == Decimal("-30.00")
    assert safe_cell("AGGZ0001") == "AGGZ0001"


def test_cli_round_trip(app, cb, make, tmp_path):
    product = make.product(code="GRP-CLI")
    agency = make.agency(approved_on=date(2020, 1, 1))
    plan = tmp_path / "plan.toml"
    plan.write_text("""currency = "CNY"
min_payout = "10.00"
[[multipliers]]
effective_from = 2026-01-01
gold = "1.20"
silver = "1.00"
bronze = "0.80"
[[rules]]
product = "GRP-CLI"
version = "2026A"
effective_from = 2026-01-01
one_off_per_unit = "30.00"
one_off_rate = "0"
share_rate = "0.08"
share_months = 12
clawback_days = 180
referral_bounty = "0"
""")
    runner = app.test_cli_runner()
    result = runner.invoke(args=["plans", "load", str(plan)])
    assert result.exit_code == 0, result.output
    assert "1 rule(s) created" in result.output
    act = cb.activation(product, agency, quantity=1, order_id="=cmd|' /C calc'!A0")
    cb.billing(act, "2026-09", 100000)
    result = runner.invoke(args=["commissions", "run", "2026-09"])
    assert result.exit_code == 0, result.output
    assert "2 line(s), 1 statement(s)" in result.output
    again = runner.invoke(args=["commissions", "run", "2026-09"])
    assert "2 line(s), 1 statement(s), total ¥110.00" in again.output
    out = runner.invoke(args=["commissions", "export", "2026-09", "--format", "csv"])
    assert out.exit_code == 0, (out.output, out.exception)
    rows = list(csv.reader(io.StringIO(out.stdout)))
    assert rows[0] == ["period", "agency_code", "order_id", "component", "source_period", "basis_amount", "rate",
                       "multiplier", "amount", "rule_version"]
    by_component = {r[3]: r for r in rows[1:]}
    assert by_component["share"] == ["2026-09", agency.code, "'=cmd|' /C calc'!A0", "share", "2026-09", "1000.00",
                                     "0.08", "1", "80.00", "2026A"]
    assert by_component["one_off"][8] == "30.00"
    target = tmp_path / "statements.xlsx"
    out = runner.invoke(args=["statements", "export", "2026-09", "--format", "xlsx", "--output", str(target)])
    assert out.exit_code == 0, out.output
    sheet = load_workbook(target).active
    values = list(sheet.values)
    assert values[0] == ("period", "agency_code", "opening", "earned", "available", "payable", "carried", "status")
    assert values[1][1:7] == (agency.code, 0, 110, 110, 110, 0)
    assert runner.invoke(args=["statements", "publish", "2026-09"]).exit_code == 0
    assert runner.invoke(args=["statements", "approve", "2026-09"]).exit_code == 0
    refused = runner.invoke(args=["commissions", "run", "2026-09"])
    assert refused.exit_code != 0 and "approved or paid" in refused.output
    lines_x = tmp_path / "lines.xlsx"
    runner.invoke(args=["commissions", "export", "2026-09", "--format", "xlsx", "--output", str(lines_x)])
    xrows = list(load_workbook(lines_x).active.values)
    negative = next(r for r in xrows[1:] if r[3] == "share")
    assert negative[2] == "'=cmd|' /C calc'!A0" and negative[8] == 80


def test_api_statements(client, world):
    from portal.api.auth import create_token

    _row, token = create_token("agency", "t", agency=world["agency"])
    headers = {"Authorization": f"Bearer {token}", "Accept-Language": "en"}
    page = client.get("/api/v1/statements?limit=1", headers=headers)
    assert page.status_code == 200
    body = page.get_json()
    assert [i["period"] for i in body["items"]] == ["2026-09"] and body["next"] is None
    detail = client.get("/api/v1/statements/2026-09", headers=headers).get_json()
    assert {ln["order_id"] for ln in detail["lines"]} == {"ORD-A-1"}
    assert any(ln["explanation"].startswith("8.00% × ¥1,280.00") for ln in detail["lines"])
    assert client.get("/api/v1/statements/2026-08", headers=headers).status_code == 404
    assert client.get("/api/v1/statements?cursor=zz", headers=headers).status_code == 400
    assert client.get("/api/v1/statements").status_code == 401


def test_period_page_lists_the_lines_of_one_component_or_product(client, login, world, cb, make):
    """The finance dashboard's bars open these lists."""
    other_product = make.product(scores=(1, 1, 1))
    cb.rule(other_product)
    act = cb.activation(other_product, world["agency"], quantity=3, order_id="ORD-C-1")
    cb.billing(act, "2026-09", 10000)
    run_period("2026-09")
    login(world["finance"])

    def lines(**args):
        html = client.get("/commissions/periods/2026-09", query_string=args,
                          headers={"Accept-Language": "en"}).get_data(as_text=True)
        section = html.split('data-testid="filtered-lines"', 1)[1].split("</table>", 1)[0] if args else ""
        return {o for o in ("ORD-A-1", "ORD-B-1", "ORD-C-1") if o in section}, html

    shares, html = lines(component="share")
    assert shares == {"ORD-A-1", "ORD-B-1", "ORD-C-1"}
    count = db.session.scalar(sa.select(sa.func.count()).select_from(Line).where(
        Line.period == "2026-09", Line.component == Component.SHARE))
    assert f'data-testid="filtered-count">{count}<' in html
    assert lines(product=other_product.code)[0] == {"ORD-C-1"}
    assert lines(component="one_off", product=world["product"].code)[0] == {"ORD-A-1", "ORD-B-1"}
    _none, plain = lines()
    assert 'data-testid="filtered-lines"' not in plain
