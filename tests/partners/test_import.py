"""`portal agencies import FILE.csv`: idempotent by code, a report, whole or nothing."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from portal.core.db import db
from portal.core.models import AuditLog, OutboxMessage, Role, User
from portal.partners.models import Agency, AgencyStatus, Grade
from tests.factories import make_uscc

HEADER = "code,name,uscc,region,grade,grade_effective_from,status,owner_email,stripe_account_id\n"


@pytest.fixture
def run(app, tmp_path, gz, sz):
    """`run(text, *args)` writes the CSV and runs the command in this test's transaction."""

    def _run(text: str, *args: str):
        path = tmp_path / "agencies.csv"
        path.write_text(text, encoding="utf-8")
        return app.test_cli_runner().invoke(args=["agencies", "import", str(path), *args])

    return _run


def rows(*lines: str) -> str:
    return HEADER + "".join(line + "\n" for line in lines)


def agency(code):
    return db.session.scalar(sa.select(Agency).where(Agency.code == code))


U1, U2, U3 = make_uscc(610001), make_uscc(610002), make_uscc(610003)


def test_import_inserts_then_is_idempotent(run):
    text = rows(
        f"AGGZ0101,广州甲公司,{U1},GZ,gold,2025-07-01,active,boss1@example.test,acct_1Abc234",
        f"AGSZ0101,深圳乙公司,{U2},SZ,bronze,2025-09-01,suspended,boss2@example.test,",
    )
    result = run(text)
    assert result.exit_code == 0, result.output
    assert "read 2, inserted 2, updated 0, unchanged 0, rejected 0" in result.output
    first = agency("AGGZ0101")
    assert first.status == AgencyStatus.ACTIVE and first.grade_on(date(2025, 7, 1)) == Grade.GOLD
    assert first.approved_on == date(2025, 7, 1) and first.stripe_account_id == "acct_1Abc234"
    assert first.grade_on(date(2025, 6, 30)) is None
    assert agency("AGSZ0101").status == AgencyStatus.SUSPENDED
    owner = db.session.scalar(sa.select(User).where(User.email == "boss1@example.test"))
    assert owner.role == Role.AGENCY_OWNER and owner.agency_id == first.id
    assert db.session.scalar(sa.select(OutboxMessage).where(OutboxMessage.recipient == "boss1@example.test"))
    assert (
        db.session.scalar(
            sa.select(sa.func.count()).select_from(AuditLog).where(AuditLog.action == "agency.import")
        )
        == 2
    )

    again = run(text)
    assert again.exit_code == 0
    assert "read 2, inserted 0, updated 0, unchanged 2, rejected 0" in again.output


def test_import_updates_by_code(run):
    run(rows(f"AGGZ0102,旧名称,{U1},GZ,silver,2025-01-01,active,boss3@example.test"))
    result = run(rows(f"AGGZ0102,新名称,{U1},GZ,gold,2026-01-01,suspended,boss3@example.test,acct_9Zz9999"))
    assert result.exit_code == 0, result.output
    assert "updated 1" in result.output
    row = agency("AGGZ0102")
    assert (
        row.name == "新名称"
        and row.status == AgencyStatus.SUSPENDED
        and row.stripe_account_id == "acct_9Zz9999"
    )
    assert [(g.grade, g.effective_from) for g in row.grades] == [
        (Grade.SILVER, date(2025, 1, 1)),
        (Grade.GOLD, date(2026, 1, 1)),
    ]
    assert db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "agency.import_update"))


def test_bad_rows_apply_nothing_and_are_reported_with_lines(run):
    bad_uscc = U3[:17] + ("0" if U3[17] != "0" else "1")
    text = rows(
        f"AGGZ0103,好公司,{U1},GZ,gold,2025-07-01,active,ok1@example.test",
        f"AGGZ0104,坏代码,{bad_uscc},GZ,gold,2025-07-01,active,ok2@example.test",
        f"AGGZ0105,坏区域,{U2},XX,gold,2025-07-01,active,ok3@example.test",
        f"AGGZ0106,坏等级,{U3},GZ,platinum,2025-07-01,active,ok4@example.test",
        f"AGGZ0107,坏状态,{make_uscc(610004)},GZ,gold,2025-07-01,pending,ok5@example.test",
        f"AGGZ0108,坏日期,{make_uscc(610005)},GZ,gold,2025-13-01,active,ok6@example.test",
        f"AGGZ0103,重复,{make_uscc(610006)},GZ,gold,2025-07-01,active,ok7@example.test",
        f"AGGZ0109,坏邮箱,{make_uscc(610007)},GZ,gold,2025-07-01,active,not-an-email",
    )
    result = run(text)
    assert result.exit_code == 1
    assert "read 8, inserted 1, updated 0, unchanged 0, rejected 7" in result.output
    for line, word in [
        (3, "uscc"),
        (4, "unknown region"),
        (5, "grade"),
        (6, "status"),
        (7, "grade_effective_from"),
        (8, "appears already on line 2"),
        (9, "owner_email"),
    ]:
        assert any(out.startswith(f"line {line} ") and word in out for out in result.output.splitlines()), (
            line,
            result.output,
        )
    assert "Nothing was applied" in result.output
    assert agency("AGGZ0103") is None

    skipped = run(text, "--skip-bad")
    assert skipped.exit_code == 0
    assert agency("AGGZ0103") is not None and agency("AGGZ0104") is None


def test_live_uscc_and_foreign_owner_are_rejected(run, make, gz):
    existing = make.agency(region=gz)
    staff = make.user(Role.FINANCE)
    result = run(
        rows(
            f"AGGZ0110,同码,{existing.uscc},GZ,gold,2025-07-01,active,a@example.test",
            f"AGGZ0111,他人,{U1},GZ,gold,2025-07-01,active,{staff.email}",
        )
    )
    assert result.exit_code == 1
    assert "line 2 (AGGZ0110): another live agency" in result.output
    assert "line 3 (AGGZ0111): owner_email" in result.output


def test_wrong_header_is_refused(run):
    result = run("code,name\nAGGZ0001,x\n")
    assert result.exit_code != 0 and "header must be exactly" in result.output


def test_imported_codes_are_skipped_by_later_approvals(run, apply, channel_gz):
    from portal.partners import operations as ops

    run(rows(f"AGGZ0001,旧代理,{U1},GZ,silver,2025-01-01,active,old@example.test"))
    approved = ops.approve_application(apply(), Grade.BRONZE, channel_gz, date(2026, 3, 1))
    assert approved.code == "AGGZ0002"


def test_imported_agencies_have_a_status_history(run):
    """Attribution reads the status on the activation date from the history (SPEC §5.2): an imported
    agency is in its imported status from grade_effective_from, and a later import's status change
    is recorded from that day."""
    from portal.core.time import today_shanghai
    from portal.partners.models import AgencyStatusChange

    def history(code):
        return [(h.status, h.effective_from, h.reason) for h in db.session.scalars(
            sa.select(AgencyStatusChange).where(AgencyStatusChange.agency_id == agency(code).id)
            .order_by(AgencyStatusChange.id))]

    run(rows(f"AGGZ0107,历史公司,{U1},GZ,silver,2025-03-01,active,hist@example.test"))
    assert history("AGGZ0107") == [(AgencyStatus.ACTIVE, date(2025, 3, 1), "import")]
    run(rows(f"AGGZ0107,历史公司,{U1},GZ,silver,2025-03-01,suspended,hist@example.test"))
    assert history("AGGZ0107")[-1] == (AgencyStatus.SUSPENDED, today_shanghai(), "import")
