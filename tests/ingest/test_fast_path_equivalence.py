"""The set-based checks of a billing file (PostgreSQL: SQL on the COPY of the raw file; SQLite: SQL on
the rows as csv reads them) reject exactly the rows `parsing.check_billing` rejects, with the same
reason, and store the values it gives — for odd amounts, periods, white space and order ids alike."""

from __future__ import annotations

from datetime import UTC, date, datetime

import sqlalchemy as sa
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from commissions.ingest import operations as ops
from commissions.ingest import parsing
from commissions.ingest.models import Activation, BillingRecord
from portal.core.db import db
from tests.ingest.conftest import billing, csv_bytes

PARSE_CODES = {"columns", "required", "too_long", "bad_period", "bad_amount", "negative_amount", "too_precise",
               "too_large", "paid_exceeds_billed"}
ORDERS = [f"FP-{i}" for i in range(4)]

SPACES = st.sampled_from(["", " ", "  ", "\t", "\u3000", "\xa0"])
AMOUNTS = st.one_of(
    st.sampled_from(["0", "0.00", "1", "12.5", "12.50", "12.345", "007", "00012.30", ".5", "5.", "1e3", "1E3",
                     "+5", "-5", "-0", "NaN", "Infinity", "1..2", "1.2.3", "", "١٢", "１２", "12 3", "99999999999",
                     "99999999999.99", "100000000000", "999999999999", "0x10", "1_000"]),
    st.from_regex(r"[0-9.eE+\- ]{0,15}", fullmatch=True),
    st.decimals(min_value=0, max_value=10**12, places=2, allow_nan=False).map(str),
)
PERIODS = st.one_of(st.sampled_from(["2026-10", "2026-11", "2026-13", "2026-00", "2026-1", "26-10", "2026/10",
                                     "２０２６-10", "", "2026-10-01"]),
                    st.from_regex(r"[0-9]{4}-[0-9]{2}", fullmatch=True))
ORDER_IDS = st.one_of(st.sampled_from(ORDERS), st.sampled_from(["", "x" * 64, "y" * 65, "订单-1"]))


def _pad(row_and_pad):
    """Most rows as they are (the set-based checks see them); some with white space around one field."""
    row, pad = row_and_pad
    if pad is None:
        return row
    field, before, after = pad
    row = list(row)
    row[field] = before + row[field] + after
    return tuple(row)


rows = st.lists(st.tuples(st.tuples(ORDER_IDS, PERIODS, AMOUNTS, AMOUNTS),
                          st.one_of(st.none(), st.tuples(st.integers(0, 3), SPACES, SPACES))).map(_pad),
                min_size=1, max_size=25)


def _orders():
    if db.session.scalar(sa.select(sa.func.count()).select_from(Activation).where(Activation.order_id.in_(ORDERS))):
        return
    at = datetime(2020, 1, 1, 2, tzinfo=UTC)
    for order_id in ORDERS:
        db.session.add(Activation(order_id=order_id, uscc="91440101MA5CYQ0X1A", customer_name="C",
                                  product_code="FP-LOW", quantity=1, monthly_fee_fen=0, one_time_fee_fen=0,
                                  activated_at=at, activation_date=date(2020, 1, 1)))
    db.session.flush()


EDGES = [("FP-1", "2026-10", amount, "0") for amount in (
    "999999999999", "99999999999", "99999999999.99", "100000000000", "12.345", "12.3", "12.30", "1.2.3", "1..2",
    "5.", ".5", "1e3", "+5", "-0", "-5", "NaN", "Infinity", "١٢", "１２", "007", "00012.30", "0", "", " 5", "5 ",
    "5\t", "1 2")] + [
    ("FP-1", period, "5", "5") for period in ("2026-13", "2026-00", "2026-1", "2026-10 ", "\u30002026-10", "0000-01")
] + [("FP-1", "2026-10", "5", "5.01"), ("FP-1", "2026-10", "5.00", "5"), (" FP-1", "2026-10", "5", "5"),
     ("FP-1\t", "2026-10", "5", "5"), ("\u3000FP-1", "2026-10", "5", "5"), ("", "2026-10", "5", "5"),
     ("y" * 65, "2026-10", "5", "5"), ("x" * 64, "2026-10", "5", "5")]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@example(data=EDGES)
@given(data=rows)
def test_file_checks_agree_with_the_row_check(app_ctx, files, data, monkeypatch):
    _orders()
    path = files.write(csv_bytes(parsing.BILLING_COLUMNS, [billing(*r) for r in data]))
    run = ops.new_run("billing", "cli", filename=path.name)
    used = []
    fast = ops._Stage.fast_billing_load

    def spy(self, *args, **kwargs):
        result = fast(self, *args, **kwargs)
        used.append(result is not None)
        return result

    monkeypatch.setattr(ops._Stage, "fast_billing_load", spy)
    ops.import_file(run, path, skip_bad=True)
    assert used == [True]  # the set-based path, not the row-by-row one
    got = {line: code for line, _order, code, _params in ops.iter_rejections(run) if code in PARSE_CODES}
    expected, good = {}, {}
    for line, fields in enumerate(data, start=2):
        result = parsing.check_billing(list(fields))
        if isinstance(result, parsing.Rejection):
            expected[line] = result.code
        else:
            good[line] = result
    assert got == expected, repr(data)
    stored = {(b.order_id, b.period): (b.billed_fen, b.paid_fen) for b in db.session.scalars(
        sa.select(BillingRecord).where(BillingRecord.order_id.in_(ORDERS)))}
    for order_id, period, billed, paid in good.values():
        if sum(1 for g in good.values() if g[:2] == (order_id, period)) == 1 and order_id in ORDERS \
                and period >= "2020-01":
            assert stored[(order_id, period)] == (billed, paid), repr(data)
    db.session.execute(sa.delete(BillingRecord).where(BillingRecord.order_id.in_(ORDERS)))
    db.session.flush()


def test_white_space_is_that_of_str_strip():
    assert set(parsing.WHITESPACE) == {chr(c) for c in range(0x110000) if chr(c).isspace()}
