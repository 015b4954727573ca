"""Payout pages: finance (payout run, bank rail, reconciliation, close), agency owners (Stripe
Connect onboarding, bank details, payout history) and the Stripe webhook endpoint."""

from __future__ import annotations

import logging

import sqlalchemy as sa
import stripe
from flask import Blueprint, Response, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from commissions.payouts import bankfile, ledger, reconciliation, webhooks
from commissions.payouts import operations as ops
from commissions.payouts.forms import BankDetailsForm, BankReferenceForm, CarryForm, ConfirmationForm
from commissions.payouts.models import Payout, PayoutCarry, PayoutStatus
from commissions.payouts.stripe_client import StripeDisabled, stripe_enabled
from portal.core.db import db
from portal.core.extensions import csrf
from portal.core.forms import EmptyForm
from portal.core.models import Role
from portal.core.nav import register_nav
from portal.core.permissions import get_scoped_or_404, public, roles_required
from portal.partners.models import Agency

log = logging.getLogger(__name__)

bp = Blueprint("payouts", __name__)

FINANCE = (Role.FINANCE,)
STAFF_VIEW = (Role.FINANCE, Role.CHANNEL_MANAGER, Role.ADMIN)

register_nav("payouts.index", _l("Payouts"), [Role.FINANCE], order=70, group="payouts")
register_nav("payouts.reconciliation_index", _l("Reconciliation"), [Role.FINANCE], order=71, group="payouts")
register_nav("payouts.mine", _l("Payouts"), [Role.AGENCY_OWNER], order=70, group="money")


def _period_or_404(period: str) -> str:
    if not ledger.valid_period(period):
        abort(404)
    return period


def _valid_post() -> None:
    if not EmptyForm().validate_on_submit():
        abort(400)


def _stripe_error_message(exc: Exception) -> str:
    return getattr(exc, "user_message", None) or str(exc)


# --- finance ------------------------------------------------------------------------------------------

@bp.route("/payouts/")
@roles_required(*FINANCE)
def index():
    periods = set(ledger.known_periods())
    periods |= set(db.session.scalars(sa.select(Payout.period).distinct()))
    summary = {}
    for period in sorted(periods, reverse=True):
        rows = db.session.execute(
            sa.select(Payout.status, sa.func.count(), sa.func.coalesce(sa.func.sum(Payout.amount_fen), 0))
            .where(Payout.period == period).group_by(Payout.status)).all()
        summary[period] = {(s.value if hasattr(s, "value") else s): (n, total) for s, n, total in rows}
    return render_template("payouts/index.html", periods=sorted(periods, reverse=True), summary=summary,
                           stripe_on=stripe_enabled(), engine_ready=ledger.engine_ready(),
                           period_status=ledger.period_status)


def _period_rows(period: str) -> list[dict]:
    statements = ledger.statements_for_period(period)
    payouts = list(db.session.scalars(sa.select(Payout).where(Payout.period == period).order_by(Payout.id)))
    by_statement: dict = {}
    for payout in payouts:
        by_statement.setdefault(payout.statement_id, []).append(payout)
    carries = {c.statement_id: c for c in db.session.scalars(
        sa.select(PayoutCarry).where(PayoutCarry.period == period))}
    agencies = {a.id: a for a in db.session.scalars(
        sa.select(Agency).where(Agency.id.in_({s.agency_id for s in statements} or {0})))}
    rows = []
    for st in statements:
        history = by_statement.get(st.id, [])
        live = next((p for p in history if p.status in (PayoutStatus.PENDING, PayoutStatus.PAID)), None)
        account = ops.account_for(st.agency_id)
        rows.append({
            "statement": st, "agency": agencies.get(st.agency_id), "status": ledger.status(st),
            "payable_fen": ledger.payable_fen(st), "history": history, "live": live,
            "carry": carries.get(st.id), "account": account,
            "reason": reconciliation.unpaid_reason(st) if ledger.payable_fen(st) > 0 else ledger.hold_reason(st),
        })
    return rows


@bp.route("/payouts/<period>")
@roles_required(*FINANCE)
def period_page(period: str):
    period = _period_or_404(period)
    rows = _period_rows(period)
    status = request.args.get("status") or ""
    if status in {s.value for s in PayoutStatus}:  # the statements with a payout in this state
        rows = [row for row in rows if any(p.status == status for p in row["history"])]
    else:
        status = ""
    bank_pending = ops.bank_payouts(period)
    _file_rows, missing_bank = bankfile.payment_rows(bank_pending)
    return render_template(
        "payouts/period.html", period=period, rows=rows, stripe_on=stripe_enabled(),
        engine_ready=ledger.engine_ready(), bank_pending=bank_pending, missing_bank=missing_bank,
        period_status=ledger.period_status(period), reference_form=BankReferenceForm(prefix="ref"),
        carry_form=CarryForm(prefix="carry"), confirmation_form=ConfirmationForm(), form=EmptyForm(),
        bank_code=ops.bank_reference_code, status=status,
    )


