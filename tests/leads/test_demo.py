"""`portal demo` leaves leads in every state, a referral routed and one accepted, and a conflict."""

from __future__ import annotations

import sqlalchemy as sa

from portal.core.db import db
from portal.demo import load_demo
from portal.leads.models import Lead, LeadKind, LeadStatus


def test_demo_has_leads_in_every_state(isolated_app):
    with isolated_app.app_context():
        summary = load_demo()
        states = set(db.session.scalars(sa.select(Lead.status)))
        assert states == set(LeadStatus)
        referrals = db.session.scalars(sa.select(Lead).where(Lead.kind == LeadKind.REFERRAL)).all()
        assert {lead.status for lead in referrals} >= {LeadStatus.ROUTED, LeadStatus.ACCEPTED}
        assert any("refused" in line and "Already registered by another partner" in line for line in summary)
        assert (
            db.session.scalar(
                sa.select(sa.func.count()).select_from(Lead).where(Lead.extension_requested_at.is_not(None))
            )
            == 1
        )
        db.session.remove()
