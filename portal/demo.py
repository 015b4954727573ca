"""`portal demo`: demo data for every feature, loaded in dependency order.

Each feature package has a `demo` module with `load(ctx)`; `ctx` carries what earlier loaders
made (regions, users, agencies, products …) so that later ones can refer to them."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

import sqlalchemy as sa

from portal.core.db import db
from portal.core.models import User

DEMO_PASSWORD = "demo-password-2026"  # noqa: S105 - published demo sign-in (SPEC §8)
DEMO_TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"  # noqa: S105 - published demo TOTP secret

LOADERS = [
    "portal.core.demo",
    "catalog.demo",
    "portal.partners.demo",
    "portal.leads.demo",
    "commissions.demo",
    "commissions.payouts.demo",
    "portal.enablement.demo",
]


class DemoRefused(RuntimeError):
    pass


@dataclass
class DemoContext:
    regions: dict = field(default_factory=dict)
    users: dict = field(default_factory=dict)
    agencies: dict = field(default_factory=dict)
    products: dict = field(default_factory=dict)
    customers: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)
    summary: list = field(default_factory=list)


def database_is_empty() -> bool:
    return not db.session.scalar(sa.select(sa.func.count()).select_from(User))


def demo_is_loaded() -> bool:
    return db.session.scalar(sa.select(User.id).where(User.email == "admin@demo.local")) is not None


def load_demo(force: bool = False) -> list[str]:
    """Load the demo data in one transaction: all of it, or (on any failure) nothing.

    An empty database is required unless `force`; even with `force`, a database that already
    holds the demo is refused (the demo is not loaded twice)."""
    if not database_is_empty() and not force:
        raise DemoRefused("The database is not empty; `portal demo --force` loads the demo anyway.")
    if demo_is_loaded():
        raise DemoRefused("The demo data is already loaded (admin@demo.local exists); nothing was changed.")
    ctx = DemoContext()
    try:
        for name in LOADERS:
            try:
                module = importlib.import_module(name)
            except ModuleNotFoundError as exc:
                if name == exc.name or name.startswith(f"{exc.name}."):
                    continue  # a package that has no demo data yet
                raise
            module.load(ctx)
            db.session.flush()
    except Exception as exc:
        db.session.rollback()
        raise DemoRefused(f"The demo data does not fit this database ({type(exc).__name__}: {exc}); "
                          "nothing was changed.") from exc
    db.session.commit()
    return ctx.summary
