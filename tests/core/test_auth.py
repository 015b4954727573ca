"""Sign-in, sign-out, lockout, two-factor, password reset, CSRF, redirects and sessions."""

from __future__ import annotations

import re
from datetime import timedelta

import pyotp
import pytest
import sqlalchemy as sa

from portal.core.db import db, utcnow
from portal.core.models import AuditLog, OutboxMessage, Role, User
from tests.factories import PASSWORD, TOTP_SECRET


def post_login(client, email, password=PASSWORD, next_url=None, headers=None):
    url = "/login" + (f"?next={next_url}" if next_url else "")
    return client.post(url, data={"email": email, "password": password},
                       headers={"Accept-Language": "en", **(headers or {})})


def current_code(secret=TOTP_SECRET, offset_steps=0):
    totp = pyotp.TOTP(secret)
    import time

    return totp.at(int(time.time()) + offset_steps * totp.interval)


def is_signed_in(client) -> bool:
    return client.get("/account").status_code == 200


def test_agency_user_signs_in_and_out(client, make):
    user = make.user(Role.AGENCY_OWNER)
    response = post_login(client, user.email)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert is_signed_in(client)
    assert client.post("/logout").status_code == 302
    assert not is_signed_in(client)


def test_email_is_case_insensitive(client, make):
    user = make.user(Role.AGENCY_SALES)
    assert post_login(client, user.email.upper()).status_code == 302
    assert is_signed_in(client)


def test_wrong_password_is_refused_and_counted(client, make):
    user = make.user(Role.AGENCY_OWNER)
    response = post_login(client, user.email, "wrong-password-123")
    assert response.status_code == 200
    assert "Wrong e-mail or password." in response.get_data(as_text=True)
    assert not is_signed_in(client)
    db.session.refresh(user)
    assert user.failed_logins == 1
    failures = db.session.scalars(sa.select(AuditLog).where(
        AuditLog.action == "auth.sign_in_failed", AuditLog.object_id == str(user.id))).all()
    assert len(failures) == 1


def test_unknown_email_gets_the_same_message(client):
    response = post_login(client, "nobody@example.test", "whatever-password")
    assert "Wrong e-mail or password." in response.get_data(as_text=True)


def test_five_failures_lock_the_account_for_fifteen_minutes(client, make):
    user = make.user(Role.AGENCY_OWNER)
    for _ in range(4):
        assert "Wrong e-mail or password." in post_login(client, user.email, "bad-password-1").get_data(as_text=True)
    locked = post_login(client, user.email, "bad-password-1")
    assert "locked for 15 minutes" in locked.get_data(as_text=True)
    db.session.refresh(user)
    assert user.locked_until is not None
    remaining = user.locked_until - utcnow()
    assert timedelta(minutes=14) < remaining <= timedelta(minutes=15)
    # while locked, even the right password is refused
    response = post_login(client, user.email, PASSWORD)
    assert "locked" in response.get_data(as_text=True)
    assert not is_signed_in(client)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog).where(
        AuditLog.action == "auth.lockout", AuditLog.object_id == str(user.id))) == 1


def test_lock_ends_after_the_window(client, make):
    user = make.user(Role.AGENCY_OWNER)
    user.locked_until = utcnow() - timedelta(seconds=1)  # the 15 minutes are over
    db.session.flush()
    assert post_login(client, user.email).status_code == 302
    assert is_signed_in(client)
    db.session.refresh(user)
    assert user.locked_until is None and user.failed_logins == 0


def test_disabled_user_cannot_sign_in(client, make):
    user = make.user(Role.FINANCE)
    user.is_enabled = False
    db.session.flush()
    response = post_login(client, user.email)
    assert "may not sign in" in response.get_data(as_text=True)


# --- two-factor ---------------------------------------------------------------------------------

def test_staff_must_pass_totp_at_every_sign_in(client, make):
    user = make.user(Role.FINANCE)  # enrolled (factories give staff the test secret)
    response = post_login(client, user.email)
    assert response.headers["Location"] == "/login/two-factor"
    assert not is_signed_in(client), "password alone must not sign a staff user in"
    wrong = client.post("/login/two-factor", data={"code": "000000"}, headers={"Accept-Language": "en"})
    assert "That code is not valid" in wrong.get_data(as_text=True)
    assert not is_signed_in(client)
    ok = client.post("/login/two-factor", data={"code": current_code()})
    assert ok.status_code == 302 and ok.headers["Location"] == "/"
    assert is_signed_in(client)


