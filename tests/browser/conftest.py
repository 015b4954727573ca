"""Browser tests: the portal served on a real port (demo data on a fresh database), driven by
Playwright in Debian's headless Chromium. Screenshots go to test-results/screenshots/."""

from __future__ import annotations

import secrets
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pyotp
import pytest
import sqlalchemy as sa
from werkzeug.serving import make_server

from portal.core.db import db
from portal.core.models import User
from portal.demo import DEMO_PASSWORD, DEMO_TOTP_SECRET, load_demo
from tests.conftest import fresh_database, make_test_app

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-results" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
STAFF_EMAILS = {"admin@demo.local", "channel@demo.local", "am@demo.local", "finance@demo.local"}


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"],
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1366, "height": 900}}


@dataclass
class LiveServer:
    url: str
    app: object
    totp_counters: dict = field(default_factory=dict)

    def totp_code(self, email: str, secret: str = DEMO_TOTP_SECRET) -> str:
        """A TOTP code not used before for `email` (the portal refuses replayed codes). When both
        codes the portal accepts right now (this window's and the next) were used already, the
        user's last used code is forgotten in the server's database — test set-up instead of
        waiting up to 30 s for the next window (replays are refused in tests/core/test_auth.py)."""
        totp = pyotp.TOTP(secret)
        now_counter = int(time.time() // totp.interval)
        last = self.totp_counters.get(email, now_counter - 1)
        candidate = max(now_counter, last + 1)
        if candidate > now_counter + 1:
            with self.app.app_context():
                db.session.execute(sa.update(User).where(User.email == email).values(totp_last_counter=None))
                db.session.commit()
            candidate = now_counter
        self.totp_counters[email] = candidate
        return totp.at(candidate * totp.interval)


@contextmanager
def demo_portal(tmp_dir: Path, **config):
    """A portal on a fresh database with the demo data, served on a free port (CSRF on)."""
    with fresh_database(tmp_dir) as url:
        app = make_test_app(url, tmp_dir / f"live-instance-{secrets.token_hex(3)}", WTF_CSRF_ENABLED=True, **config)
        with app.app_context():
            load_demo()
            db.session.remove()
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield LiveServer(url=f"http://127.0.0.1:{server.server_port}", app=app)
        finally:
            server.shutdown()
            thread.join(timeout=5)
            with app.app_context():
                db.session.remove()
                db.engine.dispose()


@pytest.fixture(scope="session")
def live_server(tmp_root):
    """One demo portal shared by the browser tests of a run (use unique data in each test)."""
    with demo_portal(tmp_root) as server:
        yield server


@pytest.fixture
def sign_in(live_server):
    """`sign_in(page, email)` signs in through the real form (TOTP for staff)."""

    def _sign_in(page, email: str, password: str = DEMO_PASSWORD, lang: str | None = None,
                 totp_secret: str = DEMO_TOTP_SECRET):
        return sign_in_through_the_form(page, live_server, email, password, totp_secret)

    return _sign_in


def sign_in_through_the_form(page, server, email: str, password: str = DEMO_PASSWORD,
                             totp_secret: str = DEMO_TOTP_SECRET, two_factor: bool = False):
    """Sign in with the real form (and the TOTP step for staff) of `server` (a LiveServer); only the
    forms inside <main> are used (the navbar's language switch is a form too). Fails loudly when the
    sign-in did not succeed, or when `two_factor` and the password did not lead to the TOTP step."""
    page.goto(f"{server.url}/login")
    page.fill("main input[name=email]", email)
    page.fill("main input[name=password]", password)
    page.click("main form button[type=submit]")
    page.wait_for_load_state("load")
    if two_factor:
        assert "/login/two-factor" in page.url, f"{email}: no two-factor step ({page.url})"
    if "/login/two-factor" in page.url or "/login/enrol" in page.url:
        page.fill("main input[name=code]", server.totp_code(email, totp_secret))
        page.click("main form button[type=submit]")
        page.wait_for_load_state("load")
    assert "/login" not in page.url, f"sign-in of {email} failed: {page.url}"
    return page


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
