"""The application factory: configuration, extensions, blueprints, CLI."""

from __future__ import annotations

import importlib
import logging
import os
import time
import uuid
from pathlib import Path

import sqlalchemy as sa
from flask import Flask, g, jsonify, render_template, request
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.exceptions import HTTPException

from portal.config import PROJECT_ROOT, load_config
from portal.core import context, i18n, urls
from portal.core.db import configure_engine, db, end_read_only
from portal.core.extensions import babel, bootstrap, csrf, limiter, login_manager, migrate
from portal.core.forms import EmptyForm
from portal.core.models import User
from portal.core.nav import nav_menu

log = logging.getLogger("portal")

# Every blueprint of the portal; only this module knows them all.
BLUEPRINT_MODULES = [
    "portal.core.views",
    "portal.core.auth_views",
    "portal.core.admin_views",
    "catalog.views",
    "portal.partners.views",
    "portal.leads.views",
    "commissions.views",
    "commissions.ingest.views",
    "commissions.payouts.views",
    "portal.enablement.views",
    "portal.dashboards.views",
]
# Modules that define `register_cli(app)`.
CLI_MODULES = [
    "portal.cli",
    "catalog.cli",
    "portal.partners.cli",
    "portal.leads.cli",
    "commissions.cli",
    "commissions.ingest.cli",
    "commissions.payouts.cli",
    "portal.enablement.cli",
]
# Modules imported for their side effects (rules the core consults, notification texts).
RULE_MODULES = [
    "portal.partners.rules",
    "portal.leads.rules",
    "commissions.rules",
    "commissions.payouts.rules",
    "portal.enablement.rules",
]


