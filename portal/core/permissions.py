"""Authorization in one place.

Every view declares who may call it with one of the decorators below; the route-matrix test
refuses a route that declares nothing. Rows that belong to an agency are loaded through
`get_scoped_or_404` / `scoped`, so an agency can never reach another agency's row (it gets 404),
and a channel manager only reaches agencies of its regions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import wraps

import sqlalchemy as sa
from flask import abort, request
from flask_login import current_user

from portal.core.db import db
from portal.core.models import AGENCY_ROLES, STAFF_ROLES, Role

PUBLIC = "public"
SIGNED_IN = "signed_in"
TOKEN = "token"  # noqa: S105 - an access-kind label (/api/v1: bearer tokens, checked by the API layer)

ACCESS_ATTR = "_portal_access"


def _mark(view: Callable, access) -> Callable:
    setattr(view, ACCESS_ATTR, access)
    return view


def public(view: Callable) -> Callable:
    """Anyone, signed in or not."""
    return _mark(view, PUBLIC)


def token_auth(view: Callable) -> Callable:
    """API endpoint authenticated by a bearer token (see portal.api)."""
    return _mark(view, TOKEN)


def signed_in(view: Callable) -> Callable:
    """Any signed-in user, whatever the role."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        if not current_user.is_authenticated:
            return _unauthenticated()
        return view(*args, **kwargs)

    return _mark(wrapper, SIGNED_IN)


def roles_required(*roles: Role) -> Callable[[Callable], Callable]:
    """Only users with one of `roles`; others get 403, anonymous users are sent to sign in."""
    allowed = frozenset(roles)

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args, **kwargs):
            if not current_user.is_authenticated:
                return _unauthenticated()
            if current_user.role not in allowed:
                abort(403)
            return view(*args, **kwargs)

        return _mark(wrapper, allowed)

    return decorator


def agency_required(view: Callable) -> Callable:
    """Agency owner or sales user."""
    return roles_required(*AGENCY_ROLES)(view)


def staff_required(view: Callable) -> Callable:
    return roles_required(*STAFF_ROLES)(view)


def declared_access(view: Callable):
    """What a view declared (None when it declared nothing)."""
    return getattr(view, ACCESS_ATTR, None)


def _unauthenticated():
    from portal.core.extensions import login_manager

    if request.path.startswith("/api/"):
        abort(401)
    return login_manager.unauthorized()


# --- agency-scoped queries --------------------------------------------------------------------

_agencies = sa.table("agencies", sa.column("id"), sa.column("region_id"))


def agency_ids_in_regions(region_ids: Iterable[int]):
    return sa.select(_agencies.c.id).where(_agencies.c.region_id.in_(list(region_ids)))


def scope_clause(model, user):
    """The WHERE clause restricting `model` to the rows `user` may see.

    A model owned by an agency names its agency column in `__agency_column__` (for Agency
    itself, "id"). A model may define `visible_to(user)` returning a clause to refine this
    (e.g. leads routed to an account manager)."""
    custom = getattr(model, "visible_to", None)
    if custom is not None:
        return custom(user)
    column_name = getattr(model, "__agency_column__", None)
    if column_name is None:
        raise TypeError(f"{model.__name__} is not agency-scoped")
    column = getattr(model, column_name)
    return default_agency_clause(column, user)


def default_agency_clause(agency_column, user):
    """Agency users: their agency only. Channel managers: agencies of their regions.
    Finance and admins: everything. Account managers: nothing unless the model says otherwise."""
    role = user.role
    if role in AGENCY_ROLES:
        return agency_column == user.agency_id
    if role == Role.CHANNEL_MANAGER:
        return agency_column.in_(agency_ids_in_regions(user.region_ids))
    if role in (Role.FINANCE, Role.ADMIN):
        return sa.true()
    return sa.false()


def scoped(model, user=None):
    """`select(model)` restricted to what `user` (default: the signed-in user) may see."""
    user = user or current_user
    return sa.select(model).where(scope_clause(model, user))


def get_scoped_or_404(model, object_id, user=None):
    """Load one agency-scoped row the user may see, or answer 404 — never 403, so that the
    existence of another agency's row is not revealed."""
    user = user or current_user
    obj = db.session.execute(
        sa.select(model).where(model.id == object_id, scope_clause(model, user))
    ).scalar_one_or_none()
    if obj is None:
        abort(404)
    return obj


def get_for_agency(model, object_id, agency_id: int):
    """Load a row of `model` only if it belongs to `agency_id` (404 otherwise)."""
    column = getattr(model, getattr(model, "__agency_column__", "agency_id"))
    obj = db.session.execute(
        sa.select(model).where(model.id == object_id, column == agency_id)
    ).scalar_one_or_none()
    if obj is None:
        abort(404)
    return obj
