"""Audit log, administration of users, languages, notifications, health check, headers, errors."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from portal.core import audit
from portal.core.db import db
from portal.core.models import AuditLog, Notification, Role, User
from portal.core.money import format_fen, yuan_to_fen
from portal.core.notify import notify
from tests.factories import PASSWORD, TOTP_SECRET


def test_sign_in_writes_an_audit_record(client, make):
    user = make.user(Role.AGENCY_OWNER)
    client.post("/login", data={"email": user.email, "password": PASSWORD})
    record = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "auth.sign_in",
                                                         AuditLog.object_id == str(user.id)))
    assert record is not None
    assert record.object_type == "users"
    assert (record.actor_id, record.actor_label) == (user.id, user.email)  # not "anonymous"
    assert record.ip == "127.0.0.1"
    assert record.request_id


def test_admin_changes_a_role_and_the_audit_log_shows_before_and_after(client, make, login):
    admin = make.user(Role.ADMIN)
    gz, sz = make.region("GZ"), make.region("SZ")
    staff = make.user(Role.ACCOUNT_MANAGER, regions=[gz])
    login(admin)
    response = client.post(f"/admin/users/{staff.id}", data={"role": "channel_manager", "regions": [gz.id, sz.id],
                                                               "enabled": "y"})
    assert response.status_code == 302
    db.session.refresh(staff)
    assert staff.role == Role.CHANNEL_MANAGER
    assert staff.region_ids == {gz.id, sz.id}
    record = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "user.role_change",
                                                         AuditLog.object_id == str(staff.id)))
    assert record.before == {"role": "account_manager", "regions": ["GZ"]}
    assert record.after == {"role": "channel_manager", "regions": ["GZ", "SZ"]}
    assert record.actor_id == admin.id and record.actor_label == admin.email
    page = client.get("/admin/audit?action=user.role_change", headers={"Accept-Language": "en"})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "user.role_change" in html and "channel_manager" in html


def test_role_change_ends_the_users_sessions(app, client, make, login):
    admin = make.user(Role.ADMIN)
    staff = make.user(Role.FINANCE)
    staff_client = app.test_client()
    login(staff, staff_client)
    assert staff_client.get("/account").status_code == 200
    login(admin)
    client.post(f"/admin/users/{staff.id}", data={"role": "admin", "enabled": "y"})
    assert staff_client.get("/account").status_code == 302


def test_agency_roles_cannot_be_turned_into_staff(client, make, login):
    admin = make.user(Role.ADMIN)
    owner = make.user(Role.AGENCY_OWNER)
    login(admin)
    client.post(f"/admin/users/{owner.id}", data={"role": "admin", "enabled": "y"})
    db.session.refresh(owner)
    assert owner.role == Role.AGENCY_OWNER


def test_admin_creates_a_staff_user_who_must_enrol_in_two_factor(client, make, login):
    admin = make.user(Role.ADMIN)
    region = make.region("GZ")
    login(admin)
    response = client.post("/admin/users/new", data={
        "email": "new.cm@example.test", "name": "New CM", "role": "channel_manager",
        "regions": [region.id], "password": "long-enough-password"})
    assert response.status_code == 302
    user = db.session.scalar(sa.select(User).where(User.email == "new.cm@example.test"))
    assert user.role == Role.CHANNEL_MANAGER and not user.totp_enabled
    assert db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "user.create",
                                                        AuditLog.object_id == str(user.id)))


def test_admin_user_form_shows_errors(client, make, login):
    login(make.user(Role.ADMIN))
    response = client.post("/admin/users/new", data={"email": "not-an-email", "name": "", "role": "finance",
                                                      "password": "short"}, headers={"Accept-Language": "en"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Enter a valid e-mail address." in html
    assert "at least 10 characters" in html


@pytest.mark.parametrize(("lang", "text"), [("en", "A user with this e-mail address already exists."),
                                             ("zh-CN", "该电子邮箱已有用户。")])
def test_admin_sees_business_rule_errors_in_their_language(client, make, login, lang, text):
    login(make.user(Role.ADMIN))
    taken = make.user(Role.FINANCE)
    db.session.commit()  # the view rolls back its failed transaction; the users must survive it
    response = client.post("/admin/users/new", data={
        "email": taken.email, "name": "Twin", "role": "finance", "password": "long-enough-password"},
        headers={"Accept-Language": lang})
    assert response.status_code == 200
    assert text in response.get_data(as_text=True)


def test_audit_log_is_append_only(make):
    user = make.user(Role.ADMIN)
    entry = audit.record("test.event", user, before={"a": 1}, after={"a": 2})
    with pytest.raises(sa.exc.DatabaseError, match="append-only"), db.session.begin_nested():
        db.session.execute(sa.update(AuditLog).where(AuditLog.id == entry.id).values(action="tampered"))
    with pytest.raises(sa.exc.DatabaseError, match="append-only"), db.session.begin_nested():
        db.session.execute(sa.delete(AuditLog).where(AuditLog.id == entry.id))


def test_audit_page_filters_and_pages(client, make, login):
    admin = make.user(Role.ADMIN)
    for i in range(55):
        audit.record("bulk.thing", object_type="things", object_id=i)
    login(admin)
    first = client.get("/admin/audit?action=bulk.", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert first.count("<code>bulk.thing</code>") == 50
    assert "Older" in first
    assert client.get("/admin/audit?since=not-a-date").status_code == 400


@pytest.mark.parametrize(("header", "expected", "not_expected"), [
    ("zh-CN,zh;q=0.9", "欢迎", "Welcome,"),
    ("zh", "欢迎", "Welcome,"),
    ("en-US,en;q=0.8", "Welcome,", "欢迎"),
])
def test_home_page_in_both_languages(client, make, login, header, expected, not_expected):
    login(make.user(Role.AGENCY_OWNER))
    html = client.get("/", headers={"Accept-Language": header}).get_data(as_text=True)
    assert expected in html and not_expected not in html


def test_language_choice_is_saved_on_the_user(client, make, login):
    user = make.user(Role.AGENCY_SALES)
    login(user)
    response = client.post("/language", data={"locale": "en", "next": "/account"})
    assert response.headers["Location"] == "/account"
    db.session.refresh(user)
    assert user.locale == "en"
    html = client.get("/", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "Welcome," in html, "the saved choice wins over the browser's language"
    entry = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "user.locale",
                                                        AuditLog.object_id == str(user.id)))
    assert entry is not None and entry.after == {"locale": "en"}


def test_language_switch_for_anonymous_visitors(client):
    client.post("/language", data={"locale": "en"})
    assert "Sign in" in client.get("/login", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert client.post("/language", data={"locale": "fr"}).status_code == 400


def test_money_and_time_helpers():
    assert format_fen(123456) == "¥1,234.56"
    assert format_fen(-5) == "-¥0.05"
    assert yuan_to_fen("0.005") == 1  # half-up
    assert yuan_to_fen("1,280.00") == 128000
    with pytest.raises(ValueError):
        yuan_to_fen(1.1)


def test_notifications_list_unread_count_and_read(client, make, login):
    user = make.user(Role.AGENCY_OWNER)
    note = notify(user, "account.role_changed", {"role": "x"}, link="/account")
    login(user)
    html = client.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert 'data-testid="unread-count">1<' in html
    notifications = client.get("/notifications", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Your role was changed to x." in notifications
    response = client.post(f"/notifications/{note.id}/open")
    assert response.headers["Location"] == "/account"
    assert db.session.get(Notification, note.id).read_at is not None


def test_another_users_notification_is_not_found(client, make, login):
    owner = make.user(Role.AGENCY_OWNER)
    other = make.user(Role.AGENCY_OWNER)
    note = notify(other, "account.role_changed", {"role": "x"})
    login(owner)
    assert client.post(f"/notifications/{note.id}/open").status_code == 404


def test_notification_e_mail_goes_to_the_outbox_in_the_users_language(make):
    from portal.core.models import OutboxMessage

    user = make.user(Role.AGENCY_OWNER, locale="en")
    notify(user, "account.role_changed", {"role": "owner"})
    message = db.session.scalar(sa.select(OutboxMessage).where(OutboxMessage.recipient == user.email))
    assert message.subject.startswith("Agent portal:")
    assert "Your role was changed to owner." in message.body


def test_healthz_checks_the_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "ok"}


def test_security_headers_and_request_id(client):
    response = client.get("/login", headers={"X-Request-ID": "abc123"})
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["X-Request-ID"] == "abc123"


@pytest.mark.parametrize("path", ["/login", "/healthz", "/api/v1/openapi.json", "/no-such-page", "/apply"])
def test_every_answer_carries_the_security_headers(client, path):
    response = client.get(path)
    assert "default-src 'self'" in response.headers["Content-Security-Policy"], path
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_hsts_when_cookies_are_secure_and_no_store_for_signed_in_pages(app, client, make, login, monkeypatch):
    assert "Strict-Transport-Security" not in client.get("/login").headers  # plain-http tests and demo
    monkeypatch.setitem(app.config, "SESSION_COOKIE_SECURE", True)
    assert client.get("/login").headers["Strict-Transport-Security"].startswith("max-age=31536000")
    monkeypatch.setitem(app.config, "SESSION_COOKIE_SECURE", False)
    login(make.user(Role.ADMIN))
    assert client.get("/").headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(("lang", "text"), [("en", "went wrong"), ("zh-CN", "出错")])
def test_server_error_page_in_both_languages(app, lang, text, monkeypatch):
    """A crash answers the 500 page in the user's language (no traceback leaks)."""
    from pathlib import Path

    from tests.conftest import make_test_app

    crashing = make_test_app(app.config["SQLALCHEMY_DATABASE_URI"], Path(app.instance_path),
                             PROPAGATE_EXCEPTIONS=False)

    @crashing.route("/boom")
    def boom():
        raise RuntimeError("secret internals")

    from portal.core.permissions import public

    public(boom)
    response = crashing.test_client().get("/boom", headers={"Accept-Language": lang})
    assert response.status_code == 500
    body = response.get_data(as_text=True)
    assert text in body and "secret internals" not in body and "Traceback" not in body


