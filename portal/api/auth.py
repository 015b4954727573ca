"""Bearer-token authentication for /api/v1.

`require_token(kind)` authenticates `Authorization: Bearer <token>`; the token is found by the
SHA-256 of its text (tokens are 256-bit random, so a plain hash is enough and lookups are O(1)).
It sets `flask.g.api_token` (and `g.api_agency` for agency tokens). No or an unknown or revoked
token: 401; a token of the other kind: 403. Errors are JSON `{"error": {"code", "message"}}`.
Decorated views are marked `token_auth` for the access matrix."""

from __future__ import annotations

import hashlib
import secrets
from functools import wraps

import sqlalchemy as sa
from flask import g, jsonify, request

from portal.api.models import ApiToken, TokenKind
from portal.core.audit import record
from portal.core.db import db, utcnow
from portal.core.models import Role, User
from portal.core.notify import notify
from portal.core.permissions import token_auth
from portal.partners.models import AgencyStatus

TOKEN_PREFIX = "pp_"  # noqa: S105 - a public marker, not a secret
_LAST_USED_GRANULARITY_S = 60


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(kind: TokenKind | str, name: str, agency=None, created_by=None) -> tuple[ApiToken, str]:
    """Make a token; returns the row and the token text (shown once, never stored)."""
    kind = TokenKind(kind)
    if (kind == TokenKind.AGENCY) != (agency is not None):
        raise ValueError("an agency token needs an agency; an integration token has none")
    text = TOKEN_PREFIX + ("a" if kind == TokenKind.AGENCY else "i") + "_" + secrets.token_urlsafe(32)
    row = ApiToken(
        kind=kind,
        agency_id=agency.id if agency else None,
        name=name.strip()[:100] or kind.value,
        prefix=text[:12],
        token_hash=hash_token(text),
        created_by_id=created_by.id if created_by else None,
    )
    db.session.add(row)
    db.session.flush()
    if agency is not None:  # the agency's owners hear of every token of their agency
        owners = db.session.scalars(
            sa.select(User).where(
                User.agency_id == agency.id, User.role == Role.AGENCY_OWNER, User.is_enabled.is_(True)
            )
        ).all()
        for owner in owners:
            if created_by is None or owner.id != created_by.id:
                notify(owner, "api.token_created", {"name": row.name}, "/settings/api-tokens")
    record(
        "api_token.create",
        row,
        after={"kind": kind.value, "name": row.name, "prefix": row.prefix, "agency_id": row.agency_id},
    )
    return row, text


def revoke_token(token: ApiToken) -> None:
    if token.revoked_at is not None:
        return
    token.revoked_at = utcnow()
    db.session.flush()
    record("api_token.revoke", token, before={"revoked_at": None}, after={"revoked_at": token.revoked_at})


def json_error(status: int, code: str, message: str):
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    return response


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def authenticate() -> ApiToken | None:
    """The active token of this request, or None."""
    text = _bearer()
    if not text or len(text) > 200:
        return None
    token = db.session.scalar(sa.select(ApiToken).where(ApiToken.token_hash == hash_token(text)))
    if token is None or token.revoked_at is not None:
        return None
    if token.kind == TokenKind.AGENCY and (
        token.agency is None or token.agency.status == AgencyStatus.TERMINATED
    ):
        return None
    now = utcnow()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > _LAST_USED_GRANULARITY_S:
        token.last_used_at = now
        db.session.commit()
    return token


def require_token(*kinds: TokenKind | str):
    """Decorator: the request must carry an active bearer token of one of `kinds`."""
    allowed = {TokenKind(k) for k in kinds} or set(TokenKind)

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            token = authenticate()
            if token is None:
                response = json_error(401, "unauthorized", "A valid bearer token is required.")
                response.headers["WWW-Authenticate"] = 'Bearer realm="api"'
                return response
            if token.kind not in allowed:
                return json_error(403, "forbidden", "This token may not use this endpoint.")
            g.api_token = token
            g.api_agency = token.agency if token.kind == TokenKind.AGENCY else None
            return view(*args, **kwargs)

        return token_auth(wrapper)

    return decorator
