"""Attribution of activations to agencies (SPEC §5.2) and the exceptions queue.

`attribute_pending()` gives every activation without an attribution one: a sale of an agency, a
referral, a direct sale, or an exception. Exceptions other than conflicts are re-checked each time
(so fixing the data — adding a rule, a product — clears them); a conflict waits for a channel
manager of one of the two agencies' regions (`resolve_conflict`, audited). Works in chunks with
dictionaries loaded once: never a query per activation.
"""

from __future__ import annotations

import bisect
import logging
from collections import defaultdict
from datetime import date

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from catalog.models import Customer, Product, Tier
from commissions.i18n import gettext as _
from commissions.models import Attribution, AttributionKind, CommissionRule, ExceptionReason
from portal.core.audit import record
from portal.core.db import db, utcnow
from portal.core.models import Role
from portal.core.time import shanghai_date
from portal.partners.models import Agency, AgencyStatus, AgencyStatusChange

try:  # the leads feature
    from portal.leads.models import Lead, LeadKind, LeadStatus
except ImportError:  # pragma: no cover - leads not installed
    Lead = None

CHUNK = 10_000
log = logging.getLogger(__name__)

REASON_LABELS = {
    ExceptionReason.CONFLICT: _l("Attribution conflict: agent code and another agency's protected lead"),
    ExceptionReason.UNKNOWN_AGENT: _l("Unknown agent code"),
    ExceptionReason.INACTIVE_AGENT: _l("Agency not active on the activation date"),
    ExceptionReason.UNKNOWN_PRODUCT: _l("Unknown product"),
    ExceptionReason.NO_RULE: _l("No commission rule in force on the activation date"),
    ExceptionReason.AGENT_ON_HIGH: _l("Agent code on a high-tier product"),
}
RECHECKED = [r.value for r in ExceptionReason if r != ExceptionReason.CONFLICT]


class AttributionError(Exception):
    def __init__(self, message, code: str = "invalid"):
        super().__init__(str(message))
        self.message = str(message)
        self.code = code


def _activations():
    from commissions.ingest.models import Activation

    return Activation


def _tier_sql():
    high = sa.or_(Product.module_complexity >= 4, Product.market_exclusivity >= 4, Product.training_requirement >= 4)
    return sa.func.coalesce(Product.tier_override, sa.case((high, "high"), else_="low"))


