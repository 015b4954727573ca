"""CSV imports of the catalog and of group customers, insert-or-update by key, with a report.

Every row is checked first; nothing is written when a row is rejected unless the caller asked
to skip bad rows (`skip_bad=True`, the CLI's `--skip-bad`). The report lists what was read,
inserted, updated, unchanged and rejected (line numbers and reasons). The caller commits.

The web import is in two steps (SPEC §5.1: the good rows are applied only when the user
confirms): `preview` computes the report with nothing written, `store_pending` keeps the uploaded
file in the data directory under a random name with the previewed plan, and `apply_pending`
applies that stored file only if it still does exactly what the preview showed.

`ImportReport` / `Rejection` are generic: any import (by any key) can fill them."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l

from catalog import operations as ops
from catalog.messages import Message
from catalog.models import CustomerTier
from portal.core import audit
from portal.core.db import db
from portal.core.models import Region, Role, User
from portal.core.money import MoneyError, to_decimal, yuan_to_fen

PRODUCT_COLUMNS = [
    "code",
    "name_zh",
    "name_en",
    "category",
    "module_complexity",
    "market_exclusivity",
    "training_requirement",
    "monthly_price",
    "one_time_price",
    "description_en",
]
PRODUCT_OPTIONAL_COLUMNS = ["description_zh"]
CUSTOMER_COLUMNS = [
    "uscc",
    "name",
    "industry",
    "region",
    "monthly_spend",
    "members",
    "strategic",
    "account_manager_email",
]
CUSTOMER_OPTIONAL_COLUMNS = ["tier", "tier_reason"]
TRUE_WORDS = {"1", "yes", "y", "true", "是"}
FALSE_WORDS = {"", "0", "no", "n", "false", "否"}


class ImportFileError(ValueError):
    """The file as a whole cannot be read (encoding, header)."""

    def __init__(self, message: Message):
        super().__init__(message.english)
        self.message = message

    def __str__(self) -> str:
        return str(self.message)


@dataclass
class Rejection:
    line: int
    key: str
    reason: object  # a Message or str; str() gives the text in the reader's language

    def __str__(self) -> str:
        return f"line {self.line} ({self.key or '-'}): {self.reason}"


@dataclass
class ImportReport:
    read: int = 0
    inserted: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    applied: bool = False  # False: nothing was written (a row was rejected and skip_bad was off)

    def reject(self, line: int, key: str, reason) -> None:
        self.rejected.append(Rejection(line, key, reason))

    @property
    def ok(self) -> bool:
        return not self.rejected

    def summary(self) -> str:
        return (
            f"read {self.read}, inserted {len(self.inserted)}, updated {len(self.updated)}, "
            f"unchanged {len(self.unchanged)}, rejected {len(self.rejected)}"
        )

    @property
    def good(self) -> int:
        """Rows that can be applied (inserted, updated or already up to date)."""
        return len(self.inserted) + len(self.updated) + len(self.unchanged)

    @property
    def changes(self) -> int:
        return len(self.inserted) + len(self.updated)

    def plan(self) -> dict:
        """What applying does, row by row: compared between the preview and the confirmation."""
        return {
            "inserted": list(self.inserted),
            "updated": list(self.updated),
            "unchanged": list(self.unchanged),
            "rejected": [[r.line, r.key] for r in self.rejected],
        }

    def as_dict(self) -> dict:
        return {
            "read": self.read,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "applied": self.applied,
            "rejected": [{"line": r.line, "key": r.key, "reason": str(r.reason)} for r in self.rejected],
        }


def decode(raw: bytes | str) -> str:
    if isinstance(raw, str):
        return raw
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ImportFileError(Message(_l("The file is neither UTF-8 nor GB18030 text.")))


def _reader(raw, required: list[str], optional: list[str]) -> csv.DictReader:
    reader = csv.DictReader(io.StringIO(decode(raw), newline=""))
    header = [(h or "").strip() for h in (reader.fieldnames or [])]
    reader.fieldnames = header
    missing = [c for c in required if c not in header]
    if missing:
        raise ImportFileError(Message(_l("Missing column(s): %(columns)s."), columns=", ".join(missing)))
    unknown = [c for c in header if c not in required and c not in optional]
    if unknown:
        raise ImportFileError(Message(_l("Unknown column(s): %(columns)s."), columns=", ".join(unknown)))
    return reader


def count_rows(raw) -> int:
    return max(0, sum(1 for line in decode(raw).splitlines() if line.strip()) - 1)


def _cell(values: dict, name: str) -> str:
    value = values.get(name)
    return value.strip() if isinstance(value, str) else ""


def _rows(reader: csv.DictReader):
    for values in reader:
        if None in values:  # more cells than columns
            yield reader.line_num, values, Message(_l("The row has more cells than the header."))
            continue
        if not any(_cell(values, k) for k in values):
            continue
        yield reader.line_num, values, None


# --- products ------------------------------------------------------------------------------------


def _product_values(values: dict) -> dict:
    return {
        "code": _cell(values, "code"),
        "name_zh": _cell(values, "name_zh"),
        "name_en": _cell(values, "name_en"),
        "category": _cell(values, "category"),
        "module_complexity": _cell(values, "module_complexity"),
        "market_exclusivity": _cell(values, "market_exclusivity"),
        "training_requirement": _cell(values, "training_requirement"),
        "monthly_price_fen": ops.parse_price_fen(_cell(values, "monthly_price"), "monthly_price"),
        "one_time_price_fen": ops.parse_price_fen(_cell(values, "one_time_price"), "one_time_price"),
        "description_en": _cell(values, "description_en"),
    }


def import_products(
    raw, *, skip_bad: bool = False, progress: Callable[[int], None] | None = None, source: str = "import"
) -> ImportReport:
    """Insert or update products by code from catalog CSV text or bytes.

    Columns: code,name_zh,name_en,category,module_complexity,market_exclusivity,
    training_requirement,monthly_price,one_time_price,description_en[,description_zh].
    Prices are yuan (Decimal, at most two decimals). A product's status and tier override are
    never changed by an import; description_zh is kept when the column is absent."""
    reader = _reader(raw, PRODUCT_COLUMNS, PRODUCT_OPTIONAL_COLUMNS)
    has_zh = "description_zh" in reader.fieldnames
    report = ImportReport()
    good: list[tuple[int, dict]] = []
    seen: dict[str, int] = {}
    for line, values, problem in _rows(reader):
        report.read += 1
        key = _cell(values, "code").upper()
        if problem is not None:
            report.reject(line, key, problem)
            continue
        try:
            data = _product_values(values)
            if has_zh:
                data["description_zh"] = _cell(values, "description_zh")
            cleaned = ops.clean_product_data(data, creating=True)
            if not has_zh:
                cleaned.pop("description_zh", None)
        except ops.CatalogError as exc:
            report.reject(line, key, _field_reason(exc))
            continue
        if cleaned["code"] in seen:
            report.reject(
                line,
                cleaned["code"],
                Message(
                    _l("The code %(code)s already appears on line %(line)s."),
                    code=cleaned["code"],
                    line=seen[cleaned["code"]],
                ),
            )
            continue
        seen[cleaned["code"]] = line
        good.append((line, cleaned))
    if report.rejected and not skip_bad:
        return report
    for _line, cleaned in good:
        existing = ops.get_product_by_code(cleaned["code"])
        if existing is None:
            ops.create_product(cleaned, source=source)
            report.inserted.append(cleaned["code"])
        elif ops.update_product(existing, cleaned, source=source):
            report.updated.append(cleaned["code"])
        else:
            report.unchanged.append(cleaned["code"])
        if progress:
            progress(1)
    report.applied = True
    return report


class _FieldReason:
    """'column: problem', translated when shown."""

    def __init__(self, column: str, message: Message):
        self.column, self.message = column, message

    def __str__(self) -> str:
        return f"{self.column}: {self.message}"


def _field_reason(exc: ops.CatalogError) -> _FieldReason:
    column = {
        "monthly_price_fen": "monthly_price",
        "one_time_price_fen": "one_time_price",
        "account_manager_id": "account_manager_email",
        "region_id": "region",
        "tier_reason": "tier_reason",
    }.get(exc.field or "", exc.field or "-")
    return _FieldReason(column, exc.message)


# --- group customers -----------------------------------------------------------------------------


def _bool(text: str, column: str) -> bool:
    word = text.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ops.CatalogError(Message(_l("Write yes or no.")), column)


def import_customers(
    raw, *, skip_bad: bool = False, progress: Callable[[int], None] | None = None, source: str = "import"
) -> ImportReport:
    """Insert or update group customers by USCC.

    Columns: uscc,name,industry,region,monthly_spend,members,strategic,account_manager_email
    [,tier,tier_reason]. `monthly_spend` is yuan; `strategic` yes/no; `region` a region code;
    `account_manager_email` an account manager's sign-in (required when the tier is A or B).
    An empty `tier` means "from the value assessment"; a tier given sets it by hand and needs
    `tier_reason`."""
    reader = _reader(raw, CUSTOMER_COLUMNS, CUSTOMER_OPTIONAL_COLUMNS)
    regions = {r.code.upper(): r for r in db.session.scalars(sa.select(Region))}
    report = ImportReport()
    good: list[tuple[int, ops.CustomerData, CustomerTier | None, str | None]] = []
    seen: dict[str, int] = {}
    for line, values, problem in _rows(reader):
        report.read += 1
        key = _cell(values, "uscc").upper()
        if problem is not None:
            report.reject(line, key, problem)
            continue
        try:
            data, tier, reason = _customer_row(values, regions)
            data = ops.clean_customer_data(data)
            if tier is not None and not reason:
                raise ops.CatalogError(
                    Message(_l("Give the reason for setting the tier by hand.")), "tier_reason"
                )
            effective = tier
            if effective is None:
                existing = ops.get_customer_by_uscc(data.uscc)
                if existing is not None and existing.tier_manual:
                    effective = existing.tier
                else:
                    from catalog.customer_tiers import assess

                    effective = assess(
                        data.monthly_spend_fen, data.members, data.industry, data.strategic
                    ).tier
            ops._check_named_account_owner(effective, data.account_manager_id)
        except ops.CatalogError as exc:
            report.reject(line, key, _field_reason(exc))
            continue
        if data.uscc in seen:
            report.reject(
                line,
                data.uscc,
                Message(
                    _l("The code %(code)s already appears on line %(line)s."),
                    code=data.uscc,
                    line=seen[data.uscc],
                ),
            )
            continue
        seen[data.uscc] = line
        good.append((line, data, tier, reason))
    if report.rejected and not skip_bad:
        return report
    for _line, data, tier, reason in good:
        existing = ops.get_customer_by_uscc(data.uscc)
        keep_manual = tier is None or (
            existing is not None
            and existing.tier_manual
            and existing.tier == tier
            and existing.tier_reason == reason
        )
        _customer, changed = ops.save_customer(
            existing, data, manual_tier=None if keep_manual else tier, manual_reason=reason, source=source
        )
        if existing is None:
            report.inserted.append(data.uscc)
        elif changed:
            report.updated.append(data.uscc)
        else:
            report.unchanged.append(data.uscc)
        if progress:
            progress(1)
    report.applied = True
    return report


def _customer_row(values: dict, regions: dict) -> tuple[ops.CustomerData, CustomerTier | None, str | None]:
    region_code = _cell(values, "region").upper()
    region = regions.get(region_code)
    if region is None:
        raise ops.CatalogError(Message(_l("Unknown region %(value)s."), value=region_code or "-"), "region")
    try:
        spend = to_decimal(_cell(values, "monthly_spend") or "0")
    except MoneyError:
        raise ops.CatalogError(
            Message(_l("%(value)s is not an amount in yuan."), value=_cell(values, "monthly_spend")),
            "monthly_spend",
        ) from None
    if spend < 0:
        raise ops.CatalogError(Message(_l("The monthly spend cannot be negative.")), "monthly_spend")
    members_text = _cell(values, "members") or "0"
    if not members_text.isdigit():
        raise ops.CatalogError(Message(_l("The number of members is a whole number.")), "members")
    email = _cell(values, "account_manager_email").lower()
    manager_id = None
    if email:
        manager = db.session.scalar(sa.select(User).where(User.email == email))
        if manager is None or manager.role != Role.ACCOUNT_MANAGER or not manager.is_enabled:
            raise ops.CatalogError(
                Message(_l("%(value)s is not an account manager's sign-in."), value=email),
                "account_manager_email",
            )
        manager_id = manager.id
    tier_text = _cell(values, "tier").upper()
    tier = None
    if tier_text:
        try:
            tier = CustomerTier(tier_text)
        except ValueError:
            raise ops.CatalogError(Message(_l("The tier is A, B, C or D.")), "tier") from None
    data = ops.CustomerData(
        uscc=_cell(values, "uscc"),
        name=_cell(values, "name"),
        industry=_cell(values, "industry") or "other",
        region_id=region.id,
        monthly_spend_fen=yuan_to_fen(spend),
        members=int(members_text),
        strategic=_bool(_cell(values, "strategic"), "strategic"),
        account_manager_id=manager_id,
    )
    return data, tier, _cell(values, "tier_reason") or None


# --- the web import: preview, stored upload, confirmation ---------------------------------------

RUNNERS: dict[str, Callable[..., ImportReport]] = {"products": import_products, "customers": import_customers}
PENDING_MAX_AGE = 2 * 3600  # seconds an uploaded file waits for its confirmation
_TOKEN = re.compile(r"[0-9a-f]{32}")


class PendingImportMissing(LookupError):
    """The stored upload does not exist (any more), or belongs to another user or import."""


class PlanChanged(RuntimeError):
    """The data changed since the preview: applying now would not do what the user confirmed."""

    def __init__(self, report: ImportReport):
        super().__init__("the import would no longer do what the preview showed")
        self.report = report


def preview(kind: str, raw) -> ImportReport:
    """The report of importing `raw` (good rows applied, bad ones skipped) with nothing written:
    the import runs inside a savepoint that is rolled back. Raises ImportFileError."""
    savepoint = db.session.begin_nested()
    try:
        report = RUNNERS[kind](raw, skip_bad=True, source="preview")
    finally:
        savepoint.rollback()
    report.applied = False
    return report


def _pending_dir() -> Path:
    path = Path(current_app.config["PORTAL_DATA_DIR"]) / "catalog-imports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _pending_paths(token: str) -> tuple[Path, Path]:
    if not isinstance(token, str) or not _TOKEN.fullmatch(token):
        raise PendingImportMissing(token)
    base = _pending_dir()
    return base / f"{token}.csv", base / f"{token}.json"


def _remove_stale(now: float) -> None:
    for path in _pending_dir().iterdir():
        try:
            if now - path.stat().st_mtime > PENDING_MAX_AGE:
                path.unlink()
        except OSError:
            continue


def store_pending(kind: str, raw: bytes, report: ImportReport, user_id: int, filename: str = "") -> str:
    """Keep the uploaded file and its previewed plan for `user_id`'s confirmation; the token."""
    now = time.time()
    _remove_stale(now)
    token = secrets.token_hex(16)
    data_path, meta_path = _pending_paths(token)
    data_path.write_bytes(raw)
    meta = {"kind": kind, "user_id": user_id, "created": now, "sha256": hashlib.sha256(raw).hexdigest(),
            "filename": filename, "plan": report.plan()}
    meta_path.write_text(json.dumps(meta), encoding="utf-8")
    return token


