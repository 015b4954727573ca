"""Configuration read from the environment (see the table in README.md)."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ConfigError(RuntimeError):
    """The environment does not describe a runnable portal."""


def _bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def load_config(instance_path: str, override: dict | None = None) -> dict:
    """Build the Flask config from the environment; `override` (tests) wins over everything."""
    override = dict(override or {})
    debug = _bool("PORTAL_DEBUG") or _bool("FLASK_DEBUG")
    demo = _bool("PORTAL_DEMO")
    testing = bool(override.get("TESTING"))
    default_db = "sqlite:///" + str(Path(instance_path) / "portal.sqlite3")
    data_dir = os.environ.get("PORTAL_DATA_DIR") or str(Path(instance_path) / "data")

    secret = os.environ.get("SECRET_KEY") or override.get("SECRET_KEY")
    if not secret:
        if debug or demo or testing:
            secret = "insecure-development-key-change-me"  # noqa: S105 - only for debug/demo/tests
        else:
            raise ConfigError(
                "SECRET_KEY is not set. Set SECRET_KEY to a long random string "
                "(python -c 'import secrets; print(secrets.token_hex(32))'), "
                "or run in demo mode with PORTAL_DEMO=1."
            )

    config = {
        "SECRET_KEY": secret,
        "DEBUG": debug,
        "PORTAL_DEMO": demo,
        "SQLALCHEMY_DATABASE_URI": _normalise_db_url(os.environ.get("DATABASE_URL") or default_db),
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "PORTAL_DATA_DIR": data_dir,
        # Sessions and cookies
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": not (debug or demo or testing) and not _bool("PORTAL_INSECURE_COOKIES"),
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "PERMANENT_SESSION_LIFETIME": 8 * 3600,
        "WTF_CSRF_TIME_LIMIT": 8 * 3600,
        "MAX_CONTENT_LENGTH": int(os.environ.get("PORTAL_MAX_UPLOAD_MB", "200")) * 1024 * 1024,
        # i18n
        "BABEL_DEFAULT_LOCALE": "zh_Hans_CN",
        "BABEL_DEFAULT_TIMEZONE": "Asia/Shanghai",
        "BABEL_TRANSLATION_DIRECTORIES": str(PROJECT_ROOT / "portal" / "translations"),
        # Static assets (Bootstrap-Flask ships Bootstrap 5 files inside its wheel)
        "BOOTSTRAP_SERVE_LOCAL": True,
        # Rate limits and queue
        "REDIS_URL": os.environ.get("REDIS_URL") or None,
        "RATELIMIT_ENABLED": not testing,
        "RATELIMIT_LOGIN": os.environ.get("PORTAL_LOGIN_RATE_LIMIT", "30 per minute"),
        "RATELIMIT_KEY_PREFIX": os.environ.get("PORTAL_RATELIMIT_PREFIX", "portal"),
        # Redis down: count in this process's memory meanwhile instead of failing sign-in with a 500.
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        "RATELIMIT_SWALLOW_ERRORS": True,
        # Reverse proxies in front of the portal whose X-Forwarded-For/-Proto/-Host are trusted
        # (0: none; the client address is the TCP peer). See docs/deploy.md.
        "PORTAL_PROXY_HOPS": int(os.environ.get("PORTAL_PROXY_HOPS", "0")),
        # Account safety
        "LOGIN_MAX_FAILURES": 5,
        "LOGIN_LOCKOUT_MINUTES": 15,
        "PASSWORD_RESET_MAX_AGE": 3600,
        "INVITATION_MAX_AGE": 7 * 24 * 3600,
        # argon2id parameters (RFC 9106 "second recommended" option)
        "ARGON2_TIME_COST": 3,
        "ARGON2_MEMORY_COST": 64 * 1024,
        # Mail: SMTP when configured, otherwise the outbox table
        "SMTP_HOST": os.environ.get("SMTP_HOST") or None,
        "SMTP_PORT": int(os.environ.get("SMTP_PORT", "587")),
        "SMTP_USERNAME": os.environ.get("SMTP_USERNAME") or None,
        "SMTP_PASSWORD": os.environ.get("SMTP_PASSWORD") or None,
        "SMTP_STARTTLS": _bool("SMTP_STARTTLS", True),
        "SMTP_FROM": os.environ.get("SMTP_FROM", "portal@localhost"),
        "PORTAL_BASE_URL": os.environ.get("PORTAL_BASE_URL", "http://127.0.0.1:8000"),
        # Stripe (payout issue)
        "STRIPE_API_KEY": os.environ.get("STRIPE_API_KEY") or None,
        "STRIPE_WEBHOOK_SECRET": os.environ.get("STRIPE_WEBHOOK_SECRET") or None,
        "STRIPE_CONNECT_WEBHOOK_SECRET": os.environ.get("STRIPE_CONNECT_WEBHOOK_SECRET") or None,
        "STRIPE_API_BASE": os.environ.get("STRIPE_API_BASE") or "https://api.stripe.com",
        # API documentation (flask-smorest)
        "API_TITLE": "Agent-channel partner portal API",
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/api/v1",
        "OPENAPI_JSON_PATH": "openapi.json",
    }
    config.update(override)
    if "SQLALCHEMY_DATABASE_URI" in override:
        config["SQLALCHEMY_DATABASE_URI"] = _normalise_db_url(override["SQLALCHEMY_DATABASE_URI"])
    return config


def _normalise_db_url(url: str) -> str:
    """Accept `postgres://` and `postgresql://` URLs and use the psycopg 3 driver for them."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url