class _Context:
    """Everything attribution looks up, loaded once."""

    def __init__(self):
        self.products = {code: (pid, tier) for code, pid, tier in db.session.execute(
            sa.select(Product.code, Product.id, _tier_sql()))}
        self.agencies = {}
        for code, aid, status, approved_on, changed_at in db.session.execute(
                sa.select(Agency.code, Agency.id, Agency.status, Agency.approved_on, Agency.status_changed_at)
                .where(Agency.code.is_not(None))):
            self.agencies[code] = (aid, status, approved_on, shanghai_date(changed_at) if changed_at else None)
        # the status history of every agency, in one query: agency id → [(from, status)], the
        # last change of a day winning
        self.status_history: dict[int, list[tuple[date, AgencyStatus]]] = defaultdict(list)
        for aid, day, status in db.session.execute(
                sa.select(AgencyStatusChange.agency_id, AgencyStatusChange.effective_from, AgencyStatusChange.status)
                .order_by(AgencyStatusChange.agency_id, AgencyStatusChange.effective_from, AgencyStatusChange.id)):
            history = self.status_history[aid]
            if history and history[-1][0] == day:
                history[-1] = (day, AgencyStatus(status))
            else:
                history.append((day, AgencyStatus(status)))
        for aid, status, _approved_on, changed_on in self.agencies.values():
            history = self.status_history.get(aid)
            if history and history[-1][1] != status:
                # the status was changed by something that keeps no history (an older import):
                # it holds from the day of that change
                day = changed_on or history[-1][0]
                if day <= history[-1][0]:
                    history[-1] = (history[-1][0], status)
                else:
                    history.append((day, status))
        self.rules = defaultdict(list)
        for pid, start, end in db.session.execute(
                sa.select(CommissionRule.product_id, CommissionRule.effective_from, CommissionRule.effective_to)):
            self.rules[pid].append((start, end))
        self.customers = dict(db.session.execute(sa.select(Customer.uscc, Customer.id)).all())
        self.sale_leads = defaultdict(list)
        self.referral_leads = defaultdict(list)
        if Lead is not None:
            rows = db.session.execute(sa.select(
                Lead.id, Lead.kind, Lead.status, Lead.customer_id, Lead.product_id, Lead.agency_id,
                Lead.approved_at, Lead.protected_until, Lead.routed_at, Lead.order_id)
                .where(Lead.status.in_([LeadStatus.APPROVED, LeadStatus.WON, LeadStatus.EXPIRED,
                                        LeadStatus.ROUTED, LeadStatus.ACCEPTED]))).all()
            for r in rows:
                if r.kind == LeadKind.SALE and r.approved_at and r.protected_until:
                    self.sale_leads[(r.customer_id, r.product_id)].append(
                        (r.id, r.agency_id, shanghai_date(r.approved_at), r.protected_until, r.status, r.order_id))
                elif r.kind == LeadKind.REFERRAL and r.routed_at:
                    self.referral_leads[(r.customer_id, r.product_id)].append(
                        (r.id, r.agency_id, shanghai_date(r.routed_at), r.status, r.order_id))

    def has_rule(self, product_id: int, day: date) -> bool:
        return any(start <= day and (end is None or day <= end) for start, end in self.rules.get(product_id, ()))

    def agency_active_on(self, entry, day: date) -> bool:
        """Was the agency `active` on `day`? From its status history: the entry with the latest
        `effective_from` not after `day`. Before its first entry (and for agencies without any
        history: created before the history existed, imported, or made in tests) from its
        approval date and current status."""
        aid, status, approved_on, changed_on = entry
        history = self.status_history.get(aid)
        if history:
            i = bisect.bisect_right(history, day, key=lambda h: h[0]) - 1
            if i >= 0:
                return history[i][1] == AgencyStatus.ACTIVE
            if history[0][1] in (AgencyStatus.PENDING, AgencyStatus.REJECTED):
                return False  # not yet an agency before its application
            return approved_on is None or approved_on <= day
        if approved_on is not None and approved_on > day:
            return False  # approved after the sale (no approval date: imported, active since ever)
        if status == AgencyStatus.ACTIVE:
            return True
        # suspended/terminated since `changed_on`: it was active before that day
        return status in (AgencyStatus.SUSPENDED, AgencyStatus.TERMINATED) and changed_on is not None \
            and changed_on > day

    def protected_leads(self, customer_id, product_id, day: date, order_id: str):
        found = []
        leads = self.sale_leads.get((customer_id, product_id), ())
        for lead_id, agency_id, approved_on, until, status, lead_order in leads:
            if status == LeadStatus.WON and lead_order not in (None, order_id):
                continue
            if approved_on <= day <= until:
                found.append((lead_id, agency_id))
        return found

    def referral(self, customer_id, product_id, day: date, order_id: str):
        for lead_id, agency_id, routed_on, status, lead_order in sorted(
                self.referral_leads.get((customer_id, product_id), ()), key=lambda x: x[2]):
            if status == LeadStatus.WON and lead_order not in (None, order_id):
                continue
            if routed_on < day:
                return lead_id, agency_id
        return None


def decide(ctx: _Context, order_id, uscc, product_code, agent_code, day: date) -> dict:
    """The attribution of one activation (a dict of Attribution columns)."""
    agent_code = (agent_code or "").strip() or None
    result = {"kind": AttributionKind.DIRECT, "reason": None, "agency_id": None, "lead_id": None,
              "candidate_agency_id": None, "product_id": None}
    product = ctx.products.get(product_code)
    if product is None:
        return result | {"kind": AttributionKind.EXCEPTION, "reason": ExceptionReason.UNKNOWN_PRODUCT}
    product_id, tier = product
    result["product_id"] = product_id
    customer_id = ctx.customers.get(uscc)
    agency_entry = ctx.agencies.get(agent_code) if agent_code else None
    if str(tier) == Tier.HIGH.value:
        if agent_code:
            return result | {"kind": AttributionKind.EXCEPTION, "reason": ExceptionReason.AGENT_ON_HIGH,
                             "agency_id": agency_entry[0] if agency_entry else None}
        ref = ctx.referral(customer_id, product_id, day, order_id) if customer_id else None
        if ref is None:
            return result
        kind = AttributionKind.REFERRAL
        result |= {"lead_id": ref[0], "agency_id": ref[1]}
    else:
        leads = ctx.protected_leads(customer_id, product_id, day, order_id) if customer_id else []
        if agent_code:
            if agency_entry is None:
                return result | {"kind": AttributionKind.EXCEPTION, "reason": ExceptionReason.UNKNOWN_AGENT}
            if not ctx.agency_active_on(agency_entry, day):
                return result | {"kind": AttributionKind.EXCEPTION, "reason": ExceptionReason.INACTIVE_AGENT,
                                 "agency_id": agency_entry[0]}
            other = [lead for lead in leads if lead[1] != agency_entry[0]]
            if other:
                return result | {"kind": AttributionKind.EXCEPTION, "reason": ExceptionReason.CONFLICT,
                                 "agency_id": agency_entry[0], "candidate_agency_id": other[0][1],
                                 "lead_id": other[0][0]}
            own = [lead for lead in leads if lead[1] == agency_entry[0]]
            result |= {"agency_id": agency_entry[0], "lead_id": own[0][0] if own else None}
        elif len(leads) == 1:
            result |= {"agency_id": leads[0][1], "lead_id": leads[0][0]}
        else:
            return result
        kind = AttributionKind.SALE
    if not ctx.has_rule(product_id, day):
        return result | {"kind": AttributionKind.EXCEPTION, "reason": ExceptionReason.NO_RULE}
    return result | {"kind": kind}


