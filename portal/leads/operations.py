"""The verbs of lead registration (SPEC §4). Each flushes, records history and audit, notifies,
and never commits: the caller (view, API, CLI) commits once.

At most one live lead per customer and product is guaranteed by the partial unique index
`uq_leads_live_customer_product`; `register_leads` inserts with `ON CONFLICT DO NOTHING` against
that index and, when it refuses the row (a concurrent registration won), answers exactly as if it
had seen that lead first. New customers are inserted the same way against the unique USCC.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

import sqlalchemy as sa
from flask import current_app, has_request_context
from flask_babel import force_locale, gettext
from sqlalchemy import orm as so
from sqlalchemy.exc import IntegrityError

from catalog.models import Customer, CustomerTier, Product, ProductStatus
from catalog.rules import Route, route_for
from portal.core.audit import record
from portal.core.context import current_actor
from portal.core.db import db, utcnow
from portal.core.models import AGENCY_ROLES, Role, User, user_regions
from portal.core.money import MoneyError, to_decimal, yuan_to_fen
from portal.core.notify import notify
from portal.core.time import today_shanghai
from portal.core.validators import is_valid_mobile, normalise_mobile, normalise_uscc, uscc_problem
from portal.leads import rules
from portal.leads.models import (  # _LIVE_SQL: the predicate of uq_leads_live_customer_product
    _LIVE_SQL as LIVE_LEAD_INDEX_WHERE,
)
from portal.leads.models import (
    LIVE_STATUSES,
    AccountManagerCursor,
    ExtensionDecision,
    Lead,
    LeadEvent,
    LeadKind,
    LeadStatus,
)
from portal.partners.models import Agency
from portal.partners.rules import agency_may_register_leads

DEFAULT_PROTECTION_DAYS = 90
DEFAULT_EXTENSION_DAYS = 30
MAX_PRODUCTS_PER_REGISTRATION = 20
AUDIT_FIELDS = ["status", "kind", "protected_until", "account_manager_id", "reason", "extension_decision"]


class LeadError(Exception):
    """A request that the rules refuse. `code` is stable (API error code), `message` translated."""

    code = "invalid"

    def __init__(self, message: str, code: str | None = None, field: str | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.field = field


class AgencyNotActive(LeadError):
    code = "agency_inactive"


@dataclass
class Rejection:
    """One product of a registration that was refused."""

    product: str
    code: str  # "conflict" or "not_allowed"
    message: str
    protected_until: date | None = None
    link: str | None = None


@dataclass
class RegistrationResult:
    created: list[Lead] = field(default_factory=list)
    existing: list[Lead] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)

    @property
    def leads(self) -> list[Lead]:
        return self.created + self.existing

    @property
    def all_conflicts(self) -> bool:
        return not self.leads and bool(self.rejected) and all(r.code == "conflict" for r in self.rejected)


def _(text: str, **params) -> str:
    """Translated text in the request's language; English outside a request (CLI, jobs)."""
    if has_request_context():
        return gettext(text, **params)
    with force_locale("en"):
        return gettext(text, **params)


# --- configuration ----------------------------------------------------------------------------


def protection_days() -> int:
    return int(current_app.config.get("LEAD_PROTECTION_DAYS", DEFAULT_PROTECTION_DAYS))


def extension_days() -> int:
    return int(current_app.config.get("LEAD_EXTENSION_DAYS", DEFAULT_EXTENSION_DAYS))


def auto_approve_grades() -> set[str]:
    return {str(g) for g in current_app.config.get("LEAD_AUTO_APPROVE_GRADES", ()) or ()}


# --- helpers ----------------------------------------------------------------------------------


def _link(lead: Lead) -> str:
    return f"/leads/{lead.id}"


def _params(lead: Lead, **extra) -> dict:
    return {"id": lead.id, "customer": lead.customer.name, "product": lead.product.code, **extra}


def _event(lead: Lead, action: str, before: str | None, note: str | None = None) -> None:
    actor = current_actor()
    db.session.add(
        LeadEvent(
            lead_id=lead.id,
            actor_id=actor.user_id,
            actor_label=actor.label,
            action=action,
            from_status=before,
            to_status=lead.status.value,
            note=note,
        )
    )


