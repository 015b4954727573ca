"""Two runs of one period started at once cannot both write: the period row is locked FOR UPDATE
(PostgreSQL), so the second run waits for the first and then recomputes the same result."""

from __future__ import annotations

import threading
import time
from datetime import date

import sqlalchemy as sa

from commissions.engine import ledger_snapshot, run_period
from commissions.models import Line, Period, Statement
from portal.core.db import db
from tests.commissions.conftest import CommissionBuilder
from tests.conftest import requires_postgres
from tests.factories import Builder


@requires_postgres()
def test_concurrent_runs_of_one_period(isolated_app):
    with isolated_app.app_context():
        cb = CommissionBuilder(Builder())
        agency, product, _rule = cb.setup()
        for i in range(20):
            act = cb.activation(product, agency, quantity=1 + i % 3, activated=f"2026-09-{1 + i:02d}T10:00:00")
            cb.billing(act, "2026-09", 10_000 + i)
        db.session.commit()
        run_period("2026-09")
        db.session.commit()
        expected = ledger_snapshot("2026-09")
        db.session.remove()

    events: list[tuple[str, float]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def worker(name: str, hold: float):
        with isolated_app.app_context():
            try:
                start.wait()

                def progress(percent, _message=None):
                    if percent >= 40 and hold:
                        time.sleep(hold)  # keep the lock while the other run tries to start

                events.append((f"{name}-start", time.monotonic()))
                run_period("2026-09", progress=progress)
                db.session.commit()
                events.append((f"{name}-done", time.monotonic()))
            except BaseException as exc:
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=worker, args=("a", 1.5)), threading.Thread(target=worker, args=("b", 1.5))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    done = sorted(t for n, t in events if n.endswith("done"))
    assert done[1] - done[0] >= 1.4, events  # the second finished a whole hold after the first: it waited
    with isolated_app.app_context():
        assert ledger_snapshot("2026-09") == expected
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Line)) == len(expected[0])
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Statement)) == 1
        assert db.session.scalar(sa.select(Period.runs).where(Period.period == "2026-09")) == 3
        assert date(2026, 9, 1)
        db.session.remove()
