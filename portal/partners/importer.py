"""Bulk migration of existing agencies from CSV (SPEC §3), idempotent by agency code.

Columns: code,name,uscc,region,grade,grade_effective_from,status,owner_email[,stripe_account_id]

Every row is checked and applied inside a savepoint; the report lists what was read, inserted,
updated, unchanged and rejected (with line numbers and reasons). The caller commits only when
nothing was rejected or the user accepted to skip bad rows (`--skip-bad`)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

import sqlalchemy as sa

from portal.core import audit
from portal.core import operations as core_ops
from portal.core.db import db, utcnow
from portal.core.forms import EMAIL_RE
from portal.core.models import Region, Role
from portal.core.validators import normalise_uscc, uscc_problem
from portal.partners import operations as ops
from portal.partners.models import LIVE_STATUSES, Agency, AgencyGrade, AgencyStatus, Grade
from portal.partners.rules import grade_change_problem

REQUIRED_COLUMNS = [
    "code",
    "name",
    "uscc",
    "region",
    "grade",
    "grade_effective_from",
    "status",
    "owner_email",
]
OPTIONAL_COLUMNS = ["stripe_account_id"]
CODE_RE = re.compile(r"^[A-Z0-9]{3,16}$")
STRIPE_RE = re.compile(r"^acct_[A-Za-z0-9]{4,60}$")
IMPORT_STATUSES = {"active": AgencyStatus.ACTIVE, "suspended": AgencyStatus.SUSPENDED}


class ImportFileError(ValueError):
    """The file as a whole cannot be read (encoding, header)."""


class RowRejected(ValueError):
    pass


@dataclass
class Rejection:
    line: int
    code: str
    reason: str


@dataclass
class ImportReport:
    read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[Rejection] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"read {self.read}, inserted {self.inserted}, updated {self.updated}, "
            f"unchanged {self.unchanged}, rejected {len(self.rejected)}"
        )


def decode(raw: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ImportFileError("the file is neither UTF-8 nor GB18030 text")


@dataclass
class Row:
    code: str
    name: str
    uscc: str
    region: Region
    grade: Grade
    grade_effective_from: date
    status: AgencyStatus
    owner_email: str
    stripe_account_id: str | None


def _parse(values: dict, regions: dict[str, Region]) -> Row:
    def cell(name: str) -> str:
        return (values.get(name) or "").strip()

    code = cell("code").upper()
    if not CODE_RE.match(code):
        raise RowRejected(f"code {code!r} is not 3-16 letters and digits")
    name = cell("name")
    if not name or len(name) > 200:
        raise RowRejected("name is empty or longer than 200 characters")
    uscc = normalise_uscc(cell("uscc"))
    problem = uscc_problem(uscc)
    if problem:
        raise RowRejected(f"uscc {uscc!r} is not a valid unified social credit code ({problem})")
    region = regions.get(cell("region").upper())
    if region is None:
        raise RowRejected(f"unknown region {cell('region')!r}")
    try:
        grade = Grade(cell("grade").lower())
    except ValueError:
        raise RowRejected(f"grade {cell('grade')!r} is not gold, silver or bronze") from None
    try:
        effective = date.fromisoformat(cell("grade_effective_from"))
    except ValueError:
        raise RowRejected(
            f"grade_effective_from {cell('grade_effective_from')!r} is not a date YYYY-MM-DD"
        ) from None
    status = IMPORT_STATUSES.get(cell("status").lower())
    if status is None:
        raise RowRejected(f"status {cell('status')!r} is not active or suspended")
    email = core_ops.normalise_email(cell("owner_email"))
    if not EMAIL_RE.match(email):
        raise RowRejected(f"owner_email {cell('owner_email')!r} is not an e-mail address")
    stripe = cell("stripe_account_id") or None
    if stripe is not None and not STRIPE_RE.match(stripe):
        raise RowRejected(f"stripe_account_id {stripe!r} is not a Stripe account id (acct_…)")
    return Row(code, name, uscc, region, grade, effective, status, email, stripe)


def _owner_for(agency: Agency, email: str) -> tuple[object, bool]:
    """The owner user with `email` for `agency` (created and invited when missing)."""
    user = core_ops.get_user_by_email(email)
    if user is None:
        user = core_ops.create_user(email, email.split("@")[0], Role.AGENCY_OWNER, None, agency_id=agency.id)
        ops.send_invitation(user, agency, agency.name)
        return user, True
    if user.agency_id != agency.id:
        raise RowRejected(f"owner_email {email} belongs to another user (not of agency {agency.code})")
    return user, False


def _insert(row: Row) -> None:
    if ops.live_agency_with_uscc(row.uscc) is not None:
        raise RowRejected(f"another live agency or application has the uscc {row.uscc}")
    agency = Agency(
        code=row.code,
        name=row.name,
        uscc=row.uscc,
        region_id=row.region.id,
        status=row.status,
        approved_on=row.grade_effective_from,
        stripe_account_id=row.stripe_account_id,
        status_changed_at=utcnow(),
    )
    agency.grades.append(
        AgencyGrade(grade=row.grade, effective_from=row.grade_effective_from, reason="import")
    )
    # an imported agency counts as approved, in its imported status, from grade_effective_from (SPEC §3)
    ops.record_status_change(agency, row.status, "import", effective_from=row.grade_effective_from)
    db.session.add(agency)
    db.session.flush()
    _owner_for(agency, row.owner_email)
    audit.record(
        "agency.import",
        agency,
        after={
            "code": row.code,
            "name": row.name,
            "uscc": row.uscc,
            "region": row.region.code,
            "status": row.status,
            "grade": row.grade,
            "grade_effective_from": row.grade_effective_from,
            "owner": row.owner_email,
            "stripe_account_id": row.stripe_account_id,
        },
    )


def _update(agency: Agency, row: Row) -> bool:
    """Bring `agency` in line with `row`; True when something changed."""
    if agency.status not in (AgencyStatus.ACTIVE, AgencyStatus.SUSPENDED):
        raise RowRejected(
            f"agency {agency.code} is {agency.status.value}; the import only changes active "
            "or suspended agencies"
        )
    if row.uscc != agency.uscc and ops.live_agency_with_uscc(row.uscc, exclude_id=agency.id) is not None:
        raise RowRejected(f"another live agency or application has the uscc {row.uscc}")
    before, after = {}, {}
    wanted = {"name": row.name, "uscc": row.uscc, "region_id": row.region.id, "status": row.status}
    if row.stripe_account_id is not None:
        wanted["stripe_account_id"] = row.stripe_account_id
    for attr, value in wanted.items():
        if getattr(agency, attr) != value:
            before[attr], after[attr] = getattr(agency, attr), value
            setattr(agency, attr, value)
    if "status" in after:
        agency.status_changed_at = utcnow()
        agency.status_reason = "import"
        ops.record_status_change(agency, row.status, "import")
    entry = next((g for g in agency.grades if g.effective_from == row.grade_effective_from), None)
    if entry is None or entry.grade != row.grade:
        problem = grade_change_problem(agency, row.grade_effective_from)
        if problem:
            raise RowRejected(f"grade change refused: {problem}")
        before["grade"] = {
            "effective_from": row.grade_effective_from,
            "grade": agency.grade_on(row.grade_effective_from),
        }
        after["grade"] = {"effective_from": row.grade_effective_from, "grade": row.grade}
        if entry is None:
            agency.grades.append(
                AgencyGrade(grade=row.grade, effective_from=row.grade_effective_from, reason="import")
            )
        else:
            entry.grade = row.grade
    _user, created = _owner_for(agency, row.owner_email)
    if created:
        after["owner"] = row.owner_email
    if not after:
        return False
    db.session.flush()
    audit.record("agency.import_update", agency, before=before, after=after)
    return True


def import_agencies(raw: bytes, progress: Callable[[int], None] | None = None) -> ImportReport:
    """Check and apply every row (each in a savepoint); the caller commits or rolls back."""
    text = decode(raw)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    if header not in (REQUIRED_COLUMNS, REQUIRED_COLUMNS + OPTIONAL_COLUMNS):
        raise ImportFileError(
            "the header must be exactly "
            + ",".join(REQUIRED_COLUMNS)
            + "[,"
            + ",".join(OPTIONAL_COLUMNS)
            + "]"
        )
    reader.fieldnames = header
    regions = {r.code: r for r in db.session.scalars(sa.select(Region))}
    report = ImportReport()
    seen: dict[str, int] = {}
    for values in reader:
        line = reader.line_num
        report.read += 1
        code = (values.get("code") or "").strip().upper()
        try:
            if None in values or any(values.get(c) is None for c in REQUIRED_COLUMNS):
                raise RowRejected("the row does not have the header's number of columns")
            row = _parse(values, regions)
            if row.code in seen:
                raise RowRejected(f"code {row.code} appears already on line {seen[row.code]}")
            seen[row.code] = line
            with db.session.begin_nested():
                existing = db.session.scalar(sa.select(Agency).where(Agency.code == row.code))
                if existing is None:
                    _insert(row)
                    report.inserted += 1
                elif _update(existing, row):
                    report.updated += 1
                else:
                    report.unchanged += 1
        except RowRejected as exc:
            report.rejected.append(Rejection(line, code, str(exc)))
        except (sa.exc.IntegrityError, core_ops.OperationError) as exc:
            report.rejected.append(
                Rejection(line, code, f"refused by the database: {str(exc).splitlines()[0]}")
            )
        if progress:
            progress(1)
    return report


def count_rows(raw: bytes) -> int:
    try:
        return max(len(decode(raw).splitlines()) - 1, 0)
    except ImportFileError:
        return 0


__all__ = ["LIVE_STATUSES", "ImportFileError", "ImportReport", "import_agencies"]