def test_the_second_step_must_follow_within_five_minutes(client, make, monkeypatch):
    import time as real_time

    from portal.core import auth_views

    user = make.user(Role.FINANCE)
    post_login(client, user.email)
    later = real_time.time() + auth_views.PENDING_MAX_AGE_S + 1
    monkeypatch.setattr(auth_views.time, "time", lambda: later)
    late = client.post("/login/two-factor", data={"code": current_code()}, headers={"Accept-Language": "en"})
    assert late.status_code == 302 and late.headers["Location"] == "/login"
    assert not is_signed_in(client)
    assert "took too long" in client.get("/login", headers={"Accept-Language": "en"}).get_data(as_text=True)


def test_totp_code_cannot_be_replayed(client, make):
    user = make.user(Role.ADMIN)
    code = current_code()
    post_login(client, user.email)
    assert client.post("/login/two-factor", data={"code": code}).status_code == 302
    client.post("/logout")
    post_login(client, user.email)
    again = client.post("/login/two-factor", data={"code": code}, headers={"Accept-Language": "en"})
    assert "That code is not valid" in again.get_data(as_text=True)
    assert not is_signed_in(client)


def test_staff_without_totp_enrols_with_a_qr_code(client, make):
    user = make.user(Role.CHANNEL_MANAGER, totp=False)
    response = post_login(client, user.email)
    assert response.headers["Location"] == "/login/enrol"
    page = client.get("/login/enrol", headers={"Accept-Language": "en"})
    html = page.get_data(as_text=True)
    assert 'src="data:image/svg+xml;base64,' in html, "the QR code is drawn on the server"
    secret = re.search(r'data-testid="totp-secret">([A-Z2-7]+)<', html).group(1)
    wrong = client.post("/login/enrol", data={"code": "123456"}, headers={"Accept-Language": "en"})
    assert "That code is not valid" in wrong.get_data(as_text=True)
    db.session.refresh(user)
    assert not user.totp_enabled
    ok = client.post("/login/enrol", data={"code": pyotp.TOTP(secret).now()})
    assert ok.status_code == 302
    db.session.refresh(user)
    assert user.totp_enabled and user.totp_secret == secret
    assert is_signed_in(client)
    assert db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "auth.totp_enrolled",
                                                        AuditLog.object_id == str(user.id))) is not None


def test_two_factor_page_without_password_step_goes_back_to_sign_in(client):
    response = client.get("/login/two-factor")
    assert response.status_code == 302 and response.headers["Location"] == "/login"


# --- redirects ----------------------------------------------------------------------------------

@pytest.mark.parametrize("target", ["/catalog", "/account?tab=1"])
def test_next_redirects_to_local_paths(client, make, target):
    user = make.user(Role.AGENCY_OWNER)
    response = post_login(client, user.email, next_url=target)
    assert response.headers["Location"] == target


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example",
                                    "javascript:alert(1)", "http:/evil.example"])
def test_next_never_redirects_off_site(client, make, target):
    user = make.user(Role.AGENCY_OWNER)
    response = post_login(client, user.email, next_url=target)
    assert response.headers["Location"] == "/"


def test_anonymous_user_is_sent_to_sign_in_with_next(client):
    response = client.get("/account")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


# --- CSRF ---------------------------------------------------------------------------------------

def test_forms_without_csrf_token_are_refused(app, client, make, monkeypatch):
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    user = make.user(Role.AGENCY_OWNER)
    response = post_login(client, user.email)
    assert response.status_code == 400
    assert not is_signed_in(client)
    # with the token from the form it works
    html = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
    ok = client.post("/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token})
    assert ok.status_code == 302


def test_sign_out_needs_csrf_token(app, client, make, login, monkeypatch):
    user = make.user(Role.AGENCY_OWNER)
    login(user)
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    assert client.post("/logout").status_code == 400
    assert is_signed_in(client)


# --- password reset -----------------------------------------------------------------------------

def _reset_link(email: str) -> str:
    message = db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.recipient == email)
                                 .order_by(OutboxMessage.id.desc())).first()
    assert message is not None, "the reset e-mail was not queued"
    return re.search(r"(/password/reset/\S+)", message.body).group(1)