def _change(lead: Lead, action: str, note: str | None = None, **changes) -> None:
    """Apply `changes` to the lead, flush, and write its history event and audit record."""
    before = {f: getattr(lead, f) for f in AUDIT_FIELDS}
    before_status = lead.status.value if lead.status else None
    for name, value in changes.items():
        setattr(lead, name, value)
    db.session.flush()
    _event(lead, action, before_status, note)
    after = {f: getattr(lead, f) for f in AUDIT_FIELDS}
    record(
        f"lead.{action}",
        lead,
        before={k: v for k, v in before.items() if after[k] != v} or None,
        after={k: v for k, v in after.items() if before[k] != v} or {"status": lead.status},
    )


def _locked(lead: Lead) -> Lead:
    """Re-read the lead with a row lock, so that two decisions cannot interleave."""
    return db.session.execute(
        sa.select(Lead)
        .where(Lead.id == lead.id)
        .with_for_update(of=Lead)
        .execution_options(populate_existing=True)
    ).scalar_one()


def _require(lead: Lead, *statuses: LeadStatus) -> None:
    if lead.status not in statuses:
        raise LeadError(
            _("This lead is %(status)s; that is not possible now.", status=lead.status.value),
            code="wrong_state",
        )


def channel_managers_for(region_id: int | None) -> list[User]:
    if region_id is None:
        return []
    return list(
        db.session.scalars(
            sa.select(User)
            .options(so.lazyload(User.regions))  # recipients: their regions are not needed
            .join(user_regions, user_regions.c.user_id == User.id)
            .where(
                User.role == Role.CHANNEL_MANAGER,
                User.is_enabled.is_(True),
                user_regions.c.region_id == region_id,
            )
            .order_by(User.id)
        )
    )


def account_manager_pool(region_id: int | None) -> list[User]:
    if region_id is None:
        return []
    return list(
        db.session.scalars(
            sa.select(User)
            .options(so.lazyload(User.regions))
            .join(user_regions, user_regions.c.user_id == User.id)
            .where(
                User.role == Role.ACCOUNT_MANAGER,
                User.is_enabled.is_(True),
                user_regions.c.region_id == region_id,
            )
            .order_by(User.id)
        )
    )


def agency_recipients(lead: Lead) -> list[User]:
    """Who at the agency hears about a lead: the user who registered it, else the owners."""
    creator = lead.created_by
    if creator is not None and creator.is_enabled and creator.agency_id == lead.agency_id:
        return [creator]
    return list(
        db.session.scalars(
            sa.select(User).where(
                User.agency_id == lead.agency_id, User.role == Role.AGENCY_OWNER, User.is_enabled.is_(True)
            )
        )
    )


def _notify_agency(lead: Lead, kind: str, **params) -> None:
    for user in agency_recipients(lead):
        notify(user, kind, _params(lead, **params), _link(lead))


def _notify_channel(lead: Lead, kind: str, **params) -> None:
    for user in channel_managers_for(lead.agency.region_id):
        notify(user, kind, _params(lead, **params), _link(lead))


def next_account_manager(region_id: int | None) -> User | None:
    """The next account manager of the region's pool, round-robin (the cursor row is locked)."""
    pool = account_manager_pool(region_id)
    if not pool:
        return None
    cursor = db.session.execute(
        sa.select(AccountManagerCursor).where(AccountManagerCursor.region_id == region_id).with_for_update()
    ).scalar_one_or_none()
    if cursor is None:
        try:
            with db.session.begin_nested():
                cursor = AccountManagerCursor(region_id=region_id, last_user_id=None)
                db.session.add(cursor)
        except IntegrityError:
            cursor = db.session.execute(
                sa.select(AccountManagerCursor)
                .where(AccountManagerCursor.region_id == region_id)
                .with_for_update()
            ).scalar_one()
    chosen = next(
        (u for u in pool if cursor.last_user_id is not None and u.id > cursor.last_user_id), pool[0]
    )
    cursor.last_user_id = chosen.id
    db.session.flush()
    return chosen


def owning_account_manager(customer: Customer, region_id: int | None) -> User | None:
    """The customer's own account manager (named accounts), else the region pool's next one."""
    if customer.account_manager_id is not None:
        owner = db.session.get(User, customer.account_manager_id)
        if owner is not None and owner.is_enabled and owner.role == Role.ACCOUNT_MANAGER:
            return owner
    return next_account_manager(region_id)


def is_referral(customer: Customer, product: Product) -> bool:
    """SPEC §4 rule 2: `high` products and A/B customers are referrals (account-manager business).
    The catalog's rule (`catalog.rules.route_for`)."""
    return route_for(customer, product) == Route.REFERRAL


