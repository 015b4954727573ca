"""Agency A's owner never sees agency B's payouts, account or bank details; B's payout and
statement ids answer the same as ids that do not exist; staff outside B's region get 404. And the
Stripe payout status on the account pages is translated, not Stripe's raw word."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from commissions.payouts import operations as ops
from commissions.payouts.models import Payout, PayoutStatus, Rail
from portal.core.db import db
from portal.core.models import Role

PERIOD = "2026-10"
EN = {"Accept-Language": "en"}
ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}


@pytest.fixture
def two_agencies(app_ctx, fake, ledger):
    """A paid through Stripe (¥1,111.11), B paid through Stripe (¥2,222.22) and with a bank payout
    pending for a second statement (¥3,333.33)."""
    a, owner_a = ledger.stripe_agency(fake)
    b, owner_b = ledger.stripe_agency(fake)
    ops.save_bank_details(a, "Alpha Co", "ICBC Guangzhou", "6222000011110001")
    ops.save_bank_details(b, "Beta Co", "CMB Shenzhen", "6225999922220002")
    ledger.statement(a, PERIOD, 111_111)
    ledger.statement(b, PERIOD, 222_222)
    ledger.statement(b, "2026-11", 333_333)
    ops.run_payouts(PERIOD)
    fake.accounts[b.stripe_account_id]["payouts_enabled"] = False  # B's next payout goes to the bank
    ops.run_payouts("2026-11")
    ops.account_for(b.id).last_payout_status = "in_transit"
    db.session.commit()
    payouts = {p.agency_id: p for p in db.session.scalars(sa.select(Payout).where(Payout.period == PERIOD))}
    bank_b = db.session.scalar(sa.select(Payout).where(Payout.agency_id == b.id, Payout.rail == Rail.BANK))
    assert bank_b is not None and bank_b.status == PayoutStatus.PENDING
    return {"a": a, "b": b, "owner_a": owner_a, "owner_b": owner_b, "payout_a": payouts[a.id],
            "payout_b": payouts[b.id], "bank_b": bank_b}


def _text(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def _main(page: str) -> str:
    """The page's own content (the layout around it repeats the request's URL), CSRF tokens aside."""
    return re.sub(r'name="csrf_token"[^>]*', "", page.split("<main", 1)[1].split("</main>", 1)[0])


def test_owner_a_sees_only_a_on_payouts_mine(client, login, two_agencies):
    data = two_agencies
    login(data["owner_a"])
    page = _text(client.get("/payouts/mine", headers=EN))
    assert data["payout_a"].stripe_transfer_id in page and "¥1,111.11" in page
    foreign_items = (data["payout_b"].stripe_transfer_id, "¥2,222.22", "¥3,333.33",
                     ops.bank_reference_code(data["bank_b"]))
    for foreign in foreign_items:
        assert foreign not in page
    # a query naming the other agency changes nothing
    assert _main(_text(client.get(f"/payouts/mine?agency_id={data['b'].id}", headers=EN))) == _main(page)


def test_owner_b_sees_only_b_on_payouts_mine(client, login, two_agencies):
    data = two_agencies
    login(data["owner_b"])
    page = _text(client.get("/payouts/mine", headers=EN))
    assert data["payout_b"].stripe_transfer_id in page and "¥2,222.22" in page and "¥3,333.33" in page
    assert data["payout_a"].stripe_transfer_id not in page and "¥1,111.11" not in page


def test_owner_a_sees_only_a_on_payouts_account(client, login, two_agencies):
    data = two_agencies
    login(data["owner_a"])
    page = _text(client.get("/payouts/account", headers=EN))
    assert data["a"].stripe_account_id in page and "6222000011110001" in page and "Alpha Co" in page
    for foreign in (data["b"].stripe_account_id, "6225999922220002", "Beta Co", "in transit"):
        assert foreign not in page
    assert _main(_text(client.get(f"/payouts/account?agency_id={data['b'].id}", headers=EN))) == _main(page)


def test_owner_a_saving_bank_details_changes_only_a(client, login, two_agencies):
    data = two_agencies
    login(data["owner_a"])
    response = client.post("/payouts/account/bank", headers=EN, data={
        "bank-account_name": "Alpha New", "bank-bank_name": "BOC", "bank-account_number": "6013000000000001",
        "agency_id": str(data["b"].id)})
    assert response.status_code == 302
    db.session.expire_all()
    assert ops.account_for(data["a"].id).bank_account_name == "Alpha New"
    assert ops.account_for(data["b"].id).bank_account_number == "6225999922220002"


def test_b_ids_answer_owner_a_like_ids_that_do_not_exist(client, login, two_agencies):
    data = two_agencies
    login(data["owner_a"])
    b, bank_b = data["b"], data["bank_b"]
    probes = [
        ("get", "/payouts/agency/{}", b.id, 999_999),
        ("post", "/payouts/agency/{}/refresh", b.id, 999_999),
        ("post", "/payouts/payout/{}/bank-reference", bank_b.id, 999_999),
        ("post", "/payouts/payout/{}/cancel", bank_b.id, 999_999),
        ("post", "/payouts/statement/{}/carry", bank_b.statement_id, 999_999),
    ]
    for method, template, real, missing in probes:
        answer = getattr(client, method)(template.format(real), headers=EN, data={"ref-reference": "X-1"})
        absent = getattr(client, method)(template.format(missing), headers=EN, data={"ref-reference": "X-1"})
        assert answer.status_code == absent.status_code == 403, (template, answer.status_code)
        assert answer.get_data(as_text=True).replace(template.format(real), "PATH") == \
            absent.get_data(as_text=True).replace(template.format(missing), "PATH")
    db.session.expire_all()
    assert (bank_b.status, bank_b.bank_reference) == (PayoutStatus.PENDING, None)
    assert ops.carry_of(bank_b.statement_id) is None


def test_staff_outside_b_region_get_404_for_b(client, login, make, two_agencies):
    data = two_agencies
    login(make.user(Role.CHANNEL_MANAGER, regions=[make.region("SZ")]))  # the agencies are in GZ
    assert client.get(f"/payouts/agency/{data['b'].id}", headers=EN).status_code == 404
    assert client.get("/payouts/agency/999999", headers=EN).status_code == 404
    login(make.user(Role.CHANNEL_MANAGER, regions=[make.region("GZ")]))
    page = _text(client.get(f"/payouts/agency/{data['b'].id}", headers=EN))
    assert data["payout_b"].stripe_transfer_id in page and data["payout_a"].stripe_transfer_id not in page


@pytest.mark.parametrize(("status", "english", "chinese"), [
    ("in_transit", "in transit", "在途"), ("paid", "paid", "已支付"), ("failed", "failed", "失败"),
    ("canceled", "canceled", "已取消"), ("pending", "pending", "处理中")])
def test_last_stripe_payout_status_is_translated(client, login, make, fake, ledger, status, english, chinese):
    agency, owner = ledger.stripe_agency(fake)
    row = ops.refresh_account(agency)
    row.last_payout_status = status
    row.last_payout_at = row.stripe_checked_at
    db.session.commit()
    login(owner)
    for headers, label in ((EN, english), (ZH, chinese)):
        page = _text(client.get("/payouts/account", headers=headers))
        cell = page.split('data-testid="last-payout"', 1)[1].split("</dd>", 1)[0]
        assert f">{label}</span>" in cell, cell
        if status != english:
            assert status not in cell
    login(make.user(Role.FINANCE))
    page = _text(client.get(f"/payouts/agency/{agency.id}", headers=ZH))
    assert f">{chinese}</span>" in page.split('data-testid="last-payout"', 1)[1].split("</dd>", 1)[0]
