"""Timestamps with short offsets around midnight in Shanghai, and the amount bound, through the
parser and through `portal import` (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa

from commissions.ingest import parsing
from commissions.ingest.models import Activation, BillingRecord
from portal.core.db import db
from tests.ingest.conftest import activation, billing

# text, the instant in UTC, the Shanghai calendar date
AROUND_MIDNIGHT = [
    # offset-less: Shanghai time (the fast path)
    ("2026-01-31T23:59:59", datetime(2026, 1, 31, 15, 59, 59, tzinfo=UTC), date(2026, 1, 31)),
    ("2026-02-01 00:00:00", datetime(2026, 1, 31, 16, 0, tzinfo=UTC), date(2026, 2, 1)),
    # 19 characters with a short offset: never read as Shanghai time
    ("2026-01-31T20:00+00", datetime(2026, 1, 31, 20, 0, tzinfo=UTC), date(2026, 2, 1)),
    ("2026-01-31T15:59+00", datetime(2026, 1, 31, 15, 59, tzinfo=UTC), date(2026, 1, 31)),
    ("2026-01-31T11:30-05", datetime(2026, 1, 31, 16, 30, tzinfo=UTC), date(2026, 2, 1)),
    ("2026-02-01T01:00-05", datetime(2026, 2, 1, 6, 0, tzinfo=UTC), date(2026, 2, 1)),
    ("2026-01-31T10:59-05", datetime(2026, 1, 31, 15, 59, tzinfo=UTC), date(2026, 1, 31)),
    ("2026-02-01 00:30+08", datetime(2026, 1, 31, 16, 30, tzinfo=UTC), date(2026, 2, 1)),
    # longer forms
    ("2026-01-31T16:00:00+00:00", datetime(2026, 1, 31, 16, 0, tzinfo=UTC), date(2026, 2, 1)),
    ("2026-01-31T15:59:59Z", datetime(2026, 1, 31, 15, 59, 59, tzinfo=UTC), date(2026, 1, 31)),
]


@pytest.mark.parametrize(("text", "instant", "day"), AROUND_MIDNIGHT)
def test_short_offsets_around_midnight_shanghai(text, instant, day):
    row = parsing.check_activation(activation("T-1", activated_at=text), {"ING-LOW"})
    assert not isinstance(row, parsing.Rejection), row
    assert (row.activated_at, row.activation_date) == (instant, day)


def test_a_19_character_text_that_is_not_a_timestamp_is_rejected():
    for text in ("2026-01-31T20:00:0Z", "2026-13-31T20:00:00", "2026-01-31T25:00:00"):
        row = parsing.check_activation(activation("T-1", activated_at=text), {"ING-LOW"})
        assert isinstance(row, parsing.Rejection) and row.code == "bad_date", text


def test_import_keeps_the_offsets_of_activation_and_termination(cli, files, catalog):
    path = files.activations([
        activation("OFF-1", activated_at="2026-01-31T20:00+00", terminated_at="2026-02-28T16:30-00"),
        activation("OFF-2", activated_at="2026-01-31T11:30-05"),
        activation("OFF-3", activated_at="2026-01-31T15:59+00"),
    ])
    result = cli("import", "activations", str(path))
    assert result.exit_code == 0, result.output
    got = {a.order_id: a for a in db.session.scalars(sa.select(Activation))}
    assert (got["OFF-1"].activated_at, got["OFF-1"].activation_date) == (datetime(2026, 1, 31, 20, tzinfo=UTC),
                                                                         date(2026, 2, 1))
    assert (got["OFF-1"].terminated_at, got["OFF-1"].termination_date) == (
        datetime(2026, 2, 28, 16, 30, tzinfo=UTC), date(2026, 3, 1))
    assert got["OFF-2"].activation_date == date(2026, 2, 1)
    assert got["OFF-3"].activation_date == date(2026, 1, 31)


def test_amounts_beyond_the_bound_are_rejected_on_every_path(cli, files, catalog):
    """Below 10^11 yuan every amount is stored exactly (and the engine computes exactly with it);
    from 10^11 yuan on the row is rejected with its line, on the careful and the PostgreSQL COPY path."""
    acts = files.activations([activation("BIG-1", one_time_fee="99999999999.99"),
                              activation("BIG-2", one_time_fee="100000000000.00")])
    result = cli("import", "activations", str(acts), "--skip-bad")
    assert result.exit_code == 0, result.output
    assert "line 3: one_time_fee is too large: 100000000000.00" in result.output
    assert db.session.scalar(sa.select(Activation.one_time_fee_fen).where(Activation.order_id == "BIG-1")) == \
        9_999_999_999_999
    bills = files.billing([billing("BIG-1", "2026-10", "99999999999.99", "99999999999.99"),
                           billing("BIG-1", "2026-11", "999999999999.00", "1.00")])
    result = cli("import", "billing", str(bills), "--skip-bad")
    assert result.exit_code == 0, result.output
    assert "line 3: billed_amount is too large: 999999999999.00" in result.output
    assert [(b.period, b.paid_fen) for b in db.session.scalars(sa.select(BillingRecord))] == \
        [("2026-10", 9_999_999_999_999)]