def test_no_inline_scripts_or_styles_in_pages(client, make, login):
    login(make.user(Role.ADMIN))
    for url in ["/", "/account", "/admin/users", "/admin/audit", "/notifications"]:
        html = client.get(url).get_data(as_text=True)
        assert "<script>" not in html and " style=" not in html, url


@pytest.mark.parametrize(("lang", "text"), [("en", "Not found"), ("zh-CN", "未找到")])
def test_error_pages_in_both_languages(client, lang, text):
    response = client.get("/no-such-page", headers={"Accept-Language": lang})
    assert response.status_code == 404
    assert text in response.get_data(as_text=True)


def test_forbidden_page(client, make, login):
    login(make.user(Role.AGENCY_SALES))
    response = client.get("/admin/users", headers={"Accept-Language": "zh-CN"})
    assert response.status_code == 403
    assert "无权访问" in response.get_data(as_text=True)


def test_demo_refuses_a_non_empty_database(app):
    runner = app.test_cli_runner()
    with app.app_context():
        db.session.add(User(email="someone@example.test", name="x", role=Role.ADMIN, totp_secret=TOTP_SECRET))
        db.session.flush()
        result = runner.invoke(args=["demo"])
    assert result.exit_code != 0
    assert "not empty" in result.output


def test_demo_force_never_loads_the_demo_twice(isolated_app):
    """`portal demo --force` on a database that already holds the demo refuses cleanly (no traceback)
    and changes nothing."""
    runner = isolated_app.test_cli_runner()
    first = runner.invoke(args=["demo"])
    assert first.exit_code == 0, first.output
    with isolated_app.app_context():
        users = db.session.scalar(sa.select(sa.func.count()).select_from(User))
    again = runner.invoke(args=["demo", "--force"])
    assert again.exit_code == 1
    assert "already loaded" in again.output and "Traceback" not in again.output
    with isolated_app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == users


