"""Navigation entries and home-page panels that feature packages contribute.

Feature packages register at import time of their views module; the base template and the
home page render what applies to the signed-in user's role."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from portal.core.models import Role


@dataclass(frozen=True)
class NavItem:
    endpoint: str
    label: object  # lazy string
    roles: frozenset
    order: int = 100
    icon: str = ""


@dataclass(frozen=True)
class HomePanel:
    template: str
    roles: frozenset
    context: Callable[[object], dict] = field(default=lambda user: {})
    order: int = 100


NAV: list[NavItem] = []
HOME_PANELS: list[HomePanel] = []


def register_nav(endpoint: str, label, roles: Iterable[Role], order: int = 100, icon: str = "") -> None:
    if any(item.endpoint == endpoint for item in NAV):
        return
    NAV.append(NavItem(endpoint, label, frozenset(roles), order, icon))
    NAV.sort(key=lambda i: i.order)


def register_home_panel(template: str, roles: Iterable[Role], context=None, order: int = 100) -> None:
    if any(p.template == template for p in HOME_PANELS):
        return
    HOME_PANELS.append(HomePanel(template, frozenset(roles), context or (lambda user: {}), order))
    HOME_PANELS.sort(key=lambda p: p.order)


def nav_for(user) -> list[NavItem]:
    if not getattr(user, "is_authenticated", False):
        return []
    return [item for item in NAV if user.role in item.roles]


def panels_for(user) -> list[tuple[HomePanel, dict]]:
    return [(p, p.context(user)) for p in HOME_PANELS if user.role in p.roles]
