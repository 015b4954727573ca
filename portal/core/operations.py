"""Verbs on users and regions. They flush and audit; the caller (request or CLI) commits."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l

from portal.core import audit
from portal.core.context import current_actor
from portal.core.db import db, utcnow
from portal.core.models import AGENCY_ROLES, Region, Role, User
from portal.core.security import (
    hash_password,
    password_problems,
    spend_a_password_check,
    verify_password,
    verify_totp,
)


class OperationError(ValueError):
    """A business rule refused the operation; the message (lazily translated) is shown to the user."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def normalise_email(email: str) -> str:
    return email.strip().lower()


def get_user_by_email(email: str) -> User | None:
    return db.session.scalar(sa.select(User).where(User.email == normalise_email(email)))


def create_user(
    email: str,
    name: str,
    role: Role,
    password: str | None = None,
    *,
    agency_id: int | None = None,
    region_ids: list[int] | None = None,
    locale: str | None = None,
    totp_secret: str | None = None,
) -> User:
    """Create a user with exactly one role. Agency roles need an agency; staff roles none."""
    email = normalise_email(email)
    role = Role(role)
    if role in AGENCY_ROLES and agency_id is None:
        raise OperationError(_l("An agency user needs an agency."))
    if role not in AGENCY_ROLES and agency_id is not None:
        raise OperationError(_l("A staff user belongs to no agency."))
    if get_user_by_email(email) is not None:
        raise OperationError(_l("A user with this e-mail address already exists."))
    if password is not None:
        problems = password_problems(password, email)
        if problems:
            raise OperationError(str(problems[0]))
    user = User(
        email=email,
        name=name,
        role=role,
        agency_id=agency_id,
        locale=locale,
        password_hash=hash_password(password) if password else None,
        totp_secret=totp_secret,
        totp_enabled=bool(totp_secret),
    )
    if region_ids:
        user.regions = list(db.session.scalars(sa.select(Region).where(Region.id.in_(region_ids))))
    db.session.add(user)
    db.session.flush()
    audit.record("user.create", user, after={"email": email, "role": role, "agency_id": agency_id})
    return user


def set_password(user: User, password: str) -> None:
    problems = password_problems(password, user.email)
    if problems:
        raise OperationError(str(problems[0]))
    user.password_hash = hash_password(password)
    user.failed_logins = 0
    user.locked_until = None
    user.session_version += 1  # every other session ends
    db.session.flush()
    audit.record("user.password_set", user)


# Feature packages refuse role changes or disabling that would break their data, e.g. an account
# manager who still owns named (A/B) customers. Each guard: (user, new_role or None for disabling)
# -> a message, or None when it does not object.
USER_CHANGE_GUARDS: list = []


def _guard_user_change(user: User, role: Role | None) -> None:
    for guard in USER_CHANGE_GUARDS:
        problem = guard(user, role)
        if problem:
            raise OperationError(problem)


def change_role(user: User, role: Role, region_ids: list[int] | None = None) -> None:
    """Admin changes a staff user's role (and the regions of channel/account managers)."""
    role = Role(role)
    if (role in AGENCY_ROLES) != (user.role in AGENCY_ROLES):
        raise OperationError(_l("Staff and agency roles cannot be swapped."))
    if role != user.role:
        _guard_user_change(user, role)
    before = {"role": user.role, "regions": sorted(r.code for r in user.regions)}
    user.role = role
    if region_ids is not None:
        user.regions = list(db.session.scalars(sa.select(Region).where(Region.id.in_(region_ids))))
    if role.is_staff and role != before["role"]:
        user.session_version += 1
    db.session.flush()
    audit.record("user.role_change", user, before=before,
                 after={"role": role, "regions": sorted(r.code for r in user.regions)})


