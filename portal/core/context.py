"""Who is acting, for the audit log, without operations touching the HTTP request.

The web layer sets the actor per request; the CLI sets a system actor per command."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    user_id: int | None
    label: str
    ip: str | None = None
    request_id: str | None = None


SYSTEM = Actor(user_id=None, label="system")
_current: ContextVar[Actor] = ContextVar("portal_actor", default=SYSTEM)


def set_actor(actor: Actor):
    return _current.set(actor)


def reset_actor(token) -> None:
    _current.reset(token)


def current_actor() -> Actor:
    return _current.get()