def live_lead(customer_id: int, product_id: int) -> Lead | None:
    return db.session.scalar(
        sa.select(Lead).where(
            Lead.customer_id == customer_id, Lead.product_id == product_id, Lead.status.in_(LIVE_STATUSES)
        )
    )


def conflict_rejection(product: Product, holder: Lead) -> Rejection:
    """The answer to an agency whose lead conflicts with `holder`: never names the other agency."""
    if holder.status == LeadStatus.APPROVED and holder.protected_until is not None:
        message = _(
            "Already registered by another partner; protected until %(date)s.",
            date=holder.protected_until.isoformat(),
        )
        until = holder.protected_until
    else:
        message = _("Already registered by another partner; under review.")
        until = None
    return Rejection(product=product.code, code="conflict", message=message, protected_until=until)


def _insert_unless_taken(model, values: dict, conflict_columns: list, conflict_where=None):
    """INSERT one row, or nothing when the unique index on `conflict_columns` (partial:
    `conflict_where`) already holds one — a concurrent transaction's row is waited for, as with a
    plain INSERT. Returns the new persistent object, or None when the index refused it.
    One statement: neither a SAVEPOINT nor a read-back. Rows pending in the session (audit
    records, history) are not flushed first: they go with the next flush (one INSERT per table on PostgreSQL);
    the rows of `model` this module writes come only through here, never pending."""
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - the portal runs on PostgreSQL and SQLite
        raise NotImplementedError(dialect)
    stmt = (
        insert(model)
        .values(**values)
        .on_conflict_do_nothing(index_elements=conflict_columns, index_where=conflict_where)
        .returning(model)
    )
    with db.session.no_autoflush:
        return db.session.scalars(stmt).first()


def find_customer(uscc: str) -> Customer | None:
    return db.session.scalar(sa.select(Customer).where(Customer.uscc == normalise_uscc(uscc)))


def _customer_for(uscc: str, name: str, agency: Agency) -> tuple[Customer, bool]:
    """The customer with this USCC; a new one (tier D, the agency's region) when unknown.
    The flag is True when this call created the customer (no other lead can refer to it yet)."""
    customer = find_customer(uscc)
    if customer is not None:
        return customer, False
    name = (name or "").strip()
    if not name:
        raise LeadError(_("Enter the customer's name: this USCC is not known yet."), field="customer_name")
    customer = _insert_unless_taken(
        Customer,
        {"uscc": uscc, "name": name[:200], "industry": "other", "region_id": agency.region_id,
         "tier": CustomerTier.D},
        [Customer.uscc],
    )
    if customer is None:  # registered by a concurrent request a moment ago
        customer = find_customer(uscc)
        if customer is None:
            raise RuntimeError(f"customer {uscc} refused by its unique index but not found")
        return customer, False
    record(
        "customer.create_from_lead",
        customer,
        after={"uscc": uscc, "name": customer.name, "tier": "D", "region_id": agency.region_id},
    )
    return customer, True


def products_for_codes(codes: Iterable[str]) -> list[Product]:
    """Active products for the given codes, in the order given, without duplicates."""
    wanted: list[str] = []
    for code in codes:
        code = (code or "").strip().upper()
        if code and code not in wanted:
            wanted.append(code)
    if not wanted:
        raise LeadError(_("Choose at least one product."), field="products")
    if len(wanted) > MAX_PRODUCTS_PER_REGISTRATION:
        raise LeadError(
            _("Register at most %(n)s products at once.", n=MAX_PRODUCTS_PER_REGISTRATION), field="products"
        )
    found = {p.code: p for p in db.session.scalars(sa.select(Product).where(Product.code.in_(wanted)))}
    unknown = [c for c in wanted if c not in found or found[c].status != ProductStatus.ACTIVE]
    if unknown:
        raise LeadError(
            _("Unknown or retired product: %(codes)s.", codes=", ".join(unknown)),
            code="unknown_product",
            field="products",
        )
    return [found[c] for c in wanted]


def _parse_money(value) -> int:
    if value is None or value == "":
        return 0
    try:
        amount = to_decimal(value)
    except MoneyError as exc:
        raise LeadError(
            _("Enter the expected monthly revenue as an amount in yuan."), field="expected_monthly_revenue"
        ) from exc
    if amount < 0 or amount > Decimal("1000000000"):
        raise LeadError(
            _("Enter the expected monthly revenue as an amount in yuan."), field="expected_monthly_revenue"
        )
    return yuan_to_fen(amount)


