"""Per-request work every page pays: a page that shows no form starts no session (the benchmark
floor is such a page); `post_form` still renders a valid CSRF field where a template uses it."""

from __future__ import annotations

from flask import render_template_string, session


def test_a_page_without_a_form_starts_no_session(app):
    with app.test_request_context("/"):
        assert render_template_string("<p>{{ 1 + 1 }}</p>") == "<p>2</p>"
        assert "csrf_token" not in session and not session.modified


def test_post_form_and_the_base_template_render_the_same_csrf_field(app, monkeypatch):
    from flask_wtf.csrf import generate_csrf

    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)  # the tests' app turns CSRF off
    field = '<input id="csrf_token" name="csrf_token" type="hidden" value="{}">'
    with app.test_request_context("/"):
        assert render_template_string("{{ post_form.csrf_token }}") == field.format(generate_csrf())
        assert "csrf_token" in session
        assert render_template_string('{% extends "base.html" %}').count(field.format(generate_csrf())) == 1
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", False)
    with app.test_request_context("/"):
        assert render_template_string("{{ post_form.csrf_token }}") == ""
        assert 'name="csrf_token"' not in render_template_string('{% extends "base.html" %}')
