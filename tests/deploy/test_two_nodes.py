"""More than one machine: two gunicorn instances on different ports sharing one PostgreSQL
database and one Redis. A session and its CSRF token made on one node are valid on the other,
and the per-IP sign-in rate limit holds across both (Redis storage)."""

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


pytestmark = pytest.mark.skipif(not (ON_POSTGRES and _redis_up()),
                                reason="needs PostgreSQL (TEST_DATABASE_URL) and Redis on 127.0.0.1:6379")


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


@pytest.fixture(scope="module")
def two_nodes(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("two-nodes")
    with fresh_database(tmp) as url:
        env = dict(os.environ, DATABASE_URL=url, SECRET_KEY=secrets.token_hex(32), REDIS_URL="redis://127.0.0.1:6379/0",
                   PORTAL_INSECURE_COOKIES="1", PORTAL_LOGIN_RATE_LIMIT="6 per minute",
                   PORTAL_RATELIMIT_PREFIX=f"two-nodes-{secrets.token_hex(4)}", PORTAL_INSTANCE_PATH=str(tmp / "instance"))
        env.pop("PORTAL_DEMO", None)
        subprocess.run([str(BIN / "portal"), "db", "upgrade"], env=env, cwd=ROOT, check=True, capture_output=True)
        subprocess.run([str(BIN / "portal"), "demo"], env=env, cwd=ROOT, check=True, capture_output=True)
        nodes, processes = [], []
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
            yield nodes
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(timeout=10)


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
