"""The payout feature's only door into the commission engine (periods, lines, statements).

`commissions.models`, `commissions.statements` and `commissions.periods` are imported lazily, so
this package keeps working (Stripe account pages, webhooks, bank details) while the engine is
absent; every other module of the payout feature goes through here."""

from __future__ import annotations

import importlib
import re

import sqlalchemy as sa

from portal.core.db import db

PERIOD_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


class LedgerError(ValueError):
    """The engine refused (its message, and the list of reasons when there are several)."""

    def __init__(self, message: str, reasons: list[str] | None = None):
        super().__init__(message)
        self.reasons = reasons or [message]


def _module(name: str):
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if name == exc.name or name.startswith(f"{exc.name}."):
            return None
        raise


def models():
    return _module("commissions.models")


def statements_module():
    return _module("commissions.statements")


def periods_module():
    return _module("commissions.periods")


def ingest_models():
    return _module("commissions.ingest.models")


def engine_ready() -> bool:
    cm = models()
    return cm is not None and hasattr(cm, "Statement")


def valid_period(text: str | None) -> bool:
    return bool(isinstance(text, str) and PERIOD_RE.match(text))


def _value(x) -> str:
    return getattr(x, "value", x)


# --- periods ----------------------------------------------------------------------------------------

def period_key(period) -> str:
    """'YYYY-MM' of a Period row or a string."""
    if period is None:
        return ""
    if isinstance(period, str):
        return period
    return str(getattr(period, "period", period))


def get_period(key: str):
    cm = models()
    if cm is None or not hasattr(cm, "Period"):
        return None
    return db.session.scalar(sa.select(cm.Period).where(cm.Period.period == key))


def period_status(key: str) -> str | None:
    period = get_period(key)
    return _value(period.status) if period is not None else None


def known_periods() -> list[str]:
    cm = models()
    if cm is None:
        return []
    keys = set(db.session.scalars(sa.select(cm.Period.period)))
    keys |= set(db.session.scalars(sa.select(cm.Statement.period).distinct()))
    return sorted((k for k in keys if valid_period(k)), reverse=True)


def close_period(key: str, actor=None):
    periods = periods_module()
    if periods is None or get_period(key) is None:
        raise LookupError(key)
    try:
        return periods.close_period(key, user=actor)
    except periods.PeriodError as exc:
        raise LedgerError(exc.message, [r for r in exc.message.split("; ") if r]) from exc


# --- statements -------------------------------------------------------------------------------------

def statement_class():
    cm = models()
    return getattr(cm, "Statement", None) if cm else None


def get_statement(statement_id: int):
    Statement = statement_class()
    return db.session.get(Statement, statement_id) if Statement is not None else None


def statements_for_period(key: str) -> list:
    Statement = statement_class()
    if Statement is None:
        return []
    return list(db.session.scalars(sa.select(Statement).where(Statement.period == key).order_by(Statement.id)))


def statement_period_key(statement) -> str:
    return period_key(getattr(statement, "period", None))


def status(statement) -> str:
    return _value(getattr(statement, "status", "")) or ""


def payable_fen(statement) -> int:
    return int(getattr(statement, "payable_fen", 0) or 0)


def is_payable(statement) -> bool:
    """Approved (or already paid) with something to pay."""
    return status(statement) in ("approved", "paid") and payable_fen(statement) > 0


def hold_reason(statement) -> str | None:
    reason = getattr(statement, "hold_reason", None)
    if reason is None:
        return None
    module = statements_module()
    labels = getattr(module, "HOLD_LABELS", {}) if module else {}
    return str(labels.get(reason, _value(reason)))


def approve_period(key: str, actor=None) -> tuple[int, list]:
    module = statements_module()
    if module is None:
        raise LookupError(key)
    return module.approve_period(key, user=actor)


def mark_paid(statement, reference: str, actor=None) -> None:
    module = statements_module()
    try:
        module.mark_paid(statement, reference, actor=actor)
    except module.StatementError as exc:
        raise LedgerError(exc.message) from exc


def mark_unpaid(statement, reason: str) -> None:
    module = statements_module()
    try:
        module.mark_unpaid(statement, reason)
    except module.StatementError as exc:
        raise LedgerError(exc.message) from exc


# --- lines ------------------------------------------------------------------------------------------

def lines_for_period(key: str) -> list:
    cm = models()
    if cm is None or not hasattr(cm, "Line"):
        return []
    return list(db.session.scalars(sa.select(cm.Line).where(cm.Line.period == key).order_by(cm.Line.id)))