# --- registration (SPEC §4) -------------------------------------------------------------------


def register_leads(
    agency: Agency,
    user: User | None,
    customer_uscc: str,
    customer_name: str,
    contact_name: str,
    contact_mobile: str,
    product_codes: Iterable[str],
    expected_lines: int | None = 0,
    expected_monthly_revenue=0,
    notes: str = "",
    today: date | None = None,
) -> RegistrationResult:
    """Register one lead per product, applying SPEC §4 in order: (1) the agency is active;
    (2) `high` product or A/B customer → referral routed to an account manager; (3) another
    agency's live lead → rejected at once with its protection end date (or "under review"),
    the same agency's live lead → returned; (4) otherwise a sale lead awaiting approval
    (auto-approved for the configured grades). Raises LeadError for invalid input."""
    today = today or today_shanghai()
    if not agency_may_register_leads(agency):
        raise AgencyNotActive(_("Your agency is not active: it cannot register leads."))
    uscc = normalise_uscc(customer_uscc)
    if uscc_problem(uscc):
        raise LeadError(
            _("Enter a valid unified social credit code (18 characters, GB 32100-2015)."),
            field="customer_uscc",
        )
    contact_name = (contact_name or "").strip()
    if not contact_name:
        raise LeadError(_("Enter the contact person."), field="contact_name")
    if not is_valid_mobile(contact_mobile or ""):
        raise LeadError(
            _("Enter a mainland mobile number (11 digits starting with 13–19)."), field="contact_mobile"
        )
    try:
        lines = int(expected_lines or 0)
    except (TypeError, ValueError) as exc:
        raise LeadError(_("Enter the expected number of lines."), field="expected_lines") from exc
    if lines < 0 or lines > 1_000_000:
        raise LeadError(_("Enter the expected number of lines."), field="expected_lines")
    revenue_fen = _parse_money(expected_monthly_revenue)
    products = products_for_codes(product_codes)
    customer, new_customer = _customer_for(uscc, customer_name, agency)

    result = RegistrationResult()
    for product in products:
        referral = is_referral(customer, product)
        # A customer created by this transaction is invisible to every other one: it holds no lead.
        holder = None if new_customer else live_lead(customer.id, product.id)
        if holder is None:
            if not referral:
                # The rules read the agency's and the product's settings, which a registration does
                # not write: the rows added so far (a new customer's audit record) wait for the
                # next flush, and go with the lead's own records in one INSERT.
                with db.session.no_autoflush:
                    refusal = rules.sale_refusal(agency, product)
                if refusal:
                    message, link = refusal
                    result.rejected.append(
                        Rejection(product=product.code, code="not_allowed", message=str(message), link=link)
                    )
                    continue
            lead = _insert_unless_taken(
                Lead,
                {
                    "agency_id": agency.id,
                    "customer_id": customer.id,
                    "product_id": product.id,
                    "kind": LeadKind.REFERRAL if referral else LeadKind.SALE,
                    "status": LeadStatus.SUBMITTED,
                    "contact_name": contact_name[:64],
                    "contact_mobile": normalise_mobile(contact_mobile),
                    "expected_lines": lines,
                    "expected_monthly_revenue_fen": revenue_fen,
                    "notes": (notes or "").strip()[:4000],
                    "submitted_at": utcnow(),
                    "created_by_id": user.id if user else None,
                },
                [Lead.customer_id, Lead.product_id],
                LIVE_LEAD_INDEX_WHERE,
            )
            if lead is None:
                # A concurrent registration holds this customer and product now.
                holder = live_lead(customer.id, product.id)
                if holder is None:
                    raise RuntimeError(f"lead {customer.id}/{product.id} refused by the index, not found")
            else:
                _after_create(lead, customer, today)
                result.created.append(lead)
                continue
        if holder.agency_id == agency.id:
            result.existing.append(holder)
        else:
            result.rejected.append(conflict_rejection(product, holder))
    return result