def test_admin_lists_the_enabled_users_of_one_role(client, make, login):
    from portal.core import operations as ops

    login(make.user(Role.ADMIN))
    finance = make.user(Role.FINANCE)
    disabled = make.user(Role.FINANCE)
    ops.set_enabled(disabled, False)
    other = make.user(Role.ACCOUNT_MANAGER)
    html = client.get("/admin/users", query_string={"role": "finance"}).get_data(as_text=True)
    assert finance.email in html
    assert other.email not in html and disabled.email not in html


def test_the_top_bar_groups_pages_in_menus(client, make, login):
    """Agency owners get Catalog, Leads and three menus; a menu with a single entry is a plain link."""
    from portal.core.nav import NavGroup, nav_for

    owner = make.user(Role.AGENCY_OWNER)
    entries = nav_for(owner)
    menus = {e.key: [i.endpoint for i in e.items] for e in entries if isinstance(e, NavGroup)}
    assert [e.endpoint for e in entries if not isinstance(e, NavGroup)][:2] == ["catalog.index", "leads.index"]
    assert menus["money"] == ["commissions.statements", "commissions.disputes", "payouts.mine"]
    assert menus["agency"] == ["partners.my_agency", "partners.agency_users", "leads.tokens"]
    assert "enablement.training" in menus["enablement"]
    channel = make.user(Role.CHANNEL_MANAGER)
    assert "commissions.exceptions" in [e.endpoint for e in nav_for(channel) if not isinstance(e, NavGroup)]
    # channel managers: applications and agencies in one menu; finance sees the agencies as a link
    assert {e.key: [i.endpoint for i in e.items] for e in nav_for(channel) if isinstance(e, NavGroup)}[
        "partners"] == ["partners.applications", "partners.agencies"]
    assert {e.key: [i.endpoint for i in e.items] for e in nav_for(channel) if isinstance(e, NavGroup)}[
        "catalog"] == ["catalog.index", "catalog.customers"]
    assert "partners.agencies" in [e.endpoint for e in nav_for(make.user(Role.FINANCE))
                                   if not isinstance(e, NavGroup)]
    admin_menus = {e.key: [i.endpoint for i in e.items] for e in nav_for(make.user(Role.ADMIN))
                   if isinstance(e, NavGroup)}
    assert admin_menus["admin"][-1] == "leads.tokens"  # API tokens under Administration, not a top link
    login(owner)
    html = client.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert 'id="menu-money"' in html and 'data-bs-toggle="dropdown"' in html