@bp.route("/payouts/<period>/run", methods=["POST"])
@roles_required(*FINANCE)
def run(period: str):
    period = _period_or_404(period)
    _valid_post()
    try:
        report = ops.run_payouts(period, actor_user_id=current_user.id)
    except ops.PayoutError as exc:
        flash(str(exc), "danger")
        return redirect(url_for("payouts.period_page", period=period))
    db.session.commit()
    flash(_("Payout run for %(period)s: %(stripe)d paid by Stripe, %(bank)d waiting for bank transfer, "
            "%(held)d held, %(failed)d failed, %(pending)d to retry, %(already)d already paid or in progress.",
            period=period, stripe=len(report.paid_stripe), bank=len(report.to_bank), held=len(report.held),
            failed=len(report.failed), pending=len(report.pending), already=report.already),
          "warning" if (report.failed or report.pending) else "success")
    details = ([(item, "danger") for item in report.failed] + [(item, "warning") for item in report.pending]
               + [(item, "info") for item in report.held])
    for (statement_id, code, _amount, note), category in details[:20]:
        flash(_("Statement %(id)d (%(agency)s): %(note)s", id=statement_id, agency=code, note=note or "-"),
              category)
    return redirect(url_for("payouts.period_page", period=period))


@bp.route("/payouts/<period>/bank-file")
@roles_required(*FINANCE)
def bank_file(period: str):
    period = _period_or_404(period)
    fmt = request.args.get("format", "csv")
    if fmt not in ("csv", "xlsx"):
        abort(404)
    rows, _missing = bankfile.payment_rows(ops.bank_payouts(period))
    if fmt == "xlsx":
        data = bankfile.to_xlsx(rows)
        mimetype = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    else:
        data = bankfile.to_csv(rows)
        mimetype = "text/csv; charset=utf-8"
    return Response(data, mimetype=mimetype, headers={
        "Content-Disposition": f'attachment; filename="bank-payments-{period}.{fmt}"'})


@bp.route("/payouts/<period>/bank-confirmation", methods=["POST"])
@roles_required(*FINANCE)
def bank_confirmation(period: str):
    period = _period_or_404(period)
    form = ConfirmationForm()
    if not form.validate_on_submit():
        flash(_("Choose the bank's confirmation file (CSV)."), "danger")
        return redirect(url_for("payouts.period_page", period=period))
    try:
        rows = bankfile.read_confirmation(form.file.data.read())
    except bankfile.ConfirmationFileError as exc:
        flash(_("The confirmation file cannot be read: %(error)s", error=str(exc)), "danger")
        return redirect(url_for("payouts.period_page", period=period))
    report = ops.import_bank_confirmation(rows)
    db.session.commit()
    flash(_("Bank confirmation: %(paid)d marked paid, %(already)d already paid, %(rejected)d rejected.",
            paid=len(report.paid), already=len(report.already), rejected=len(report.rejected)),
          "warning" if report.rejected else "success")
    for line, message in report.rejected[:20]:
        flash(_("Line %(line)d: %(message)s", line=line, message=message), "warning")
    return redirect(url_for("payouts.period_page", period=period))


@bp.route("/payouts/payout/<int:payout_id>/bank-reference", methods=["POST"])
@roles_required(*FINANCE)
def bank_reference(payout_id: int):
    payout = db.session.get(Payout, payout_id) or abort(404)
    form = BankReferenceForm(prefix="ref")
    if not form.validate_on_submit():
        flash(_("Enter the bank's reference."), "danger")
        return redirect(url_for("payouts.period_page", period=payout.period))
    try:
        ops.record_bank_reference(payout, form.reference.data)
    except ops.PayoutError as exc:
        flash(str(exc), "danger")
        return redirect(url_for("payouts.period_page", period=payout.period))
    db.session.commit()
    flash(_("Payout %(id)d marked paid by bank transfer.", id=payout.id), "success")
    return redirect(url_for("payouts.period_page", period=payout.period) + f"#payout-{payout.id}")


@bp.route("/payouts/payout/<int:payout_id>/cancel", methods=["POST"])
@roles_required(*FINANCE)
def cancel_bank(payout_id: int):
    payout = db.session.get(Payout, payout_id) or abort(404)
    _valid_post()
    try:
        ops.cancel_bank_payout(payout, "withdrawn by finance")
    except ops.PayoutError as exc:
        flash(str(exc), "danger")
        return redirect(url_for("payouts.period_page", period=payout.period))
    db.session.commit()
    flash(_("The bank payout was withdrawn; the next payout run pays the statement again."), "info")
    return redirect(url_for("payouts.period_page", period=payout.period))