def set_enabled(user: User, enabled: bool) -> None:
    if not enabled and user.is_enabled:
        _guard_user_change(user, None)
    before = {"is_enabled": user.is_enabled}
    user.is_enabled = enabled
    if not enabled:
        user.session_version += 1
    db.session.flush()
    audit.record("user.enable" if enabled else "user.disable", user, before=before,
                 after={"is_enabled": enabled})


def sign_out_everywhere(user: User) -> None:
    user.session_version += 1
    db.session.flush()
    audit.record("user.sign_out_everywhere", user)


# --- sign-in ----------------------------------------------------------------------------------

class SignInResult:
    OK = "ok"
    BAD = "bad"
    LOCKED = "locked"
    DISABLED = "disabled"


def is_locked(user: User, now: datetime | None = None) -> bool:
    now = now or utcnow()
    return user.locked_until is not None and user.locked_until > now


def check_password_sign_in(email: str, password: str, now: datetime | None = None):
    """Check e-mail and password, counting failures. Returns (result, user).

    Five failures in a row lock the account for 15 minutes; while locked even the right
    password is refused. The caller commits (a failure must be recorded)."""
    now = now or utcnow()
    user = get_user_by_email(email)
    if user is None:
        spend_a_password_check(password)
        return SignInResult.BAD, None
    if is_locked(user, now):
        audit.record("auth.sign_in_locked", user)
        return SignInResult.LOCKED, user
    if not verify_password(user.password_hash, password):
        user.failed_logins += 1
        audit.record("auth.sign_in_failed", user, after={"failed_logins": user.failed_logins})
        if user.failed_logins >= current_app.config["LOGIN_MAX_FAILURES"]:
            user.locked_until = now + timedelta(minutes=current_app.config["LOGIN_LOCKOUT_MINUTES"])
            user.failed_logins = 0
            audit.record("auth.lockout", user, after={"locked_until": user.locked_until})
            return SignInResult.LOCKED, user
        return SignInResult.BAD, user
    if not user.is_enabled or not agency_allows_sign_in(user):
        audit.record("auth.sign_in_refused", user)
        return SignInResult.DISABLED, user
    return SignInResult.OK, user


# Feature packages plug in their own sign-in rules (e.g. a terminated agency's users).
SIGN_IN_RULES: list = []


def agency_allows_sign_in(user: User) -> bool:
    return all(rule(user) for rule in SIGN_IN_RULES)


def check_totp(user: User, code: str) -> bool:
    if not user.totp_secret:
        return False
    counter = verify_totp(user.totp_secret, code, user.totp_last_counter)
    if counter is None:
        user.failed_logins += 1
        audit.record("auth.totp_failed", user)
        if user.failed_logins >= current_app.config["LOGIN_MAX_FAILURES"]:
            user.locked_until = utcnow() + timedelta(minutes=current_app.config["LOGIN_LOCKOUT_MINUTES"])
            user.failed_logins = 0
            audit.record("auth.lockout", user, after={"locked_until": user.locked_until})
        return False
    user.totp_last_counter = counter
    return True


def enrol_totp(user: User, secret: str) -> None:
    user.totp_secret = secret
    user.totp_enabled = True
    db.session.flush()
    audit.record("auth.totp_enrolled", user)


def record_sign_in(user: User) -> None:
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = utcnow()
    db.session.flush()
    # the one signing in is the actor (the request's actor is still anonymous at this point)
    actor = dataclasses.replace(current_actor(), user_id=user.id, label=user.email)
    audit.record("auth.sign_in", user, actor=actor)


def set_locale(user: User, locale: str) -> None:
    before = user.locale
    if before == locale:
        return
    user.locale = locale
    db.session.flush()
    audit.record("user.locale", user, before={"locale": before}, after={"locale": locale})


def create_region(code: str, name_zh: str, name_en: str) -> Region:
    region = Region(code=code.upper(), name_zh=name_zh, name_en=name_en)
    db.session.add(region)
    db.session.flush()
    audit.record("region.create", region, after={"code": region.code})
    return region