def test_the_top_bar_is_rendered_once_per_role_language_and_page(app, client, make, login):
    """The menus are kept per role, language and page (portal.core.nav.nav_menu): the marked page,
    the language and the role's entries still follow each request."""
    import re

    def top_bar(url, lang):
        html = client.get(url, headers={"Accept-Language": lang}).get_data(as_text=True)
        return html.split('<ul class="navbar-nav', 1)[1].split('<div class="d-flex', 1)[0]

    def current(html):  # the link marked as the page shown
        return re.findall(r'aria-current="page"\s+href="([^"]+)"', html)

    app.extensions.pop("portal.nav_menus", None)
    login(make.user(Role.AGENCY_OWNER))
    leads_zh = top_bar("/leads", "zh-CN")
    assert top_bar("/leads", "zh-CN") == leads_zh
    assert current(leads_zh) == ["/leads"]
    assert ">商机报备<" in leads_zh and ">Leads<" not in leads_zh
    leads_en = top_bar("/leads", "en")
    assert ">Leads<" in leads_en and "商机报备" not in leads_en and current(leads_en) == ["/leads"]
    catalog_en = top_bar("/catalog", "en")
    assert current(catalog_en) == ["/catalog"] and 'href="/leads">Leads</a>' in catalog_en
    assert 'id="menu-agency"' in catalog_en  # the owner's "My agency" menu
    assert {key[:3] for key in app.extensions["portal.nav_menus"]} == {
        (Role.AGENCY_OWNER, "zh", "leads.index"), (Role.AGENCY_OWNER, "en", "leads.index"),
        (Role.AGENCY_OWNER, "en", "catalog.index")}
    login(make.user(Role.FINANCE))
    finance = top_bar("/commissions/periods", "en")
    assert current(finance) == ["/commissions/periods"] and 'id="menu-agency"' not in finance
