"""Query counts per page: the agency's busiest pages run a fixed number of SQL statements,
whatever the number of rows they show (no N+1)."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from commissions.models import Component, Line, Statement, StatementStatus
from portal.core.db import db
from portal.core.models import Role
from portal.leads.models import Lead, LeadKind, LeadStatus


@contextmanager
def count_queries():
    statements = []

    def before(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    engine = db.session.get_bind()
    engine = getattr(engine, "engine", engine)
    sa.event.listen(engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        sa.event.remove(engine, "before_cursor_execute", before)


def _leads(make, agency, n):
    products = [make.product() for _ in range(3)]
    for i in range(n):
        db.session.add(Lead(agency_id=agency.id, customer_id=make.customer().id, product_id=products[i % 3].id,
                            kind=LeadKind.SALE, status=LeadStatus.APPROVED, contact_name="Wang",
                            contact_mobile="13800138000", protected_until=date.today() + timedelta(days=i)))
    db.session.flush()


def _statement(agency, period, n_lines):
    db.session.add(Statement(period=period, agency_id=agency.id, earned_fen=100 * n_lines, available_fen=100 * n_lines,
                             payable_fen=100 * n_lines, line_count=n_lines, status=StatementStatus.PUBLISHED))
    for k in range(n_lines):
        db.session.add(Line(period=period, source_period=period, agency_id=agency.id, order_id=f"O-{period}-{k}",
                            component=Component.SHARE, accrual_date=date(2026, 9, 30), basis_fen=128000,
                            rate_u=80000, multiplier_u=1200000, grade="gold", rule_version="2026A", month_index=2,
                            amount_fen=100))
    db.session.flush()


def _count(client, url) -> int:
    client.get(url)  # warm caches (first-request work is not what we measure)
    with count_queries() as statements:
        response = client.get(url, headers={"Accept-Language": "en"})
    assert response.status_code == 200, url
    return len(statements)


@pytest.mark.parametrize("url", ["/leads", "/catalog", "/", "/commissions/statements"])
def test_agency_pages_run_a_fixed_number_of_queries(client, make, login, url):
    few_agency, many_agency = make.agency(), make.agency()
    _leads(make, few_agency, 3)
    _leads(make, many_agency, 40)
    for period in ("2026-07", "2026-08"):
        _statement(few_agency, period, 2)
    for period in ("2026-01", "2026-02", "2026-03", "2026-04", "2026-05", "2026-06", "2026-07", "2026-08"):
        _statement(many_agency, period, 2)
    few = _count(login(make.user(Role.AGENCY_OWNER, agency=few_agency)), url)
    client.cookie_jar.clear() if hasattr(client, "cookie_jar") else None
    many = _count(login(make.user(Role.AGENCY_OWNER, agency=many_agency)), url)
    assert many == few, f"{url}: {few} queries for a few rows, {many} for many (N+1)"
    assert many <= 25, f"{url}: {many} queries"


def test_statement_page_runs_a_fixed_number_of_queries(client, make, login):
    agency = make.agency()
    _statement(agency, "2026-08", 3)
    _statement(agency, "2026-09", 60)
    login(make.user(Role.AGENCY_OWNER, agency=agency))
    few = _count(client, "/commissions/statements/2026-08")
    many = _count(client, "/commissions/statements/2026-09")
    assert many == few, f"{few} queries for 3 lines, {many} for 60 (N+1)"
    assert many <= 25