@bp.route("/payouts/statement/<int:statement_id>/carry", methods=["POST"])
@roles_required(*FINANCE)
def carry(statement_id: int):
    statement = ledger.get_statement(statement_id) or abort(404)
    period = ledger.statement_period_key(statement)
    form = CarryForm(prefix="carry")
    if not form.validate_on_submit():
        flash(_("Give the reason for carrying the statement."), "danger")
        return redirect(url_for("payouts.period_page", period=period))
    try:
        ops.carry_statement(statement, form.reason.data, actor_user_id=current_user.id)
    except ops.PayoutError as exc:
        flash(str(exc), "danger")
        return redirect(url_for("payouts.period_page", period=period))
    db.session.commit()
    flash(_("The statement is carried forward."), "info")
    return redirect(url_for("payouts.period_page", period=period))


@bp.route("/payouts/reconciliation")
@roles_required(*FINANCE)
def reconciliation_index():
    periods = set(ledger.known_periods()) | set(db.session.scalars(sa.select(Payout.period).distinct()))
    return render_template("payouts/reconciliation_index.html", periods=sorted(periods, reverse=True),
                           period_status=ledger.period_status)


@bp.route("/payouts/<period>/reconciliation")
@roles_required(*FINANCE)
def reconciliation_page(period: str):
    period = _period_or_404(period)
    result = reconciliation.reconcile(period)
    return render_template("payouts/reconciliation.html", period=period, result=result,
                           stripe_on=stripe_enabled(), period_status=ledger.period_status(period),
                           form=EmptyForm())


@bp.route("/payouts/<period>/close", methods=["POST"])
@roles_required(*FINANCE)
def close(period: str):
    period = _period_or_404(period)
    _valid_post()
    try:
        ledger.close_period(period, actor=current_user._get_current_object())
    except LookupError:
        flash(_("There is no open period %(period)s to close.", period=period), "danger")
        return redirect(url_for("payouts.reconciliation_page", period=period))
    except ledger.LedgerError as exc:  # the engine refuses, with its reasons (nothing was changed)
        reasons = exc.reasons
        flash(_("Period %(period)s cannot be closed yet:", period=period), "danger")
        for reason in reasons[:20]:
            flash(str(reason), "warning")
        return redirect(url_for("payouts.reconciliation_page", period=period))
    db.session.commit()
    flash(_("Period %(period)s is closed.", period=period), "success")
    return redirect(url_for("payouts.reconciliation_page", period=period))


# --- staff: one agency's payout account ----------------------------------------------------------------

@bp.route("/payouts/agency/<int:agency_id>")
@roles_required(*STAFF_VIEW)
def agency_page(agency_id: int):
    agency = get_scoped_or_404(Agency, agency_id)
    payouts = list(db.session.scalars(sa.select(Payout).where(Payout.agency_id == agency.id)
                                      .order_by(Payout.id.desc()).limit(200)))
    return render_template("payouts/agency.html", agency=agency, account=ops.account_for(agency.id),
                           account_id=ops.connected_account_id(agency), payouts=payouts,
                           stripe_on=stripe_enabled(), form=EmptyForm())


@bp.route("/payouts/agency/<int:agency_id>/refresh", methods=["POST"])
@roles_required(*FINANCE)
def agency_refresh(agency_id: int):
    agency = get_scoped_or_404(Agency, agency_id)
    _valid_post()
    try:
        ops.refresh_account(agency)
    except stripe.StripeError as exc:
        flash(_("Stripe could not be asked: %(error)s", error=_stripe_error_message(exc)), "danger")
        return redirect(url_for("payouts.agency_page", agency_id=agency.id))
    db.session.commit()
    flash(_("The Stripe account state is up to date."), "success")
    return redirect(url_for("payouts.agency_page", agency_id=agency.id))


# --- agency owner -------------------------------------------------------------------------------------

def _own_agency() -> Agency:
    agency = db.session.get(Agency, current_user.agency_id) if current_user.agency_id else None
    if agency is None:
        abort(404)
    return agency


@bp.route("/payouts/mine")
@roles_required(Role.AGENCY_OWNER)
def mine():
    agency = _own_agency()
    payouts = list(db.session.scalars(sa.select(Payout).where(Payout.agency_id == agency.id)
                                      .order_by(Payout.id.desc()).limit(200)))
    statements = []
    Statement = ledger.statement_class()
    if Statement is not None:
        for st in db.session.scalars(sa.select(Statement).where(Statement.agency_id == agency.id)
                                     .order_by(Statement.id.desc()).limit(24)):
            if ledger.status(st) in ("draft",):
                continue
            statements.append({"statement": st, "period": ledger.statement_period_key(st),
                               "status": ledger.status(st), "payable_fen": ledger.payable_fen(st),
                               "reason": reconciliation.unpaid_reason(st) or ledger.hold_reason(st)})
    return render_template("payouts/mine.html", agency=agency, payouts=payouts, statements=statements,
                           account=ops.account_for(agency.id), stripe_on=stripe_enabled())


