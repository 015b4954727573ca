"""Templates' `url_for` keeps the URLs it built (portal.core.urls): the same links as Flask's,
per mount point, with external URLs built each time."""

from __future__ import annotations

from flask import url_for as flask_url_for

from portal.core import urls


def test_kept_links_are_flasks_links_per_mount_point(app):
    calls = [("static", {"filename": "css/portal.css"}), ("catalog.product", {"code": "GRP-SMS"}),
             ("leads.index", {"status": "approved", "page": 2}), ("leads.index", {"page": 2, "status": "approved"}),
             ("core.home", {})]
    for script_root in ("", "/portal"):
        with app.test_request_context("/", base_url=f"http://localhost{script_root}/"):
            for endpoint, values in calls:
                first = urls.url_for(endpoint, **values)
                assert first == flask_url_for(endpoint, **values)
                assert first.startswith(script_root + "/")
                assert urls.url_for(endpoint, **values) == first  # the kept one
    with app.test_request_context("/", base_url="http://localhost/portal/"):
        assert urls.url_for("core.home") == "/portal/"
    with app.test_request_context("/"):
        assert urls.url_for("core.home") == "/"


def test_external_links_and_values_that_cannot_be_keys_are_built_each_time(app):
    with app.test_request_context("/", base_url="https://portal.example.cn"):
        assert urls.url_for("core.home", _external=True) == "https://portal.example.cn/"
    with app.test_request_context("/", base_url="https://intranet.example.cn"):
        assert urls.url_for("core.home", _external=True) == "https://intranet.example.cn/"
        assert urls.url_for("leads.index", status=["a", "b"]) == flask_url_for("leads.index", status=["a", "b"])


def test_templates_use_the_kept_links(app):
    assert app.jinja_env.globals["url_for"] is urls.url_for