def _optional_import(name: str):
    """Import a module of a feature package; None while that package does not have it yet."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if name == exc.name or name.startswith(f"{exc.name}."):
            return None
        raise

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)


def create_app(config_override: dict | None = None) -> Flask:
    app = Flask(
        "portal",
        instance_path=os.environ.get("PORTAL_INSTANCE_PATH") or str(PROJECT_ROOT / "instance"),
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "portal" / "static"),
    )
    app.config.update(load_config(app.instance_path, config_override))
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    Path(app.config["PORTAL_DATA_DIR"]).mkdir(parents=True, exist_ok=True)
    _configure_logging(app)

    import portal.models_registry  # noqa: F401 - every model, for create_all and Alembic

    db.init_app(app)
    with app.app_context():
        configure_engine(db.engine)
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "portal" / "migrations"))
    csrf.init_app(app)
    babel.init_app(app, locale_selector=i18n.select_locale, timezone_selector=lambda: "Asia/Shanghai")
    bootstrap.init_app(app)
    if "RATELIMIT_STORAGE_URI" not in app.config:
        app.config["RATELIMIT_STORAGE_URI"] = app.config.get("REDIS_URL") or "memory://"
    limiter.init_app(app)
    _configure_login(app)
    i18n.init_app(app)

    for name in RULE_MODULES:
        _optional_import(name)
    for name in BLUEPRINT_MODULES:
        module = _optional_import(name)
        if module is not None:
            app.register_blueprint(module.bp)
    if os.environ.get("PORTAL_BENCH_FLOOR") == "1":  # bench/load.py only
        from portal.core.bench_floor import bp as bench_floor_bp

        app.register_blueprint(bench_floor_bp)
    from portal.api import init_api

    init_api(app)
    for name in CLI_MODULES:
        module = _optional_import(name)
        if module is not None:
            module.register_cli(app)

    _register_request_hooks(app)
    _register_error_handlers(app)
    urls.init_app(app)  # last: it checks that no blueprint added URL defaults
    hops = app.config.get("PORTAL_PROXY_HOPS") or 0
    if hops:  # the client address (rate limits, audit log) and scheme come from the trusted proxy
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    return app


def _configure_logging(app: Flask) -> None:
    class RequestIdFilter(logging.Filter):
        def filter(self, record):
            try:
                record.request_id = g.get("request_id", "-")
            except RuntimeError:
                record.request_id = "-"
            return True

    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"))
    handler.addFilter(RequestIdFilter())
    portal_log = logging.getLogger("portal")
    if not any(getattr(h, "_portal", False) for h in portal_log.handlers):
        handler._portal = True
        portal_log.addHandler(handler)
    portal_log.setLevel(logging.INFO if not app.testing else logging.WARNING)
    portal_log.propagate = False


def _configure_login(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = None
    login_manager.session_protection = "basic"

    import sqlalchemy as sa
    from sqlalchemy import orm as so

    from portal.core.models import Notification

    # One query per signed-in request: the user, its agency (for the sign-in rules) and the unread
    # notification count for the navigation bar. Regions and the agency's own relationships load
    # only when a page uses them (most agency pages do not).
    unread = (
        sa.select(sa.func.count())
        .select_from(Notification)
        .where(Notification.user_id == User.id, Notification.read_at.is_(None))
        .correlate(User)
        .scalar_subquery()
    )

    # Built once: the statement and its cache key are reused by every request.
    by_id = (
        sa.select(User, unread)
        .where(User.id == sa.bindparam("user_id"))
        .options(so.lazyload(User.regions), so.joinedload(User.agency).lazyload("*"))
    )

    @login_manager.user_loader
    def load_user(user_id: str):
        try:
            raw_id, version = user_id.split(":")
            row = db.session.execute(by_id, {"user_id": int(raw_id)}).first()
        except (ValueError, TypeError):
            return None
        user, count = row if row is not None else (None, 0)
        if user is None or str(user.session_version) != version or not user.is_enabled:
            return None
        from portal.core.operations import agency_allows_sign_in

        if not agency_allows_sign_in(user):
            return None
        # Kept for this request only (the WSGI environ), dropped by any write in it (see _inject).
        request.environ[UNREAD_KEY] = count
        return user


def _end_read_only() -> None:
    """A request that only read ends with COMMIT, keeping its connection's prepared statements
    (see `portal.core.db.end_read_only`)."""
    try:
        end_read_only(db.session())
    except sa.exc.SQLAlchemyError:  # the answer is made: the rollback that follows cleans up
        logging.getLogger("portal").exception("ending a read-only transaction failed")


def _register_request_hooks(app: Flask) -> None:
    @app.before_request
    def _start():
        g.request_id = request.headers.get("X-Request-ID", "")[:64] or uuid.uuid4().hex
        g.started = time.perf_counter()
        user = current_user if current_user.is_authenticated else None
        g.actor_token = context.set_actor(context.Actor(
            user_id=user.id if user else None,
            label=user.email if user else "anonymous",
            ip=request.remote_addr,
            request_id=g.request_id,
        ))

    @app.after_request
    def _headers(response):
        response.headers["X-Request-ID"] = g.get("request_id", "")
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        if app.config["SESSION_COOKIE_SECURE"]:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        if current_user.is_authenticated:
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.teardown_request
    def _end(exc):
        token = g.pop("actor_token", None)
        if token is not None:
            context.reset_actor(token)
        if exc is None:  # before Flask-SQLAlchemy's teardown rolls the session back
            _end_read_only()
        from portal.core.notify import deliver_in_background

        if exc is None and app.config.get("SMTP_HOST"):
            deliver_in_background(app)

    import base64

    from portal.core.forms import ROLE_LABELS

    app.jinja_env.filters["b64encode"] = lambda text: base64.b64encode(text.encode("utf-8")).decode("ascii")
    app.jinja_env.globals["role_label"] = lambda role: ROLE_LABELS.get(role, role)
    app.jinja_env.globals["url_rules"] = {rule.endpoint for rule in app.url_map.iter_rules()}
    app.jinja_env.globals["nav_menu"] = nav_menu

    _forget_unread_count_on_writes()

    class LazyPostForm:
        """`post_form` for templates: the form, and with it the CSRF token (which starts a session),
        is made only when a template uses it; a page that does not use it stays sessionless."""

        __slots__ = ("_form",)

        def __init__(self):
            self._form = None

        def __getattr__(self, name):
            if self._form is None:
                self._form = EmptyForm()
            return getattr(self._form, name)

    @app.context_processor
    def _inject():
        from portal.core.notify import unread_count

        if not current_user.is_authenticated:
            unread = 0
        else:
            unread = request.environ.get(UNREAD_KEY)
            if unread is None:  # something was written since the user was loaded: count again
                unread = request.environ[UNREAD_KEY] = unread_count(current_user.id)
        return {"unread_notifications": unread,
                "post_form": LazyPostForm()}


UNREAD_KEY = "portal.unread_notifications"  # the request's unread count, read with the user


def _forget_unread_count_on_writes() -> None:
    """The unread count read with the user (see `_configure_login`) stays valid until the request
    writes: any row added, flush or bulk DML in a request drops it, and the navigation bar counts
    again (its query flushes what was added)."""
    import sqlalchemy as sa
    from flask import has_request_context
    from sqlalchemy import orm as so

    if getattr(_forget_unread_count_on_writes, "installed", False):
        return
    _forget_unread_count_on_writes.installed = True

    def forget() -> None:
        if has_request_context():
            request.environ.pop(UNREAD_KEY, None)

    @sa.event.listens_for(so.Session, "after_flush")
    def _after_flush(session, flush_context):
        forget()

    @sa.event.listens_for(so.Session, "transient_to_pending")
    def _added(session, instance):  # a row added to be written at the next flush (a notification)
        forget()

    @sa.event.listens_for(so.Session, "do_orm_execute")
    def _bulk_dml(state):
        if state.is_insert or state.is_update or state.is_delete:
            forget()


def _register_error_handlers(app: Flask) -> None:
    def wants_json() -> bool:
        return request.path.startswith("/api/") or request.path == "/stripe/webhook"

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        if wants_json():
            code = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                    405: "method_not_allowed", 409: "conflict", 413: "too_large", 415: "unsupported_media",
                    422: "invalid", 429: "rate_limited"}.get(exc.code, "error")
            message = exc.description if exc.code != 422 else "The request is not valid."
            data = getattr(exc, "data", None) or {}
            body = {"error": {"code": code, "message": message}}
            if data.get("messages"):
                body["error"]["details"] = data["messages"]
            return jsonify(body), exc.code
        if exc.code in (403, 404, 429, 400, 405, 413):
            return render_template(f"errors/{exc.code if exc.code in (403, 404) else 'generic'}.html",
                                   error=exc), exc.code
        return exc

    @app.errorhandler(500)
    def _server_error(exc):
        log.exception("unhandled error: %s", exc)
        if wants_json():
            return jsonify({"error": {"code": "server_error", "message": _("Internal error.")}}), 500
        return render_template("errors/500.html"), 500
