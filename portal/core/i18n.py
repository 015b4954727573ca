"""Language choice and display helpers (money, dates) for templates."""

from __future__ import annotations

from datetime import date, datetime

from babel.support import NullTranslations
from flask import g, has_request_context, request, session
from flask_babel import Domain, get_domain, get_locale
from flask_babel import _get_current_context as _babel_namespace
from flask_login import current_user

from portal.core.money import format_fen
from portal.core.time import format_datetime_local

LOCALES = {"zh_Hans_CN": "中文", "en": "English"}
DEFAULT_LOCALE = "zh_Hans_CN"
_NULL = NullTranslations()


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


def request_translations():
    """The translations of the request's language, looked up once per request (or per
    `force_locale` block).

    Flask-Babel finds them again for every string: the request's namespace, the locale, its
    identifier, the domain's cache — about 15 µs a string, and a statement page has some 130
    strings. The answer is kept in the slot Flask-Babel 4 keeps for it on its request namespace
    (`babel_translations`), which `force_locale` (e-mails in the recipient's language) and
    `refresh` (a language just chosen) empty and restore; the version is pinned in pyproject.toml
    and tests/test_translations.py checks both."""
    try:
        store = g._get_current_object()
    except RuntimeError:  # no application context: nothing to translate into
        return _NULL
    namespace = store.__dict__.get("_flask_babel")
    translations = getattr(namespace, "babel_translations", None) if namespace is not None else None
    if translations is None:
        translations = Domain.get_translations(get_domain())
        _babel_namespace().babel_translations = translations
    return translations


class RequestCachedDomain(Domain):
    """Flask-Babel's default domain, answering from `request_translations` (so `gettext`,
    `lazy_gettext` and the templates all share the request's look-up)."""

    def get_translations(self):
        return request_translations()


def init_app(app) -> None:
    # The default domain and the templates' gettext go through the request's cached translations.
    app.extensions["babel"].instance.domain_instance = RequestCachedDomain()
    app.jinja_env.install_gettext_callables(
        gettext=lambda s: request_translations().ugettext(s),
        ngettext=lambda s, p, n: request_translations().ungettext(s, p, n),
        newstyle=True,
        pgettext=lambda c, s: request_translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: request_translations().unpgettext(c, s, p, n),
    )
    app.jinja_env.filters["money"] = money_filter
    app.jinja_env.filters["localtime"] = local_datetime_filter
    app.jinja_env.filters["isodate"] = date_filter
    app.jinja_env.globals["localized"] = localized
    app.jinja_env.globals["current_lang"] = current_lang
    app.jinja_env.globals["LOCALES"] = LOCALES
