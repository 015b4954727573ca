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
