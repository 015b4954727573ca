"""Satisfaction surveys: sent when a lead is won, one-time signed links, expiry, roll-ups."""

from __future__ import annotations

import re
from datetime import timedelta

import sqlalchemy as sa
from itsdangerous import TimestampSigner

from portal.core.db import db, utcnow
from portal.core.models import OutboxMessage, Role
from portal.core.security import make_signed_token
from portal.enablement import operations as ops
from portal.enablement.models import SoldBy, SurveyInvitation, SurveyResponse
from portal.leads.models import Lead, LeadKind, LeadStatus

SCORES = {
    "score_product": "5",
    "score_agent": "4",
    "score_channel": "4",
    "score_promotion": "3",
    "score_relationship": "5",
    "comment": "Quick activation.",
}
EN = {"Accept-Language": "en"}


def _lead(make, agency=None, product=None, kind="sale", account_manager=None, mobile="13912345678"):
    """A won lead row (the survey hook reads it as the leads area hands it over)."""
    lead = Lead(
        agency_id=(agency or make.agency()).id,
        customer_id=make.customer().id,
        product_id=(product or make.product()).id,
        kind=LeadKind(kind),
        status=LeadStatus.WON,
        contact_name="Wang Fang",
        contact_mobile=mobile,
        account_manager_id=account_manager.id if account_manager else None,
    )
    db.session.add(lead)
    db.session.flush()
    return lead


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
    assert (
        db.session.scalar(
            sa.select(sa.func.count()).select_from(OutboxMessage).where(OutboxMessage.channel == "sms")
        )
        == 1
    )
    assert invitation.sold_by == SoldBy.AGENCY and invitation.account_manager_id is None


def test_won_referral_is_surveyed_for_the_product_not_for_the_referring_agency(client, make):
    region = make.region("GZ")
    agency = make.agency(region=region)
    product = make.product(scores=(4, 1, 1))
    am = make.user(Role.ACCOUNT_MANAGER, regions=[region])
    own_sale = ops.invite_for_won_lead(_lead(make, agency=agency, product=product, mobile="13900000001"))
    referral = ops.invite_for_won_lead(
        _lead(make, agency=agency, product=product, kind="referral", account_manager=am, mobile="13900000002")
    )
    assert referral.sold_by == SoldBy.ACCOUNT_MANAGER and referral.account_manager_id == am.id
    assert referral.agency_id == agency.id  # kept for tracing and for the channel manager's scope
    low = {"product": 1, "agent": 1, "channel": 1, "promotion": 1, "relationship": 1}
    high = {"product": 5, "agent": 5, "channel": 5, "promotion": 5, "relationship": 5}
    # the referral's customer answers through the public link like any other
    answered = client.post(
        _link("13900000002"),
        data={f"score_{d}": str(v) for d, v in low.items()} | {"comment": ""},
        headers=EN,
    )
    assert answered.status_code == 200
    ops.answer_survey(own_sale, high)
    response = db.session.scalar(sa.select(SurveyResponse).where(SurveyResponse.invitation_id == referral.id))
    assert response.sold_by == SoldBy.ACCOUNT_MANAGER and response.account_manager_id == am.id

    per_product = {r["key"]: r for r in ops.satisfaction_rollup(SurveyResponse.product_id)}
    assert per_product[product.id]["responses"] == 2 and str(per_product[product.id]["overall"]) == "3.00"
    per_agency = {r["key"]: r for r in ops.satisfaction_rollup(SurveyResponse.agency_id)}
    assert per_agency[agency.id]["responses"] == 1 and str(per_agency[agency.id]["agent"]) == "5.00"
    signals = ops.quality_signals(agency)
    assert signals["satisfaction_responses"] == 1 and str(signals["satisfaction_avg"]) == "5.00"


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
        ops.invite_for_won_lead(_lead(make))
    finally:
        del app.extensions["enablement_sms_gateway"]
    assert sent and sent[0][0] == "13912345678" and "/survey/" in sent[0][1]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SurveyInvitation)) == 1


def test_staff_quality_page_marks_referral_answers(client, make, login):
    agency = make.agency(region=make.region("GZ"))
    invitation = ops.create_survey(
        contact_mobile="13900000009", agency_id=agency.id, sold_by=SoldBy.ACCOUNT_MANAGER, send=False
    )
    ops.answer_survey(invitation, {"product": 2, "agent": 2, "channel": 2, "promotion": 2, "relationship": 2})
    login(make.user(Role.ADMIN))
    page = client.get("/enablement/staff/quality", headers=EN).get_data(as_text=True)
    assert "account manager's sale (referral)" in page
    assert f'data-testid="answers-{agency.code}">0<' in page