def _after_create(lead: Lead, customer: Customer, today: date) -> None:
    _event(lead, "submit", None)
    record(
        "lead.submit",
        lead,
        after={
            "status": lead.status,
            "kind": lead.kind,
            "agency_id": lead.agency_id,
            "customer_id": lead.customer_id,
            "product_id": lead.product_id,
        },
    )
    if lead.kind == LeadKind.REFERRAL:
        manager = owning_account_manager(customer, customer.region_id or lead.agency.region_id)
        if manager is not None:
            route(lead, manager, auto=True)
        else:
            _notify_channel(lead, "lead.submitted")
        return
    grades = auto_approve_grades()
    grade = lead.agency.grade_on(today) if grades else None  # the grade history only when it matters
    if grade is not None and grade.value in grades:
        approve(lead, None, today=today, note="auto")
    else:
        _notify_channel(lead, "lead.submitted")


# --- decisions --------------------------------------------------------------------------------


def approve(lead: Lead, user: User | None, today: date | None = None, note: str | None = None) -> Lead:
    """Approve a submitted sale lead: protection runs from today for the configured number of days
    (`protected_until` = today + LEAD_PROTECTION_DAYS, inclusive)."""
    lead = _locked(lead)
    _require(lead, LeadStatus.SUBMITTED)
    if lead.kind != LeadKind.SALE:
        raise LeadError(_("A referral is routed to an account manager, not approved."), code="wrong_state")
    today = today or today_shanghai()
    until = today + timedelta(days=protection_days())
    _change(
        lead,
        "approve",
        note,
        status=LeadStatus.APPROVED,
        approved_at=utcnow(),
        protected_until=until,
        decided_by_id=user.id if user else None,
        decided_at=utcnow(),
    )
    _notify_agency(lead, "lead.approved", until=until.isoformat())
    return lead


def approve_many(
    leads: Iterable[Lead], user: User, today: date | None = None
) -> tuple[list[Lead], list[Lead]]:
    """Approve each submitted sale lead; returns (approved, skipped)."""
    done, skipped = [], []
    for lead in leads:
        try:
            done.append(approve(lead, user, today=today))
        except LeadError:
            skipped.append(lead)
    return done, skipped


def reject(lead: Lead, user: User, reason: str) -> Lead:
    reason = (reason or "").strip()
    if not reason:
        raise LeadError(_("Give a reason."), field="reason")
    lead = _locked(lead)
    _require(lead, LeadStatus.SUBMITTED)
    _change(
        lead,
        "reject",
        reason,
        status=LeadStatus.REJECTED,
        reason=reason,
        decided_by_id=user.id,
        decided_at=utcnow(),
        closed_at=utcnow(),
    )
    _notify_agency(lead, "lead.rejected", reason=reason)
    return lead


def route(lead: Lead, account_manager: User, user: User | None = None, auto: bool = False) -> Lead:
    """Send a referral to an account manager (also re-routes a routed referral). `auto`: by the
    routing rules at registration (the history says so)."""
    if (
        account_manager is None
        or account_manager.role != Role.ACCOUNT_MANAGER
        or not account_manager.is_enabled
    ):
        raise LeadError(_("Choose an account manager."), field="account_manager")
    lead = _locked(lead)
    if lead.kind != LeadKind.REFERRAL:
        raise LeadError(_("Only referrals are routed to account managers."), code="wrong_state")
    _require(lead, LeadStatus.SUBMITTED, LeadStatus.ROUTED)
    _change(
        lead,
        "route",
        "auto" if auto else account_manager.name,
        status=LeadStatus.ROUTED,
        account_manager_id=account_manager.id,
        routed_at=utcnow(),
        decided_by_id=user.id if user else lead.decided_by_id,
    )
    notify(account_manager, "lead.routed", _params(lead, agency=lead.agency.name), _link(lead))
    _notify_agency(lead, "lead.referral_routed")
    return lead


def accept(lead: Lead, user: User) -> Lead:
    lead = _locked(lead)
    _require(lead, LeadStatus.ROUTED)
    if user.role != Role.ADMIN and lead.account_manager_id != user.id:
        raise LeadError(
            _("Only the account manager this referral was routed to may accept it."), code="forbidden"
        )
    _change(lead, "accept", status=LeadStatus.ACCEPTED, accepted_at=utcnow())
    _notify_agency(lead, "lead.accepted")
    return lead


# SPEC §4: a sale lead goes approved → won, a referral routed → accepted → won — whether an
# attributed activation matched it (the commission engine calls with `user` None) or its account
# manager says so. (A routed referral's agency still earns its bounty: the engine attributes the sale
# and marks the lead won once it is accepted.)
WINNABLE = {LeadKind.SALE: (LeadStatus.APPROVED,), LeadKind.REFERRAL: (LeadStatus.ACCEPTED,)}


