"""Every string of the code and templates has a Chinese translation (no untranslated UI text)."""

from tools.i18n import missing_messages


def test_every_string_is_translated():
    missing = [(m.id, m.locations[0]) for m in missing_messages()]
    assert missing == [], f"{len(missing)} untranslated string(s); see `python tools/i18n.py check`"


def test_chinese_catalog_is_used(client):
    html = client.get("/login", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "登录" in html and "Sign in" not in html.split("<main")[1]


def test_templates_have_no_bare_english_text():
    """Every word a user reads in a template goes through the catalog: no English text outside
    `_()` between tags or in placeholder/title/aria-label/alt/data-confirm attributes."""
    import re
    from pathlib import Path

    allowed = {"CSV", "XLSX", "user.", "users"}  # file formats; the audit filter's examples of object types
    root = Path(__file__).resolve().parent.parent / "templates"
    bare = []
    for path in sorted(root.rglob("*.html")):
        if path.name == "bench_floor.html":  # the load benchmark's reference page, never shown to users
            continue
        text = re.sub(r"\{#.*?#\}|\{\{.*?\}\}|\{%.*?%\}", " ", path.read_text(encoding="utf-8"), flags=re.S)
        text = re.sub(r"<(script|style)\b.*?</\1>", " ", text, flags=re.S)
        for attr, value in re.findall(r'\b(placeholder|title|aria-label|alt|data-confirm)="([^"]*)"', text):
            if re.search(r"[A-Za-z]{3,}", value) and value.strip() not in allowed:
                bare.append(f"{path.relative_to(root)}: {attr}={value!r}")
        for chunk in re.sub(r"<[^>]+>", "\n", text).splitlines():
            chunk = chunk.strip()
            if re.search(r"[A-Za-z]{3,}", chunk) and chunk not in allowed:
                bare.append(f"{path.relative_to(root)}: {chunk!r}")
    assert bare == []


def test_the_request_translations_follow_force_locale_and_refresh(app):
    """The request's translations are looked up once (portal.core.i18n.request_translations) and
    still change where the language does: inside `force_locale` (e-mails in the recipient's
    language), after `refresh` (a language chosen during the request), and in templates."""
    from flask import render_template_string, session
    from flask_babel import force_locale, gettext, lazy_gettext, refresh

    label = lazy_gettext("Sign in")
    with app.test_request_context("/", headers={"Accept-Language": "zh-CN"}):
        assert gettext("Sign in") == "登录" == str(label)
        with force_locale("en"):
            assert gettext("Sign in") == "Sign in" == render_template_string("{{ _('Sign in') }}")
            with force_locale("zh_Hans_CN"):
                assert gettext("Sign in") == "登录"
            assert gettext("Sign in") == "Sign in"
        assert gettext("Sign in") == "登录" == render_template_string("{{ _('Sign in') }}")
        session["locale"] = "en"
        assert gettext("Sign in") == "登录"  # the request's language was chosen already
        refresh()
        assert gettext("Sign in") == "Sign in" == str(label)
    with app.test_request_context("/", headers={"Accept-Language": "en"}):
        assert gettext("Sign in") == "Sign in"  # a new request looks up its own language
    with app.app_context():
        from commissions.i18n import gettext as job_gettext

        assert job_gettext("Sign in") == "Sign in"  # background jobs and the CLI: English