def attribute_pending(progress=None) -> dict:
    """Attribute every activation that has no attribution (and re-check open exceptions other
    than conflicts). Returns counts per kind."""
    Activation = _activations()
    rechecked = sorted(db.session.scalars(
        sa.delete(Attribution).where(Attribution.kind == AttributionKind.EXCEPTION, Attribution.reason.in_(RECHECKED),
                                     Attribution.resolved_at.is_(None)).returning(Attribution.activation_id)).all())
    # An activation has at most one attribution (unique, a foreign key): when the activations
    # outnumber the attributions by exactly the exceptions just deleted, those are all that is
    # pending (two counts in one statement, one snapshot — a run with no new activation needs no
    # anti-join over the whole table) …
    activations, attributions = db.session.execute(sa.select(
        sa.select(sa.func.count()).select_from(Activation).scalar_subquery(),
        sa.select(sa.func.count()).select_from(Attribution).scalar_subquery())).one()
    if activations - attributions == len(rechecked):
        pending_ids = rechecked
    else:  # … otherwise one anti-join finds them (a hash anti-join, not a probe per row)
        pending_ids = db.session.scalars(
            sa.select(Activation.id).where(~sa.exists().where(Attribution.activation_id == Activation.id))
            .order_by(Activation.id)).all()
    columns = (Activation.id, Activation.order_id, Activation.uscc, Activation.product_code, Activation.agent_code,
               Activation.activation_date)
    counts: dict[str, int] = defaultdict(int)
    ctx = _Context() if pending_ids else None
    won: list[tuple[int, str]] = []
    # … then their facts in chunks, decided in Python against dictionaries loaded once
    for start in range(0, len(pending_ids), CHUNK):
        chunk = pending_ids[start:start + CHUNK]
        rows = db.session.execute(sa.select(*columns).where(Activation.id.in_(chunk)).order_by(Activation.id)).all()
        batch = []
        now = utcnow()
        for r in rows:
            decided = decide(ctx, r.order_id, r.uscc, r.product_code, r.agent_code, r.activation_date)
            counts[decided["kind"].value] += 1
            if decided["lead_id"] and decided["kind"] in (AttributionKind.SALE, AttributionKind.REFERRAL):
                won.append((decided["lead_id"], r.order_id))
            batch.append({"activation_id": r.id, "order_id": r.order_id, "created_at": now,
                          **{k: (v.value if hasattr(v, "value") else v) for k, v in decided.items()}})
        _bulk_insert(batch)
        if progress is not None:
            progress(min(99, int(100 * (start + len(chunk)) / len(pending_ids))))
    seen = {lead_id for lead_id, _order in won}
    won += [pair for pair in _winnable_attributed_leads() if pair[0] not in seen]
    _mark_leads_won(won)
    return dict(counts)


COLUMNS = ["activation_id", "order_id", "created_at", "kind", "reason", "agency_id", "lead_id",
           "candidate_agency_id", "product_id"]


