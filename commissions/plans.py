"""The commission plan (SPEC §5.3): rule versions per product, grade multipliers with effective
dates, the minimum payout; `load_toml` reads exactly the format of the spec.

Invariants kept here (and in the database where it can): versions of one product never overlap;
an edit that would change a closed period is refused (the changed date range must lie after the
last closed period).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import sqlalchemy as sa

from catalog.models import Product
from commissions.calculation import (
    PlanValueError,
    mult_to_u,
    parse_multiplier,
    parse_rate,
    parse_yuan,
    rate_to_u,
    u_to_mult,
    u_to_rate,
    yuan_to_fen_exact,
)
from commissions.i18n import gettext as _
from commissions.models import CommissionRule, GradeMultiplier, PlanSettings
from commissions.periods import last_closed_day
from portal.core.audit import record
from portal.core.db import db
from portal.core.money import fen_to_yuan
from portal.partners.models import Grade

RULE_FIELDS = ["version", "effective_from", "effective_to", "one_off_per_unit_fen", "one_off_rate_u",
               "share_rate_u", "share_months", "clawback_days", "referral_bounty_fen"]
TERM_FIELDS = RULE_FIELDS[3:]
GRADES = [g.value for g in Grade]


class PlanError(Exception):
    def __init__(self, message, field: str | None = None):
        super().__init__(str(message))
        self.message = str(message)
        self.field = field


@dataclass
class RuleTerms:
    version: str
    effective_from: date
    effective_to: date | None
    one_off_per_unit: Decimal
    one_off_rate: Decimal
    share_rate: Decimal
    share_months: int
    clawback_days: int
    referral_bounty: Decimal

    def columns(self) -> dict:
        return {"version": self.version, "effective_from": self.effective_from, "effective_to": self.effective_to,
                "one_off_per_unit_fen": yuan_to_fen_exact(self.one_off_per_unit),
                "one_off_rate_u": rate_to_u(self.one_off_rate), "share_rate_u": rate_to_u(self.share_rate),
                "share_months": self.share_months, "clawback_days": self.clawback_days,
                "referral_bounty_fen": yuan_to_fen_exact(self.referral_bounty)}


def terms_of(rule: CommissionRule) -> dict:
    """Display values of a rule (Decimal yuan and rates)."""
    return {"version": rule.version, "effective_from": rule.effective_from, "effective_to": rule.effective_to,
            "one_off_per_unit": fen_to_yuan(rule.one_off_per_unit_fen), "one_off_rate": u_to_rate(rule.one_off_rate_u),
            "share_rate": u_to_rate(rule.share_rate_u), "share_months": rule.share_months,
            "clawback_days": rule.clawback_days, "referral_bounty": fen_to_yuan(rule.referral_bounty_fen)}


def _int(value, what: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise PlanValueError(f"{what}: not a whole number: {value!r}")
    try:
        number = int(value)
    except ValueError as exc:
        raise PlanValueError(f"{what}: not a whole number: {value!r}") from exc
    if number < minimum:
        raise PlanValueError(f"{what}: must be ≥ {minimum}")
    return number


def _day(value, what: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise PlanValueError(f"{what}: not a date (YYYY-MM-DD): {value!r}") from exc


def parse_terms(data: dict) -> RuleTerms:
    version = str(data.get("version") or "").strip()
    if not version or len(version) > 16:
        raise PlanValueError("version: 1 to 16 characters")
    start = _day(data.get("effective_from"), "effective_from")
    end = data.get("effective_to")
    end = _day(end, "effective_to") if end not in (None, "") else None
    if end is not None and end < start:
        raise PlanValueError("effective_to is before effective_from")
    return RuleTerms(
        version=version, effective_from=start, effective_to=end,
        one_off_per_unit=parse_yuan(data.get("one_off_per_unit", "0"), "one_off_per_unit"),
        one_off_rate=parse_rate(data.get("one_off_rate", "0"), "one_off_rate"),
        share_rate=parse_rate(data.get("share_rate", "0"), "share_rate"),
        share_months=_int(data.get("share_months", 0), "share_months"),
        clawback_days=_int(data.get("clawback_days", 0), "clawback_days"),
        referral_bounty=parse_yuan(data.get("referral_bounty", "0"), "referral_bounty"),
    )


# --- invariants -------------------------------------------------------------------------------------

def _overlaps(a_from: date, a_to: date | None, b_from: date, b_to: date | None) -> bool:
    return (b_to is None or a_from <= b_to) and (a_to is None or b_from <= a_to)


def overlapping(product_id: int, start: date, end: date | None, exclude_id: int | None = None):
    for other in db.session.scalars(sa.select(CommissionRule).where(CommissionRule.product_id == product_id)):
        if other.id != exclude_id and _overlaps(start, end, other.effective_from, other.effective_to):
            return other
    return None


def _changed_from(old: dict | None, new: dict | None) -> date | None:
    """The earliest activation date whose terms an edit changes (None: nothing changes)."""
    if old is None and new is None:
        return None
    if old is None or new is None:
        return (old or new)["effective_from"]
    if any(old[f] != new[f] for f in TERM_FIELDS) or old["version"] != new["version"]:
        return min(old["effective_from"], new["effective_from"])
    starts = []
    if old["effective_from"] != new["effective_from"]:
        starts.append(min(old["effective_from"], new["effective_from"]))
    if old["effective_to"] != new["effective_to"]:
        ends = [d for d in (old["effective_to"], new["effective_to"]) if d is not None]
        starts.append(min(ends) + timedelta(days=1))
    return min(starts) if starts else None


def _refuse_closed(changed_from: date | None) -> None:
    closed_until = last_closed_day()
    if changed_from is not None and closed_until is not None and changed_from <= closed_until:
        raise PlanError(_("This change would alter commissions of a closed period (closed until %(day)s).",
                          day=closed_until.isoformat()))


def save_rule(product: Product, terms: RuleTerms, rule: CommissionRule | None = None) -> CommissionRule:
    """Create or update a rule version (audited)."""
    new = terms.columns()
    clash = overlapping(product.id, terms.effective_from, terms.effective_to, exclude_id=rule.id if rule else None)
    if clash is not None:
        raise PlanError(_("Version %(version)s of %(product)s already covers part of these dates.",
                          version=clash.version, product=product.code), field="effective_from")
    same_version = db.session.scalar(sa.select(CommissionRule).where(
        CommissionRule.product_id == product.id, CommissionRule.version == terms.version))
    if same_version is not None and (rule is None or same_version.id != rule.id):
        raise PlanError(_("%(product)s already has a version %(version)s.", product=product.code,
                          version=terms.version), field="version")
    old = {f: getattr(rule, f) for f in RULE_FIELDS} if rule is not None else None
    _refuse_closed(_changed_from(old, new))
    if rule is None:
        rule = CommissionRule(product_id=product.id, **new)
        db.session.add(rule)
    else:
        for field, value in new.items():
            setattr(rule, field, value)
    db.session.flush()
    record("commissions.rule_saved", rule, before=old, after=new | {"product": product.code})
    return rule


def delete_rule(rule: CommissionRule) -> None:
    old = {f: getattr(rule, f) for f in RULE_FIELDS}
    _refuse_closed(_changed_from(old, None))
    record("commissions.rule_deleted", rule, before=old)
    db.session.delete(rule)
    db.session.flush()


def save_multiplier(grade: str, effective_from: date, multiplier: Decimal) -> GradeMultiplier:
    if grade not in GRADES:
        raise PlanError(_("Unknown grade."), field="grade")
    row = db.session.scalar(sa.select(GradeMultiplier).where(GradeMultiplier.grade == grade,
                                                             GradeMultiplier.effective_from == effective_from))
    units = mult_to_u(multiplier)
    if row is not None and row.multiplier_u == units:
        return row
    _refuse_closed(effective_from)
    before = {"multiplier": str(u_to_mult(row.multiplier_u))} if row else None
    if row is None:
        row = GradeMultiplier(grade=grade, effective_from=effective_from, multiplier_u=units)
        db.session.add(row)
    else:
        row.multiplier_u = units
    db.session.flush()
    record("commissions.multiplier_saved", row, before=before,
           after={"grade": grade, "effective_from": effective_from, "multiplier": str(multiplier)})
    return row


def delete_multiplier(row: GradeMultiplier) -> None:
    _refuse_closed(row.effective_from)
    record("commissions.multiplier_deleted", row, before={"grade": row.grade, "effective_from": row.effective_from,
                                                          "multiplier": str(u_to_mult(row.multiplier_u))})
    db.session.delete(row)
    db.session.flush()


def settings() -> PlanSettings:
    row = db.session.get(PlanSettings, 1)
    if row is None:
        row = PlanSettings(id=1, currency="CNY", min_payout_fen=10000)
        db.session.add(row)
        db.session.flush()
    return row


def save_settings(min_payout: Decimal, currency: str = "CNY") -> PlanSettings:
    row = settings()
    before = {"currency": row.currency, "min_payout_fen": row.min_payout_fen}
    row.currency = currency
    row.min_payout_fen = yuan_to_fen_exact(min_payout)
    db.session.flush()
    if before != {"currency": row.currency, "min_payout_fen": row.min_payout_fen}:
        record("commissions.settings_saved", row, before=before,
               after={"currency": row.currency, "min_payout_fen": row.min_payout_fen})
    return row


# --- the TOML file ----------------------------------------------------------------------------------

@dataclass
class LoadReport:
    rules_created: int = 0
    rules_updated: int = 0
    rules_unchanged: int = 0
    multipliers_saved: int = 0


def load_toml(text: str | bytes) -> LoadReport:
    """Apply a plan file (SPEC §5.3). All or nothing: the caller commits only when this returns;
    any problem raises PlanError naming the entry."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PlanError(f"not valid TOML: {exc}") from exc
    unknown = set(data) - {"currency", "min_payout", "multipliers", "rules"}
    if unknown:
        raise PlanError(f"unknown keys: {', '.join(sorted(unknown))}")
    currency = str(data.get("currency", "CNY"))
    if currency != "CNY":
        raise PlanError(f"currency: only CNY is supported, not {currency!r}")
    report = LoadReport()
    try:
        if "min_payout" in data:
            save_settings(parse_yuan(data["min_payout"], "min_payout"), currency)
        report.multipliers_saved += _load_multipliers(data.get("multipliers", []))
        products = {p.code: p for p in db.session.scalars(sa.select(Product))}
        allowed = {"product", "version", "effective_from", "effective_to", "one_off_per_unit", "one_off_rate",
                   "share_rate", "share_months", "clawback_days", "referral_bounty"}
        for i, entry in enumerate(data.get("rules", []), start=1):
            extra = set(entry) - allowed
            if extra:
                raise PlanError(f"rules[{i}]: unknown keys {', '.join(sorted(extra))}")
            product = products.get(str(entry.get("product", "")))
            if product is None:
                raise PlanError(f"rules[{i}]: unknown product {entry.get('product')!r}")
            try:
                terms = parse_terms(entry)
            except PlanValueError as exc:
                raise PlanError(f"rules[{i}] ({product.code}): {exc}") from exc
            existing = db.session.scalar(sa.select(CommissionRule).where(
                CommissionRule.product_id == product.id, CommissionRule.version == terms.version))
            if existing is not None and {f: getattr(existing, f) for f in RULE_FIELDS} == terms.columns():
                report.rules_unchanged += 1
                continue
            try:
                save_rule(product, terms, existing)
            except PlanError as exc:
                raise PlanError(f"rules[{i}] ({product.code} {terms.version}): {exc.message}") from exc
            if existing is None:
                report.rules_created += 1
            else:
                report.rules_updated += 1
    except PlanValueError as exc:
        raise PlanError(str(exc)) from exc
    return report