def test_password_reset_by_emailed_link(client, make):
    user = make.user(Role.AGENCY_OWNER)
    response = client.post("/password/forgot", data={"email": user.email})
    assert response.status_code == 302
    link = _reset_link(user.email)
    too_short = client.post(link, data={"password": "short", "confirm": "short"}, headers={"Accept-Language": "en"})
    assert "at least 10 characters" in too_short.get_data(as_text=True)
    done = client.post(link, data={"password": "a-brand-new-password", "confirm": "a-brand-new-password"})
    assert done.status_code == 302 and done.headers["Location"] == "/login"
    assert post_login(client, user.email, "a-brand-new-password").status_code == 302
    # the link is single-use: the password hash it was bound to has changed
    client.post("/logout")
    reused = client.get(link)
    assert reused.status_code == 302 and reused.headers["Location"] == "/password/forgot"


def test_reset_link_carries_nothing_of_the_password_hash(client, make):
    import base64

    user = make.user(Role.AGENCY_OWNER)
    client.post("/password/forgot", data={"email": user.email})
    token = _reset_link(user.email).rsplit("/", 1)[1]
    payload = token.split(".")[0]
    decoded = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
    assert user.password_hash[-16:] not in decoded and "argon2" not in decoded


def test_unknown_email_costs_a_password_check_too(client, monkeypatch):
    """No timing oracle: a sign-in with an unknown e-mail still verifies a password hash."""
    from portal.core import security

    calls = []
    real = security.verify_password
    monkeypatch.setattr(security, "verify_password", lambda h, p: calls.append(h) or real(h, p))
    post_login(client, "nobody-at-all@example.test", "some-password-123")
    assert len(calls) == 1 and calls[0].startswith("$argon2")


def test_password_reset_for_unknown_email_reveals_nothing(client):
    response = client.post("/password/forgot", data={"email": "nobody@example.test"}, follow_redirects=True,
                           headers={"Accept-Language": "en"})
    assert "If the address belongs to an account" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage).where(
        OutboxMessage.recipient == "nobody@example.test")) == 0


def test_expired_reset_link_is_refused(app, client, make, monkeypatch):
    user = make.user(Role.AGENCY_OWNER)
    client.post("/password/forgot", data={"email": user.email})
    link = _reset_link(user.email)
    monkeypatch.setitem(app.config, "PASSWORD_RESET_MAX_AGE", -1)
    response = client.get(link)
    assert response.status_code == 302 and response.headers["Location"] == "/password/forgot"


def test_forged_reset_link_is_refused(client):
    response = client.get("/password/reset/not-a-real-token")
    assert response.status_code == 302 and response.headers["Location"] == "/password/forgot"


def test_password_policy_refuses_the_email_as_password(client, make):
    user = make.user(Role.AGENCY_OWNER)
    client.post("/password/forgot", data={"email": user.email})
    link = _reset_link(user.email)
    response = client.post(link, data={"password": user.email, "confirm": user.email},
                           headers={"Accept-Language": "en"})
    assert "must not be your e-mail address" in response.get_data(as_text=True)


def test_passwords_are_hashed_with_argon2(make):
    user = make.user(Role.AGENCY_OWNER)
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash


# --- sessions -----------------------------------------------------------------------------------

def test_session_is_renewed_at_sign_in(client, make):
    """Nothing placed in the session before sign-in survives it (no session fixation)."""
    user = make.user(Role.AGENCY_OWNER)
    with client.session_transaction() as session:
        session["planted"] = "by-attacker"
    post_login(client, user.email)
    with client.session_transaction() as session:
        assert "planted" not in session


def test_sign_out_everywhere_ends_other_sessions(app, make, login):
    user = make.user(Role.AGENCY_OWNER)
    laptop, phone = app.test_client(), app.test_client()
    login(user, laptop)
    login(user, phone)
    assert is_signed_in(laptop) and is_signed_in(phone)
    assert laptop.post("/account/sign-out-everywhere").status_code == 302
    assert not is_signed_in(phone)
    assert not is_signed_in(laptop)


