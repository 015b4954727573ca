"""Language choice and display helpers (money, dates) for templates."""

from __future__ import annotations

from datetime import date, datetime

from flask import has_request_context, request, session
from flask_babel import get_locale
from flask_login import current_user

from portal.core.money import format_fen
from portal.core.time import format_datetime_local

LOCALES = {"zh_Hans_CN": "中文", "en": "English"}
DEFAULT_LOCALE = "zh_Hans_CN"


def normalise_locale(value: str | None) -> str | None:
    """Map 'zh', 'zh-CN', 'zh_CN', 'zh_Hans_CN' → 'zh_Hans_CN'; 'en*' → 'en'; else None."""
    if not value:
        return None
    v = value.strip().replace("-", "_").lower()
    if v.startswith("zh"):
        return "zh_Hans_CN"
    if v.startswith("en"):
        return "en"
    return None


def select_locale() -> str:
    """The user's saved choice, else the session's, else the browser's Accept-Language.
    Outside a request (CLI, background jobs) the default locale."""
    if not has_request_context():
        return DEFAULT_LOCALE
    if current_user and current_user.is_authenticated and normalise_locale(current_user.locale):
        return normalise_locale(current_user.locale)
    chosen = normalise_locale(session.get("locale"))
    if chosen:
        return chosen
    for lang, _quality in request.accept_languages:
        found = normalise_locale(lang)
        if found:
            return found
    return DEFAULT_LOCALE


def current_lang() -> str:
    """'zh' or 'en' for the request's language."""
    locale = get_locale()
    return "en" if locale is not None and locale.language == "en" else "zh"


def localized(obj, field: str, lang: str | None = None) -> str:
    """`obj.<field>_zh` or `obj.<field>_en` by the current language (or `lang`, when a page
    already knows it), falling back to the other."""
    lang = lang or current_lang()
    other = "zh" if lang == "en" else "en"
    return getattr(obj, f"{field}_{lang}", None) or getattr(obj, f"{field}_{other}", "") or ""


def money_filter(fen: int | None) -> str:
    return format_fen(fen)


def local_datetime_filter(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return format_datetime_local(value, fmt)


def date_filter(value: date | None) -> str:
    return value.isoformat() if value else ""


def init_app(app) -> None:
    app.jinja_env.filters["money"] = money_filter
    app.jinja_env.filters["localtime"] = local_datetime_filter
    app.jinja_env.filters["isodate"] = date_filter
    app.jinja_env.globals["localized"] = localized
    app.jinja_env.globals["current_lang"] = current_lang
    app.jinja_env.globals["LOCALES"] = LOCALES
