"""Agency codes stay unique when approvals race on PostgreSQL (real connections, real commits)."""

from __future__ import annotations

import threading
from datetime import date

import sqlalchemy as sa

from portal.core.db import db
from portal.core.models import Role
from portal.partners import operations as ops
from portal.partners.models import Agency, AgencyCodeCounter, AgencyStatus, Grade
from tests.conftest import requires_postgres
from tests.factories import Builder

APPLICATIONS = 8


@requires_postgres()
def test_concurrent_approvals_get_distinct_sequential_codes(isolated_app):
    from portal.partners.licences import CheckedLicence
    from tests.factories import PASSWORD, make_uscc
    from tests.partners.conftest import pdf_bytes

    with isolated_app.app_context():
        make = Builder()
        gz = make.region("GZ")
        manager = make.user(Role.CHANNEL_MANAGER, regions=[gz])
        ids = []
        for n in range(APPLICATIONS):
            data = ops.ApplicationData(
                name=f"Race {n}",
                uscc=make_uscc(900000 + n),
                legal_representative="A",
                contact_name="B",
                mobile="13800000000",
                email=f"race{n}@example.test",
                region_id=gz.id,
                address="x",
                business_scope="y",
            )
            licence = CheckedLicence(pdf_bytes(), "application/pdf", "pdf", "l.pdf")
            ids.append(ops.submit_application(data, licence, PASSWORD).id)
        manager_id = manager.id
        db.session.commit()
        db.session.remove()

    barrier = threading.Barrier(APPLICATIONS)
    errors: list[BaseException] = []

    def approve(agency_id: int):
        try:
            with isolated_app.app_context():
                agency = db.session.get(Agency, agency_id)
                from portal.core.models import User

                reviewer = db.session.get(User, manager_id)
                barrier.wait(timeout=30)
                ops.approve_application(agency, Grade.SILVER, reviewer, date(2026, 5, 1))
                db.session.commit()
                db.session.remove()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=approve, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors

    with isolated_app.app_context():
        rows = db.session.scalars(sa.select(Agency).where(Agency.id.in_(ids))).all()
        assert all(a.status == AgencyStatus.ACTIVE for a in rows)
        codes = sorted(a.code for a in rows)
        assert codes == [f"AGGZ{n:04d}" for n in range(1, APPLICATIONS + 1)]
        counter = db.session.get(AgencyCodeCounter, rows[0].region_id)
        assert counter.last_seq == APPLICATIONS
        db.session.remove()


@requires_postgres()
def test_concurrent_applications_with_one_uscc_leave_one_live(isolated_app):
    """The partial unique index decides when two applications with the same USCC race."""
    from portal.partners.licences import CheckedLicence
    from tests.factories import PASSWORD, make_uscc
    from tests.partners.conftest import pdf_bytes

    with isolated_app.app_context():
        region_id = Builder().region("GZ").id
        db.session.commit()
        db.session.remove()
    uscc = make_uscc(990001)
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def submit(n: int):
        with isolated_app.app_context():
            data = ops.ApplicationData(
                name=f"Same {n}",
                uscc=uscc,
                legal_representative="A",
                contact_name="B",
                mobile="13800000000",
                email=f"same{n}@example.test",
                region_id=region_id,
                address="x",
                business_scope="y",
            )
            licence = CheckedLicence(pdf_bytes(), "application/pdf", "pdf", "l.pdf")
            barrier.wait(timeout=30)
            try:
                ops.submit_application(data, licence, PASSWORD)
                db.session.commit()
                outcomes.append("ok")
            except ops.FieldError as exc:
                db.session.rollback()
                outcomes.append(exc.field)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=submit, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(outcomes) == ["ok", "uscc", "uscc", "uscc"]
    with isolated_app.app_context():
        assert (
            db.session.scalar(sa.select(sa.func.count()).select_from(Agency).where(Agency.uscc == uscc)) == 1
        )
        db.session.remove()
