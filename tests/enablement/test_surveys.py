"""Satisfaction surveys: sent when a lead is won, one-time signed links, expiry, roll-ups."""

from __future__ import annotations

import re
from datetime import timedelta
from types import SimpleNamespace

import sqlalchemy as sa
from itsdangerous import TimestampSigner

from portal.core.db import db, utcnow
from portal.core.models import OutboxMessage, Role
from portal.core.security import make_signed_token
from portal.enablement import operations as ops
from portal.enablement.models import SurveyInvitation, SurveyResponse

SCORES = {
    "score_product": "5",
    "score_agent": "4",
    "score_channel": "4",
    "score_promotion": "3",
    "score_relationship": "5",
    "comment": "Quick activation.",
}
EN = {"Accept-Language": "en"}


def _lead(make, agency=None, product=None, lead_id=None, kind="sale"):
    agency = agency or make.agency()
    return SimpleNamespace(
        id=lead_id or 424242,
        agency_id=agency.id,
        product_id=(product or make.product()).id,
        customer_id=make.customer().id,
        contact_name="Wang Fang",
        contact_mobile="13912345678",
        kind=kind,
    )


def _link(mobile="13912345678") -> str:
    message = db.session.scalar(
        sa.select(OutboxMessage)
        .where(OutboxMessage.channel == "sms", OutboxMessage.recipient == mobile)
        .order_by(OutboxMessage.id.desc())
    )
    return re.search(r"/survey/\S+", message.body).group(0)


def test_won_lead_sends_one_sms_survey_link(make):
    lead = _lead(make)
    invitation = ops.invite_for_won_lead(lead)
    assert invitation.lead_id == lead.id and invitation.contact_mobile == "13912345678"
    sms = db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.channel == "sms")).all()
    assert len(sms) == 1 and sms[0].recipient == "13912345678"
    assert "/survey/" in sms[0].body
    assert ops.invite_for_won_lead(lead) is None  # once per lead
    assert ops.invite_for_won_lead(_lead(make, lead_id=7, kind="referral")) is None
    assert (
        db.session.scalar(
            sa.select(sa.func.count()).select_from(OutboxMessage).where(OutboxMessage.channel == "sms")
        )
        == 1
    )


def test_survey_link_is_public_and_single_use(client, make):
    lead = _lead(make)
    ops.invite_for_won_lead(lead)
    link = _link()
    form = client.get(link, headers=EN)
    assert form.status_code == 200
    page = form.get_data(as_text=True)
    assert "Customer satisfaction survey" in page and "Relationship upkeep" in page
    answered = client.post(link, data=SCORES, headers=EN)
    assert answered.status_code == 200 and "Thank you! Your answers were recorded." in answered.get_data(
        as_text=True
    )
    response = db.session.scalar(sa.select(SurveyResponse))
    assert response.scores() == [5, 4, 4, 3, 5] and response.agency_id == lead.agency_id
    assert response.product_id == lead.product_id and response.comment == "Quick activation."
    again = client.get(link, headers=EN)
    assert again.status_code == 410 and "already been answered" in again.get_data(as_text=True)
    second = client.post(link, data={**SCORES, "score_product": "1"}, headers=EN)
    assert second.status_code == 410
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SurveyResponse)) == 1


def test_answers_outside_one_to_five_are_refused(client, make):
    ops.invite_for_won_lead(_lead(make))
    link = _link()
    response = client.post(link, data={**SCORES, "score_agent": "9"}, headers=EN)
    assert response.status_code == 200 and "Not a valid choice" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SurveyResponse)) == 0


def test_altered_or_forged_links_are_refused(client, make):
    invitation = ops.invite_for_won_lead(_lead(make))
    link = _link()
    token = link.rsplit("/", 1)[1]
    tampered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    assert client.get(f"/survey/{tampered}", headers=EN).status_code == 404
    other_purpose = make_signed_token("password-reset", {"i": invitation.id, "n": invitation.nonce})
    assert client.get(f"/survey/{other_purpose}").status_code == 404
    wrong_nonce = make_signed_token(ops.SURVEY_PURPOSE, {"i": invitation.id, "n": "0" * 32})
    assert client.get(f"/survey/{wrong_nonce}").status_code == 404
    assert client.post(f"/survey/{wrong_nonce}", data=SCORES).status_code == 404
    assert invitation.answered_at is None


