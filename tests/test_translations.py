"""Every string of the code and templates has a Chinese translation (no untranslated UI text)."""

from tools.i18n import missing_messages


def test_every_string_is_translated():
    missing = [(m.id, m.locations[0]) for m in missing_messages()]
    assert missing == [], f"{len(missing)} untranslated string(s); see `python tools/i18n.py check`"


def test_chinese_catalog_is_used(client):
    html = client.get("/login", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "登录" in html and "Sign in" not in html.split("<main")[1]
