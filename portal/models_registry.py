"""Imports every model module so that the metadata is complete (Alembic, create_all)."""

import catalog.models  # noqa: F401
import portal.core.models
import portal.partners.models  # noqa: F401

OPTIONAL = [
    "portal.leads.models",
    "portal.api.models",
    "commissions.ingest.models",
    "commissions.models",
    "commissions.payouts.models",
    "portal.enablement.models",
]

import importlib  # noqa: E402

for _name in OPTIONAL:
    try:
        importlib.import_module(_name)
    except ModuleNotFoundError as exc:  # a package whose models do not exist yet
        if not (_name == exc.name or _name.startswith(f"{exc.name}.")):
            raise