def test_expired_links_are_refused(client, make, monkeypatch):
    # the invitation's own end date has passed
    invitation = ops.invite_for_won_lead(_lead(make))
    link = _link()
    invitation.expires_at = utcnow() - timedelta(seconds=1)
    db.session.flush()
    response = client.get(link, headers=EN)
    assert response.status_code == 410 and "expired" in response.get_data(as_text=True)
    assert client.post(link, data=SCORES).status_code == 410
    # a token signed more than 30 days ago is refused by its signature's age as well
    fresh = ops.create_survey(contact_mobile="13700000000", agency_id=invitation.agency_id, send=False)
    real = TimestampSigner.get_timestamp
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: real(self) - 31 * 86400)
    old_token = ops.survey_token(fresh)
    monkeypatch.setattr(TimestampSigner, "get_timestamp", real)
    assert client.get(f"/survey/{old_token}").status_code == 410
    assert client.get(ops.survey_path(fresh)).status_code == 200
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SurveyResponse)) == 0


def test_survey_page_switches_language(client, make):
    ops.invite_for_won_lead(_lead(make))
    link = _link()
    chinese = client.get(link, headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "客户满意度调查" in chinese
    switched = client.post("/language", data={"locale": "en", "next": link})
    assert switched.status_code == 302 and switched.headers["Location"].endswith(link)
    english = client.get(link, headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "Customer satisfaction survey" in english


def test_results_roll_up_per_agency_and_product(client, make, login):
    region = make.region("SZ")
    a1, a2 = make.agency(region=region), make.agency(region=region)
    p1, p2 = make.product(), make.product()
    for agency, product, product_score, n in ((a1, p1, 5, 1), (a1, p2, 3, 2), (a2, p1, 1, 3)):
        invitation = ops.create_survey(
            contact_mobile=f"1390000000{n}", agency_id=agency.id, product_id=product.id, send=False
        )
        ops.answer_survey(
            invitation,
            {"product": product_score, "agent": 4, "channel": 4, "promotion": 4, "relationship": 4},
        )
    per_agency = {r["key"]: r for r in ops.satisfaction_rollup(SurveyResponse.agency_id)}
    assert per_agency[a1.id]["responses"] == 2 and str(per_agency[a1.id]["product"]) == "4.00"
    assert str(per_agency[a1.id]["overall"]) == "4.00"
    assert str(per_agency[a2.id]["overall"]) == "3.40"
    per_product = {r["key"]: r for r in ops.satisfaction_rollup(SurveyResponse.product_id)}
    assert str(per_product[p1.id]["product"]) == "3.00" and per_product[p1.id]["responses"] == 2
    signals = ops.quality_signals(a1)
    assert str(signals["satisfaction_avg"]) == "4.00" and signals["satisfaction_responses"] == 2
    manager = make.user(Role.CHANNEL_MANAGER, regions=[region])
    login(manager)
    page = client.get("/enablement/staff/quality", headers=EN).get_data(as_text=True)
    assert f'data-testid="satisfaction-{a2.code}">3.40<' in page
    login(make.user(Role.CHANNEL_MANAGER, regions=[make.region("ZZ")]))
    other = client.get("/enablement/staff/quality", headers=EN).get_data(as_text=True)
    assert a1.code not in other
    login(make.user(Role.AGENCY_OWNER, agency=a1))
    assert client.get("/enablement/staff/quality").status_code == 403


def test_default_gateway_can_be_replaced(app, make):
    sent = []

    class FakeGateway:
        def send(self, mobile, text):
            sent.append((mobile, text))

    app.extensions["enablement_sms_gateway"] = FakeGateway()
    try:
        ops.invite_for_won_lead(_lead(make, lead_id=99))
    finally:
        del app.extensions["enablement_sms_gateway"]
    assert sent and sent[0][0] == "13912345678" and "/survey/" in sent[0][1]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SurveyInvitation)) == 1
