"""Every change of an agency's status is kept in its status history, with the day it takes effect
(attribution reads it: SPEC §5.2 "an agency that was active on the activation date")."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from portal.core.db import db
from portal.core.time import today_shanghai
from portal.partners import operations as ops
from portal.partners.models import AgencyStatus, AgencyStatusChange, Grade


def history(agency):
    db.session.expire(agency, ["status_history"])
    return [(h.status, h.effective_from, h.reason) for h in agency.status_history]


def test_application_approval_suspension_reactivation_and_termination_are_recorded(
        apply, channel_gz, monkeypatch):
    monkeypatch.setattr(ops, "today_shanghai", lambda *a, **k: date(2026, 2, 20))
    agency = apply()
    assert history(agency) == [(AgencyStatus.PENDING, date(2026, 2, 20), "application")]
    ops.approve_application(agency, Grade.SILVER, channel_gz, date(2026, 3, 1), note="fine")
    for day, status, reason in ((date(2026, 4, 2), AgencyStatus.SUSPENDED, "complaints"),
                                (date(2026, 4, 9), AgencyStatus.ACTIVE, "resolved"),
                                (date(2026, 6, 30), AgencyStatus.TERMINATED, "contract ended")):
        monkeypatch.setattr(ops, "today_shanghai", lambda *a, d=day, **k: d)
        ops.change_status(agency, status, reason)
    assert history(agency) == [
        (AgencyStatus.PENDING, date(2026, 2, 20), "application"),
        (AgencyStatus.ACTIVE, date(2026, 3, 1), "fine"),
        (AgencyStatus.SUSPENDED, date(2026, 4, 2), "complaints"),
        (AgencyStatus.ACTIVE, date(2026, 4, 9), "resolved"),
        (AgencyStatus.TERMINATED, date(2026, 6, 30), "contract ended"),
    ]
    entries = db.session.scalars(sa.select(AgencyStatusChange).where(AgencyStatusChange.agency_id == agency.id)
                                 .order_by(AgencyStatusChange.id)).all()
    assert entries[1].changed_by_id == channel_gz.id


def test_rejection_is_recorded(apply, channel_gz):
    agency = apply()
    ops.reject_application(agency, "incomplete licence", channel_gz)
    assert history(agency)[-1] == (AgencyStatus.REJECTED, today_shanghai(), "incomplete licence")


def test_suspension_through_the_page_is_recorded(client, login, make, gz, channel_gz):
    agency = make.agency(region=gz)
    login(channel_gz)
    assert client.post(f"/agencies/{agency.id}/status/suspend",
                       data={"status-reason": "complaints"}).status_code == 302
    assert history(agency) == [(AgencyStatus.SUSPENDED, today_shanghai(), "complaints")]
    entry = db.session.scalar(sa.select(AgencyStatusChange).where(AgencyStatusChange.agency_id == agency.id))
    assert entry.changed_by_id == channel_gz.id  # who made the change


def test_a_refused_change_records_nothing(make, gz):
    import pytest

    from portal.core.operations import OperationError

    pending = make.agency(region=gz, status=AgencyStatus.PENDING, grade=None)
    with pytest.raises(OperationError):
        ops.change_status(pending, AgencyStatus.SUSPENDED, "x")
    assert history(pending) == []
