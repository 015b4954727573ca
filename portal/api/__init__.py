"""JSON API under /api/v1 with an OpenAPI 3 document at /api/v1/openapi.json (flask-smorest).

Each module in API_MODULES exposes `blp`, a flask-smorest Blueprint with url_prefix under /api/v1."""

from __future__ import annotations

import importlib

from flask_smorest import Api

from portal.core.extensions import csrf

api = Api()

API_MODULES = ["portal.api.resources", "commissions.ingest.api", "commissions.api"]


def init_api(app) -> None:
    """Register the API blueprints (CSRF-exempt: they authenticate by bearer token only);
    the OpenAPI document lists only them."""
    api.init_app(app, spec_kwargs={"info": {"description": "Agent-channel partner portal API"}})
    for name in API_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if name == exc.name or name.startswith(f"{exc.name}."):
                continue
            raise
        # Bearer tokens only, never cookies: CSRF does not apply to the API.
        csrf.exempt(module.blp)
        api.register_blueprint(module.blp)