def mark_won(lead: Lead, order_id: str | None = None, user: User | None = None) -> Lead:
    """The lead became a sale: an attributed activation matched it (`user` None), or its account
    manager says so (a referral they accepted). Only an approved sale lead or an accepted referral
    can be won. Calling it again for a won lead changes nothing. Runs the ON_LEAD_WON hooks."""
    lead = _locked(lead)
    if lead.status == LeadStatus.WON:
        if order_id and not lead.order_id:
            lead.order_id = order_id
            db.session.flush()
        return lead
    _require(lead, *WINNABLE[lead.kind])
    _change(
        lead,
        "win",
        order_id,
        status=LeadStatus.WON,
        won_at=utcnow(),
        closed_at=utcnow(),
        order_id=order_id or lead.order_id,
    )
    _notify_agency(lead, "lead.won")
    rules.lead_won(lead)
    return lead


def mark_lost(lead: Lead, user: User | None, reason: str) -> Lead:
    reason = (reason or "").strip()
    if not reason:
        raise LeadError(_("Give a reason."), field="reason")
    lead = _locked(lead)
    # a routed referral may be declined (lost with a reason) without being accepted first, so that a
    # referral the account manager will not work does not hold the customer and product forever
    _require(lead, *((LeadStatus.APPROVED,) if lead.kind == LeadKind.SALE
                     else (LeadStatus.ROUTED, LeadStatus.ACCEPTED)))
    if user is not None and user.role == Role.ACCOUNT_MANAGER and lead.account_manager_id != user.id:
        raise LeadError(
            _("Only the account manager this referral was routed to may close it."), code="forbidden"
        )
    if user is not None and user.role in AGENCY_ROLES and lead.kind != LeadKind.SALE:
        raise LeadError(_("The account manager closes referrals."), code="forbidden")
    _change(lead, "lose", reason, status=LeadStatus.LOST, reason=reason, closed_at=utcnow())
    _notify_agency(lead, "lead.lost", reason=reason)
    return lead


def expire_protections(today: date | None = None) -> list[Lead]:
    """Expire every approved lead whose last protected day is before `today` (Asia/Shanghai).
    Idempotent: a second run on the same day finds nothing."""
    today = today or today_shanghai()
    due = db.session.scalars(
        sa.select(Lead)
        .where(Lead.status == LeadStatus.APPROVED, Lead.protected_until < today)
        .order_by(Lead.id)
        .with_for_update(of=Lead)
    ).all()
    for lead in due:
        _change(lead, "expire", status=LeadStatus.EXPIRED, closed_at=utcnow())
        _notify_agency(lead, "lead.expired", until=lead.protected_until.isoformat())
    return list(due)


def request_extension(lead: Lead, user: User, reason: str) -> Lead:
    """Ask once per lead for a longer protection."""
    reason = (reason or "").strip()
    if not reason:
        raise LeadError(_("Give a reason."), field="reason")
    lead = _locked(lead)
    _require(lead, LeadStatus.APPROVED)
    if lead.extension_requested_at is not None:
        raise LeadError(_("An extension was already requested for this lead."), code="already_requested")
    _change(lead, "request_extension", reason, extension_requested_at=utcnow(), extension_reason=reason)
    _notify_channel(lead, "lead.extension_requested")
    return lead


def decide_extension(lead: Lead, user: User, grant: bool, reason: str = "", days: int | None = None) -> Lead:
    lead = _locked(lead)
    _require(lead, LeadStatus.APPROVED)
    if not lead.extension_pending:
        raise LeadError(_("There is no extension request to decide."), code="wrong_state")
    reason = (reason or "").strip()
    if grant:
        days = days or extension_days()
        until = lead.protected_until + timedelta(days=days)
        _change(
            lead,
            "grant_extension",
            reason or None,
            extension_decision=ExtensionDecision.GRANTED,
            extension_decided_at=utcnow(),
            protected_until=until,
        )
        _notify_agency(lead, "lead.extension_granted", until=until.isoformat())
    else:
        if not reason:
            raise LeadError(_("Give a reason."), field="reason")
        _change(
            lead,
            "deny_extension",
            reason,
            extension_decision=ExtensionDecision.DENIED,
            extension_decided_at=utcnow(),
        )
        _notify_agency(lead, "lead.extension_denied", reason=reason)
    return lead
