"""Navigation entries and home-page panels that feature packages contribute.

Feature packages register at import time of their views module; the base template and the
home page render what applies to the signed-in user's role."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l

from portal.core.models import Role


@dataclass(frozen=True)
class NavItem:
    endpoint: str
    label: object  # lazy string
    roles: frozenset
    order: int = 100
    icon: str = ""
    group: str | None = None  # a key of NAV_GROUPS: shown in that menu instead of the top bar


# The menus of the top bar. A role that sees a single item of a menu gets that item as a plain link.
NAV_GROUPS: dict[str, tuple[object, int]] = {  # key -> (label, order)
    "catalog": (_l("Catalog"), 10),
    "partners": (_l("Agencies"), 200),
    "leads": (_l("Leads"), 300),
    "money": (_l("Commissions"), 400),
    "payouts": (_l("Payouts"), 450),
    "enablement": (_l("Enablement"), 500),
    "agency": (_l("My agency"), 600),
    "admin": (_l("Administration"), 900),
}


@dataclass
class NavGroup:
    key: str
    label: object
    order: int
    items: list[NavItem]

    @property
    def endpoints(self) -> set[str]:
        return {item.endpoint for item in self.items}


@dataclass(frozen=True)
class HomePanel:
    template: str
    roles: frozenset
    context: Callable[[object], dict] = field(default=lambda user: {})
    order: int = 100


NAV: list[NavItem] = []
HOME_PANELS: list[HomePanel] = []


def register_nav(endpoint: str, label, roles: Iterable[Role], order: int = 100, icon: str = "",
                 group: str | None = None) -> None:
    roles = frozenset(roles)
    # the same page may be registered again for other roles in another menu (not twice for a role)
    if any(item.endpoint == endpoint and item.roles & roles for item in NAV):
        return
    if group is not None and group not in NAV_GROUPS:
        raise ValueError(f"unknown navigation group {group!r}")
    NAV.append(NavItem(endpoint, label, roles, order, icon, group))
    NAV.sort(key=lambda i: i.order)


def register_home_panel(template: str, roles: Iterable[Role], context=None, order: int = 100) -> None:
    if any(p.template == template for p in HOME_PANELS):
        return
    HOME_PANELS.append(HomePanel(template, frozenset(roles), context or (lambda user: {}), order))
    HOME_PANELS.sort(key=lambda p: p.order)


def nav_for(user) -> list[NavItem | NavGroup]:
    """The top bar of `user`: links and menus, in order; a menu with one item is that link."""
    if not getattr(user, "is_authenticated", False):
        return []
    entries: list[NavItem | NavGroup] = []
    groups: dict[str, NavGroup] = {}
    for item in NAV:
        if user.role not in item.roles:
            continue
        if item.group is None:
            entries.append(item)
            continue
        if item.group not in groups:
            label, order = NAV_GROUPS[item.group]
            groups[item.group] = NavGroup(item.group, label, order, [])
            entries.append(groups[item.group])
        groups[item.group].items.append(item)
    entries = [e.items[0] if isinstance(e, NavGroup) and len(e.items) == 1 else e for e in entries]
    return sorted(entries, key=lambda e: e.order)


def panels_for(user) -> list[tuple[HomePanel, dict]]:
    return [(p, p.context(user)) for p in HOME_PANELS if user.role in p.roles]


def nav_menu():
    """The top bar's links and menus (templates/core/_nav.html) for the signed-in user on this
    page. They depend only on the role, the language, the page and the address the portal is
    mounted at, so each combination is rendered once per process and kept (a few hundred at most:
    six roles, two languages, the pages of a role's menus)."""
    from flask import current_app, request
    from flask_login import current_user
    from markupsafe import Markup

    from portal.core.i18n import current_lang

    signed_in = current_user.is_authenticated
    key = (current_user.role if signed_in else None, current_lang(), request.endpoint, request.script_root)
    menus = current_app.extensions.setdefault("portal.nav_menus", {})
    html = menus.get(key)
    if html is None:
        template = current_app.jinja_env.get_template("core/_nav.html")
        # an .html template: Jinja escaped every value in it (autoescape), so its output is markup
        html = Markup(template.render(nav_items=nav_for(current_user), endpoint=request.endpoint))  # noqa: S704
        if len(menus) < 4096:  # bounded whatever the requests (an unknown path has no endpoint: one key)
            menus[key] = html
    return html
