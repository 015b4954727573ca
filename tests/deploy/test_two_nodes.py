"""More than one machine: two gunicorn instances on different ports sharing one PostgreSQL
database and one Redis, plus a queue worker (`portal jobs worker`). A session and its CSRF token
made on one node are valid on the other, the per-IP sign-in rate limit holds across both (Redis
storage), and a period run started on one node runs on the worker while the other serves pages.

In CI (`CI` set, PostgreSQL pass) a missing Redis fails the test instead of skipping it."""

from __future__ import annotations

import os
import re
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import ON_POSTGRES, fresh_database

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DEMO_PASSWORD = "demo-password-2026"


def _redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


pytestmark = pytest.mark.skipif(not ON_POSTGRES, reason="needs PostgreSQL (TEST_DATABASE_URL)")


@pytest.fixture(scope="module", autouse=True)
def _redis():
    if not _redis_up():
        if os.environ.get("CI"):
            pytest.fail("Redis is not running on 127.0.0.1:6379 (CI must test the two-node set-up)")
        pytest.skip("needs Redis on 127.0.0.1:6379")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(url: str, timeout: float = 30) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


class Nodes(list):
    def __init__(self, urls, worker_log: Path):
        super().__init__(urls)
        self.worker_log = worker_log


@pytest.fixture(scope="module")
def two_nodes(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("two-nodes")
    with fresh_database(tmp) as url:
        env = dict(os.environ, DATABASE_URL=url, SECRET_KEY=secrets.token_hex(32), REDIS_URL="redis://127.0.0.1:6379/0",
                   PORTAL_INSECURE_COOKIES="1", PORTAL_LOGIN_RATE_LIMIT="6 per minute",
                   PORTAL_RATELIMIT_PREFIX=f"two-nodes-{secrets.token_hex(4)}",
                   PORTAL_INSTANCE_PATH=str(tmp / "instance"))
        env.pop("PORTAL_DEMO", None)
        subprocess.run([str(BIN / "portal"), "db", "upgrade"], env=env, cwd=ROOT, check=True, capture_output=True)
        subprocess.run([str(BIN / "portal"), "demo"], env=env, cwd=ROOT, check=True, capture_output=True)
        nodes, processes = [], []
        worker_log = (tmp / "worker.log").open("w")
        processes.append(subprocess.Popen([str(BIN / "portal"), "jobs", "worker"], env=env, cwd=ROOT,
                                          stdout=worker_log, stderr=subprocess.STDOUT))
        for _ in range(2):
            port = _free_port()
            log = (tmp / f"gunicorn-{port}.log").open("w")
            processes.append(subprocess.Popen(
                [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}", "--workers", "2",
                 "wsgi:app"], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT))
            nodes.append(f"http://127.0.0.1:{port}")
        try:
            for node in nodes:
                _wait(f"{node}/healthz")
            yield Nodes(nodes, tmp / "worker.log")
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(timeout=10)


def _sign_in(node: str, email: str) -> requests.Session:
    import pyotp

    from portal.demo import DEMO_TOTP_SECRET

    browser = requests.Session()
    token = _csrf(browser.get(f"{node}/login").text)
    response = browser.post(f"{node}/login", data={"email": email, "password": DEMO_PASSWORD, "csrf_token": token},
                            allow_redirects=False)
    assert response.status_code == 302
    if response.headers["Location"].endswith("/login/two-factor"):
        token = _csrf(browser.get(f"{node}/login/two-factor").text)
        response = browser.post(f"{node}/login/two-factor", allow_redirects=False,
                                data={"code": pyotp.TOTP(DEMO_TOTP_SECRET).now(), "csrf_token": token})
        assert response.status_code == 302 and response.headers["Location"] == "/"
    return browser


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


def test_session_and_csrf_token_are_valid_on_both_nodes(two_nodes):
    node_a, node_b = two_nodes
    browser = requests.Session()
    token = _csrf(browser.get(f"{node_a}/login").text)
    response = browser.post(f"{node_b}/login", allow_redirects=False,
                            data={"email": "owner@agency1.demo.local", "password": DEMO_PASSWORD, "csrf_token": token})
    assert response.status_code == 302, "the CSRF token made on node A is accepted by node B"
    assert browser.get(f"{node_a}/account", allow_redirects=False).status_code == 200
    assert browser.get(f"{node_b}/account", allow_redirects=False).status_code == 200
    # a form rendered by node B and posted to node A (sign out) works too
    token_b = _csrf(browser.get(f"{node_b}/account").text)
    assert browser.post(f"{node_a}/logout", data={"csrf_token": token_b}, allow_redirects=False).status_code == 302
    assert browser.get(f"{node_b}/account", allow_redirects=False).status_code == 302


def test_a_period_run_on_one_node_while_the_other_serves_pages(two_nodes):
    """Finance starts a period run on node A; the queue worker runs it; node B keeps serving."""
    node_a, node_b = two_nodes
    finance = _sign_in(node_a, "finance@demo.local")
    owner = _sign_in(node_b, "owner@agency1.demo.local")
    page = finance.get(f"{node_a}/commissions/periods/2026-11").text
    started = finance.post(f"{node_a}/commissions/periods/2026-11/run", data={"csrf_token": _csrf(page)},
                           allow_redirects=False)
    assert started.status_code == 302 and "/jobs/" in started.headers["Location"]
    job_url = node_a + started.headers["Location"]
    served, states = [], []
    deadline = time.time() + 60
    while time.time() < deadline:
        served += [owner.get(f"{node_b}{path}", allow_redirects=False).status_code
                   for path in ("/catalog", "/leads", "/commissions/statements")]
        state = finance.get(job_url, params={"format": "json"}).json()
        states.append(state["status"])
        if state["status"] in ("done", "failed"):
            break
        time.sleep(0.2)
    assert states[-1] == "done", states
    assert served and set(served) == {200}
    job_id = started.headers["Location"].rstrip("/").rsplit("/", 1)[1]
    worker_output = two_nodes.worker_log.read_text()
    assert f"Job OK (portal-job-{job_id})" in worker_output, "the queue worker, not a web node, ran the job"
    # the run's result is visible from the other node
    period_page = finance.get(f"{node_b}/commissions/periods/2026-11")
    assert period_page.status_code == 200


def test_sign_in_rate_limit_holds_across_both_nodes(two_nodes):
    node_a, node_b = two_nodes
    statuses = []
    for attempt in range(8):
        node = two_nodes[attempt % 2]
        browser = requests.Session()
        token = _csrf(browser.get(f"{node}/login").text)
        statuses.append(browser.post(f"{node}/login", data={"email": f"x{attempt}@example.test", "password":
                                                            "wrong-password", "csrf_token": token}).status_code)
    # 6 attempts per minute in all (the previous test's sign-in counted too): alternating nodes, the
    # attempts are refused with 429 on BOTH nodes once the shared count is reached
    first_refusal = statuses.index(429)
    assert 1 <= first_refusal <= 6
    assert set(statuses[first_refusal:]) == {429}
    refused_on = {two_nodes[i % 2] for i in range(first_refusal, len(statuses))}
    assert refused_on == {node_a, node_b}
    assert statuses.count(200) <= 6