def test_session_cookie_flags(client, make):
    user = make.user(Role.AGENCY_OWNER)
    response = post_login(client, user.email)
    cookie = response.headers.get("Set-Cookie")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_secure_cookie_outside_debug(monkeypatch, tmp_path):
    from portal.config import load_config

    monkeypatch.setenv("SECRET_KEY", "x" * 32)
    monkeypatch.delenv("PORTAL_DEMO", raising=False)
    monkeypatch.delenv("PORTAL_DEBUG", raising=False)
    monkeypatch.delenv("FLASK_DEBUG", raising=False)
    assert load_config(str(tmp_path))["SESSION_COOKIE_SECURE"] is True


def test_secret_key_is_required_outside_debug(monkeypatch, tmp_path):
    from portal.config import ConfigError, load_config

    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("PORTAL_DEMO", raising=False)
    monkeypatch.delenv("PORTAL_DEBUG", raising=False)
    monkeypatch.delenv("FLASK_DEBUG", raising=False)
    with pytest.raises(ConfigError, match="SECRET_KEY is not set"):
        load_config(str(tmp_path))


def test_per_ip_rate_limit_on_sign_in(app, tmp_path):
    """Sign-in attempts per IP address are limited (429), whatever the e-mail tried."""
    from portal.core.extensions import limiter
    from tests.conftest import make_test_app

    limited = make_test_app(app.config["SQLALCHEMY_DATABASE_URI"], tmp_path,
                            RATELIMIT_ENABLED=True, RATELIMIT_LOGIN="3 per minute")
    try:
        limiter.reset()
        client = limited.test_client()
        with limited.app_context():
            statuses = [post_login(client, f"user{i}@example.test", "whatever-pass").status_code for i in range(5)]
    finally:
        limiter.init_app(app)  # the limiter is one object: give it back the main test app's settings
    assert statuses[:3] == [200, 200, 200]
    assert statuses[3:] == [429, 429]


def test_user_model_has_one_role(make):
    user = make.user(Role.FINANCE)
    assert isinstance(db.session.get(User, user.id).role, Role)


def _limited_app(app, tmp_path, **overrides):
    from tests.conftest import make_test_app

    return make_test_app(app.config["SQLALCHEMY_DATABASE_URI"], tmp_path,
                         RATELIMIT_ENABLED=True, RATELIMIT_LOGIN="2 per minute", **overrides)


def _statuses(limited, forwarded_for, reset=True):
    from portal.core.extensions import limiter

    if reset:
        limiter.reset()
    client = limited.test_client()
    with limited.app_context():
        return [post_login(client, "nobody@example.test", "whatever-pass",
                           headers={"X-Forwarded-For": ip}).status_code for ip in forwarded_for]


def test_behind_a_trusted_proxy_the_limit_is_per_client(app, tmp_path):
    """PORTAL_PROXY_HOPS=1: each client behind the proxy has its own sign-in budget."""
    from portal.core.extensions import limiter

    try:
        statuses = _statuses(_limited_app(app, tmp_path, PORTAL_PROXY_HOPS=1),
                             ["10.0.0.1", "10.0.0.1", "10.0.0.1", "10.0.0.2"])
    finally:
        limiter.init_app(app)
    assert statuses == [200, 200, 429, 200]


def test_without_a_proxy_x_forwarded_for_cannot_dodge_the_limit(app, tmp_path):
    from portal.core.extensions import limiter

    try:
        statuses = _statuses(_limited_app(app, tmp_path), ["10.0.0.1", "10.0.0.2", "10.0.0.3"])
    finally:
        limiter.init_app(app)
    assert statuses == [200, 200, 429]


def test_sign_in_works_while_redis_is_down(app, tmp_path):
    """A dead rate-limit store must not turn sign-in into a 500 (it counts in memory meanwhile)."""
    from portal.core.extensions import limiter

    try:
        statuses = _statuses(_limited_app(app, tmp_path, RATELIMIT_STORAGE_URI="redis://127.0.0.1:9/0"),
                             ["10.0.0.1", "10.0.0.1", "10.0.0.1"], reset=False)
    finally:
        limiter.init_app(app)
    assert statuses == [200, 200, 429]