def load_pending(token: str, kind: str, user_id: int) -> tuple[bytes, dict]:
    """The stored file and its metadata; PendingImportMissing when it is not `user_id`'s upload
    for this kind of import, has expired or was tampered with."""
    data_path, meta_path = _pending_paths(token)
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        raw = data_path.read_bytes()
    except (OSError, ValueError):
        raise PendingImportMissing(token) from None
    if (
        meta.get("kind") != kind
        or meta.get("user_id") != user_id
        or time.time() - float(meta.get("created", 0)) > PENDING_MAX_AGE
        or hashlib.sha256(raw).hexdigest() != meta.get("sha256")
    ):
        raise PendingImportMissing(token)
    return raw, meta


def discard_pending(token: str) -> None:
    try:
        paths = _pending_paths(token)
    except PendingImportMissing:
        return
    for path in paths:
        path.unlink(missing_ok=True)


def apply_pending(token: str, kind: str, user_id: int) -> ImportReport:
    """Apply the good rows of the stored upload, exactly as previewed, and audit the import.

    Raises PendingImportMissing, or PlanChanged (nothing written) when the catalog changed since
    the preview so that the file would now insert, update or reject other rows. The caller
    commits, then calls `discard_pending(token)`."""
    raw, meta = load_pending(token, kind, user_id)
    savepoint = db.session.begin_nested()
    try:
        report = RUNNERS[kind](raw, skip_bad=True, source="upload")
    except BaseException:
        savepoint.rollback()
        raise
    if report.plan() != meta["plan"]:
        savepoint.rollback()
        report.applied = False
        raise PlanChanged(report)
    with force_locale("en"):
        rejected = [{"line": r.line, "key": r.key, "reason": str(r.reason)} for r in report.rejected]
    audit.record(
        f"{'product' if kind == 'products' else 'customer'}.import",
        object_type=kind,
        after={
            "file": meta.get("filename") or "",
            "sha256": meta["sha256"],
            "read": report.read,
            "inserted": report.inserted,
            "updated": report.updated,
            "unchanged": len(report.unchanged),
            "rejected": rejected,
        },
    )
    savepoint.commit()
    return report