def _load_multipliers(entries) -> int:
    saved = 0
    for i, entry in enumerate(entries, start=1):
        day = _day(entry.get("effective_from"), f"multipliers[{i}].effective_from")
        extra = set(entry) - {"effective_from", *GRADES}
        if extra:
            raise PlanError(f"multipliers[{i}]: unknown keys {', '.join(sorted(extra))}")
        for grade in GRADES:
            if grade in entry:
                save_multiplier(grade, day, parse_multiplier(entry[grade], f"multipliers[{i}].{grade}"))
                saved += 1
    return saved


def rule_in_force(product_id: int, day: date) -> CommissionRule | None:
    return db.session.scalar(sa.select(CommissionRule).where(
        CommissionRule.product_id == product_id, CommissionRule.effective_from <= day,
        sa.or_(CommissionRule.effective_to.is_(None), CommissionRule.effective_to >= day)))


def multiplier_on(grade: str | None, day: date) -> tuple[Decimal, bool]:
    """(multiplier, known): 1.00 and False when the grade has none in force."""
    if not grade:
        return Decimal("1.00"), False
    units = db.session.scalar(sa.select(GradeMultiplier.multiplier_u).where(
        GradeMultiplier.grade == grade, GradeMultiplier.effective_from <= day)
        .order_by(GradeMultiplier.effective_from.desc()).limit(1))
    return (u_to_mult(units), True) if units is not None else (Decimal("1.00"), False)