@bp.route("/payouts/account")
@roles_required(Role.AGENCY_OWNER)
def account():
    agency = _own_agency()
    row = ops.account_for(agency.id)
    form = BankDetailsForm(prefix="bank")
    if row is not None and not form.is_submitted():
        form.account_name.data = row.bank_account_name
        form.bank_name.data = row.bank_name
        form.account_number.data = row.bank_account_number
    return render_template("payouts/account.html", agency=agency, account=row,
                           account_id=ops.connected_account_id(agency), stripe_on=stripe_enabled(),
                           bank_form=form, form=EmptyForm())


@bp.route("/payouts/account/bank", methods=["POST"])
@roles_required(Role.AGENCY_OWNER)
def save_bank():
    agency = _own_agency()
    form = BankDetailsForm(prefix="bank")
    if not form.validate_on_submit():
        return render_template("payouts/account.html", agency=agency, account=ops.account_for(agency.id),
                               account_id=ops.connected_account_id(agency), stripe_on=stripe_enabled(),
                               bank_form=form, form=EmptyForm()), 400
    ops.save_bank_details(agency, form.account_name.data, form.bank_name.data, form.account_number.data)
    db.session.commit()
    flash(_("Your bank details are saved."), "success")
    return redirect(url_for("payouts.account"))


def _onboard_redirect(agency: Agency):
    try:
        ops.ensure_connected_account(agency, current_user._get_current_object())
        db.session.commit()  # the account exists at Stripe: keep its id whatever happens next
        url = ops.account_link_url(
            agency, refresh_url=url_for("payouts.connect_refresh", _external=True),
            return_url=url_for("payouts.connect_return", _external=True))
    except StripeDisabled:
        flash(_("Stripe payouts are not available: pay-outs are made by bank transfer."), "warning")
        return redirect(url_for("payouts.account"))
    except stripe.StripeError as exc:
        flash(_("Stripe could not be reached: %(error)s. Please try again.", error=_stripe_error_message(exc)),
              "danger")
        return redirect(url_for("payouts.account"))
    return redirect(url)


@bp.route("/payouts/account/connect", methods=["POST"])
@roles_required(Role.AGENCY_OWNER)
def connect():
    agency = _own_agency()
    _valid_post()
    return _onboard_redirect(agency)


@bp.route("/payouts/account/refresh")
@roles_required(Role.AGENCY_OWNER)
def connect_refresh():
    """Stripe sends the owner here when an account link expired: make a new one."""
    agency = _own_agency()
    if not ops.connected_account_id(agency):
        return redirect(url_for("payouts.account"))
    return _onboard_redirect(agency)


@bp.route("/payouts/account/return")
@roles_required(Role.AGENCY_OWNER)
def connect_return():
    """Stripe sends the owner back here after onboarding: read the account's state."""
    agency = _own_agency()
    try:
        row = ops.refresh_account(agency)
    except stripe.StripeError as exc:
        flash(_("Stripe could not be reached: %(error)s. Please try again.", error=_stripe_error_message(exc)),
              "danger")
        return redirect(url_for("payouts.account"))
    db.session.commit()
    if row is not None and row.stripe_usable:
        flash(_("Your Stripe account is connected and can receive payouts."), "success")
    elif row is not None:
        flash(_("Stripe still needs information before it can pay you."), "warning")
    return redirect(url_for("payouts.account"))


# --- Stripe webhooks ----------------------------------------------------------------------------------

@bp.route("/stripe/webhook", methods=["POST"])
@public
@csrf.exempt
def stripe_webhook():
    from flask import current_app

    payload = request.get_data()  # the raw body: the signature covers these exact bytes
    secrets = [current_app.config.get("STRIPE_WEBHOOK_SECRET"), current_app.config.get("STRIPE_CONNECT_WEBHOOK_SECRET")]
    try:
        event = webhooks.verify(payload, request.headers.get("Stripe-Signature"), secrets)
    except webhooks.BadSignature as exc:
        log.warning("stripe webhook refused: %s", exc)
        return jsonify({"error": {"code": "bad_signature", "message": "signature verification failed"}}), 400
    try:
        processed, outcome = webhooks.process(event)
        db.session.commit()
    except sa.exc.IntegrityError:
        db.session.rollback()  # the same event, processed a moment ago by another worker
        processed, outcome = False, "duplicate"
    return jsonify({"received": True, "processed": processed, "outcome": outcome})