def _bulk_insert(batch: list[dict]) -> None:
    """COPY on PostgreSQL (inside the session's transaction), executemany elsewhere."""
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        raw = connection.connection.driver_connection
        with raw.cursor() as cur, cur.copy(
                f"COPY commission_attributions ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for row in batch:
                copy.write_row([row[c] for c in COLUMNS])
        return
    db.session.execute(sa.insert(Attribution.__table__), batch)


def may_become_won(lead) -> bool:
    """SPEC §4: a sale lead goes `approved` → `won`; a referral `routed` → `accepted` → `won`. An
    expired sale lead (still protecting the sale it was approved for) and a referral its account
    manager has not accepted yet are not marked won: the attribution stands (the agency earns),
    the lead keeps its state; a referral accepted later is marked won at the next attribution."""
    if Lead is None or lead is None:
        return False
    if lead.kind == LeadKind.REFERRAL:
        return lead.status == LeadStatus.ACCEPTED
    return lead.status == LeadStatus.APPROVED


def _winnable_attributed_leads() -> list[tuple[int, str]]:
    """(lead, order) of attributed referrals whose lead may now become won (accepted by its
    account manager after the sale was attributed) — one query."""
    if Lead is None:
        return []
    return [(lead_id, order_id) for lead_id, order_id in db.session.execute(
        sa.select(Attribution.lead_id, Attribution.order_id).join(Lead, Lead.id == Attribution.lead_id)
        .where(Attribution.kind == AttributionKind.REFERRAL, Lead.kind == LeadKind.REFERRAL,
               Lead.status == LeadStatus.ACCEPTED)
        .order_by(Attribution.id))]


def _mark_leads_won(pairs) -> None:
    if Lead is None or not pairs:
        return
    try:
        from portal.leads.operations import LeadError, mark_won
    except ImportError:  # pragma: no cover
        return
    leads = {lead.id: lead for lead in db.session.scalars(sa.select(Lead).where(Lead.id.in_([p[0] for p in pairs])))}
    for lead_id, order_id in pairs:
        lead = leads.get(lead_id)
        if lead is None or lead.status == LeadStatus.WON or not may_become_won(lead):
            continue
        try:
            with db.session.begin_nested():
                mark_won(lead, order_id)
        except LeadError:
            continue
        except sa.exc.DBAPIError as exc:  # the leads feature failed: the attribution stands
            log.warning("lead %s not marked won for order %s: %s", lead_id, order_id, exc.orig)


def exceptions_query(user):
    """Open exceptions the user may see: finance and admins all; channel managers the conflicts
    of agencies in their regions."""
    stmt = sa.select(Attribution).where(Attribution.kind == AttributionKind.EXCEPTION)
    if user.role == Role.CHANNEL_MANAGER:
        regions = list(user.region_ids)
        in_region = sa.select(Agency.id).where(Agency.region_id.in_(regions))
        stmt = stmt.where(Attribution.reason == ExceptionReason.CONFLICT,
                          sa.or_(Attribution.agency_id.in_(in_region), Attribution.candidate_agency_id.in_(in_region)))
    return stmt.order_by(Attribution.id)


def may_resolve(user, attribution: Attribution) -> bool:
    if attribution.kind != AttributionKind.EXCEPTION or attribution.reason != ExceptionReason.CONFLICT:
        return False
    if user.role == Role.ADMIN:
        return True
    if user.role != Role.CHANNEL_MANAGER:
        return False
    regions = set(user.region_ids)
    return any(a is not None and a.region_id in regions
               for a in (attribution.agency, attribution.candidate_agency))


def resolve_conflict(attribution: Attribution, agency_id: int, user) -> Attribution:
    """A channel manager assigns a conflicting sale to one of the two agencies (audited)."""
    if not may_resolve(user, attribution):
        raise AttributionError(_("Only a channel manager of one of the agencies' regions may resolve this."),
                               code="forbidden")
    if agency_id not in (attribution.agency_id, attribution.candidate_agency_id):
        raise AttributionError(_("Choose one of the two agencies."), code="invalid")
    before = {"kind": attribution.kind.value, "reason": attribution.reason.value,
              "agency_id": attribution.agency_id, "candidate_agency_id": attribution.candidate_agency_id}
    lead_id = attribution.lead_id if agency_id == attribution.candidate_agency_id else None
    attribution.kind = AttributionKind.SALE
    attribution.agency_id = agency_id
    attribution.lead_id = lead_id
    attribution.resolved_by_id = user.id
    attribution.resolved_at = utcnow()
    db.session.flush()
    record("commissions.attribution_resolved", attribution, before=before,
           after={"kind": "sale", "agency_id": agency_id})
    if lead_id:
        _mark_leads_won([(lead_id, attribution.order_id)])
    return attribution


def exception_counts() -> dict[str, int]:
    return {str(reason): n for reason, n in db.session.execute(
        sa.select(Attribution.reason, sa.func.count()).where(Attribution.kind == AttributionKind.EXCEPTION)
        .group_by(Attribution.reason)).all()}


