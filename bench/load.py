"""Load benchmark: the agency pages and POST /api/v1/leads under 32 concurrent connections,
against gunicorn on PostgreSQL, next to a floor route served by the same gunicorn settings in
the same run (one indexed query returning 50 rows rendered in a 50-row table).

    python bench/load.py [--server postgresql://root@127.0.0.1/postgres] [--duration 20]
                         [--connections 32] [--workers 2] [--agencies 5000] [--leads 200000]

It creates a fresh database on the server, applies the migrations, loads the demo data, adds a
benchmark data set in bulk (agencies, customers, leads, statements and lines), starts gunicorn
(sync workers), signs in as the demo agency owner and drives each target with wrk
(Debian package `wrk`). Results: a table on stdout and bench/results/load.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent

WRK_DONE = """
done = function(summary, latency, requests)
  local s = summary.duration / 1e6
  io.write(string.format('JSON {"requests": %d, "seconds": %.3f, "rps": %.1f, "p50": %.2f, "p95": %.2f, '
    .. '"p99": %.2f, "non_2xx_3xx": %d, "socket_errors": %d}\\n',
    summary.requests, s, summary.requests / s, latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""

WRK_POST_LEADS = """
local alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
local weights = {1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28}
local counter = 0
thread_no = 0  -- a global: setup() gives each thread its own number through thread:set
local threads = 0
setup = function(thread) threads = threads + 1; thread:set("thread_no", threads) end
local function uscc(n)
  local first = string.format("91440101MB%07d", n)
  local total = 0
  for i = 1, 17 do
    local ch = first:sub(i, i)
    total = total + (alphabet:find(ch, 1, true) - 1) * weights[i]
  end
  local check = (31 - total % 31) % 31
  return first .. alphabet:sub(check + 1, check + 1)
end
request = function()
  counter = counter + 1
  local n = thread_no * 1000000 + counter
  local body = string.format('{"customer": {"uscc": "%s", "name": "Load customer %d"}, '
    .. '"contact": {"name": "Wang", "mobile": "13800138000"}, "products": ["GRP-SMS"], '
    .. '"expected_lines": 5, "expected_monthly_revenue": "400.00", "notes": "load"}', uscc(n), n)
  return wrk.format("POST", "/api/v1/leads", {["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. os.getenv("PORTAL_LOAD_TOKEN")}, body)
end
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(cmd, env, **kw):
    return subprocess.run(cmd, env=env, cwd=ROOT, check=True, capture_output=True, text=True, **kw)


def build_database(server_url: str, n_agencies: int, n_leads: int) -> tuple[str, dict]:
    import sqlalchemy as sa

    name = f"portal_load_{secrets.token_hex(3)}"
    base = sa.make_url(server_url.replace("postgresql://", "postgresql+psycopg://", 1))
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = base.set(database=name).render_as_string(hide_password=False)
    return name, {"DATABASE_URL": url}


def load_data(env: dict, n_agencies: int, n_leads: int) -> dict:
    """Bulk benchmark data next to the demo data. Returns what was made."""
    os.environ.update(env)
    import sqlalchemy as sa

    from catalog.models import Customer, Product
    from commissions.models import Component, Line, Statement, StatementStatus
    from portal.app import create_app
    from portal.core.db import db
    from portal.core.models import Region
    from portal.core.validators import uscc_check_character
    from portal.leads.models import Lead, LeadKind, LeadStatus
    from portal.partners.models import Agency, AgencyGrade, AgencyStatus, Grade

    app = create_app()
    rng = random.Random(7)
    with app.app_context():
        region = db.session.scalar(sa.select(Region).where(Region.code == "SZ"))
        owner_agency = db.session.scalar(sa.select(Agency).where(Agency.code == "AGGZ0001"))
        low = list(db.session.scalars(sa.select(Product.id).where(
            Product.module_complexity < 4, Product.market_exclusivity < 4, Product.training_requirement < 4)))
        agencies = [{"code": f"AGBN{i:05d}", "name": f"基准代理商 {i}", "uscc": "X" * 18,
                     "region_id": region.id, "status": AgencyStatus.ACTIVE} for i in range(n_agencies)]
        for i, row in enumerate(agencies):
            first = f"91440300MC{i:07d}"
            row["uscc"] = first + uscc_check_character(first)
        db.session.execute(sa.insert(Agency), agencies)
        ids = list(db.session.scalars(sa.select(Agency.id).where(Agency.code.like("AGBN%")).order_by(Agency.id)))
        db.session.execute(sa.insert(AgencyGrade), [
            {"agency_id": a, "grade": rng.choice(list(Grade)), "effective_from": date(2026, 1, 1)} for a in ids])
        n_customers = max(n_leads // len(low) + 1, 1000)
        customers = []
        for i in range(n_customers):
            first = f"91440101MD{i:07d}"
            customers.append({"uscc": first + uscc_check_character(first), "name": f"客户 {i}",
                              "region_id": region.id})
        for start in range(0, len(customers), 20000):
            db.session.execute(sa.insert(Customer), customers[start:start + 20000])
        customer_ids = list(db.session.scalars(sa.select(Customer.id).where(Customer.uscc.like("91440101MD%"))
                                               .order_by(Customer.id)))
        statuses = [LeadStatus.SUBMITTED, LeadStatus.APPROVED, LeadStatus.WON, LeadStatus.LOST, LeadStatus.EXPIRED,
                    LeadStatus.REJECTED]
        today = date.today()
        rows, made = [], 0
        for i in range(n_leads):
            status = statuses[i % len(statuses)]
            agency_id = owner_agency.id if i % 100 == 0 else ids[i % len(ids)]
            rows.append({"agency_id": agency_id, "customer_id": customer_ids[i // len(low)],
                         "product_id": low[i % len(low)], "kind": LeadKind.SALE, "status": status,
                         "contact_name": "王经理", "contact_mobile": "13800138000", "expected_lines": 5,
                         "protected_until": today + timedelta(days=30) if status == LeadStatus.APPROVED else None})
            if len(rows) == 20000:
                db.session.execute(sa.insert(Lead), rows)
                made += len(rows)
                rows = []
        if rows:
            db.session.execute(sa.insert(Lead), rows)
            made += len(rows)
        periods = [f"{y}-{m:02d}" for y in (2024, 2025) for m in range(1, 13)]
        db.session.execute(sa.insert(Statement), [
            {"period": p, "agency_id": owner_agency.id, "earned_fen": 100000, "available_fen": 100000,
             "payable_fen": 100000, "line_count": 200, "status": StatementStatus.PUBLISHED} for p in periods])
        db.session.execute(sa.insert(Statement), [
            {"period": p, "agency_id": a, "earned_fen": 5000, "available_fen": 5000, "carried_fen": 5000,
             "status": StatementStatus.PUBLISHED} for a in ids for p in periods[-6:]])
        lines = [{"period": p, "source_period": p, "agency_id": owner_agency.id, "order_id": f"ORD-{p}-{k:04d}",
                  "component": Component.SHARE, "accrual_date": date(int(p[:4]), int(p[5:]), 28),
                  "basis_fen": 128000, "rate_u": 80000, "multiplier_u": 1200000, "grade": "gold",
                  "rule_version": "2024A", "month_index": 3, "amount_fen": 12288} for p in periods for k in range(200)]
        db.session.execute(sa.insert(Line), lines)
        db.session.commit()
        counts = {"agencies": len(ids) + 2, "customers": len(customer_ids), "leads": made,
                  "owner_leads": db.session.scalar(sa.select(sa.func.count()).select_from(Lead).where(
                      Lead.agency_id == owner_agency.id)),
                  "statements": db.session.scalar(sa.select(sa.func.count()).select_from(Statement)),
                  "owner_lines": len(lines)}
        for table in ("agencies", "customers", "leads", "commission_statements", "commission_lines"):
            db.session.execute(sa.text(f"ANALYZE {table}"))
        db.session.commit()
        return counts


# One User-Agent for the sign-in and for wrk, as a browser keeps its own: with another one, session
# protection would mark the session non-fresh on every request and rewrite its cookie.
USER_AGENT = "portal-load-bench"


def sign_in(base: str) -> tuple[str, str]:
    import requests

    browser = requests.Session()
    browser.headers["User-Agent"] = USER_AGENT
    html = browser.get(f"{base}/login").text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
    response = browser.post(f"{base}/login", data={"email": "owner@agency1.demo.local",
                                                   "password": "demo-password-2026", "csrf_token": token},
                            allow_redirects=False)
    assert response.status_code == 302, response.status_code
    cookie = "; ".join(f"{c.name}={c.value}" for c in browser.cookies)
    return cookie, token


def _ticks(pid: int, reaped_children: bool = False) -> int:
    """utime + stime of a process (clock ticks); with `reaped_children`, plus its reaped children's."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    if reaped_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, ValueError, IndexError):
                pass
    return found


class CpuMeter:
    """CPU time spent serving a measurement: the gunicorn workers (the live ones plus those the
    master reaped, e.g. after max_requests) and the PostgreSQL backends of the benchmark database.
    On a shared, busy machine requests/s swing with everyone else's load; CPU per request does not
    (much), so it is reported next to them."""

    def __init__(self, master_pid: int, database_url: str, dbname: str):
        import sqlalchemy as sa

        self.master_pid = master_pid
        self.dbname = dbname
        self.engine = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
        self.hz = os.sysconf("SC_CLK_TCK")

    def _backends(self) -> dict[int, int]:
        import sqlalchemy as sa

        with self.engine.connect() as conn:
            pids = conn.execute(
                sa.text("SELECT pid FROM pg_stat_activity WHERE datname = :d AND pid <> pg_backend_pid()"),
                {"d": self.dbname},
            ).scalars().all()
        ticks = {}
        for pid in pids:
            with contextlib.suppress(OSError):  # not on this machine, or gone
                ticks[pid] = _ticks(pid)
        return ticks

    def _app(self) -> int:
        total = _ticks(self.master_pid, reaped_children=True) - _ticks(self.master_pid)
        for pid in _children(self.master_pid):
            with contextlib.suppress(OSError):  # exited meanwhile: counted once reaped
                total += _ticks(pid)
        return total

    def start(self) -> None:
        self.app0, self.db0 = self._app(), self._backends()

    def stop(self, requests: int) -> dict:
        app1, db1 = self._app(), self._backends()
        db_ticks = sum(t - self.db0.get(pid, 0) for pid, t in db1.items())
        per = 1000 / self.hz / max(requests, 1)
        app_ms, db_ms = (app1 - self.app0) * per, db_ticks * per
        return {"app": round(app_ms, 3), "db": round(db_ms, 3), "total": round(app_ms + db_ms, 3)}


def wrk(url: str, script: str, connections: int, duration: int, headers: dict, env: dict) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script + WRK_DONE)
        path = f.name
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--timeout", "10s", "-s", path]
    for key, value in headers.items():
        cmd += ["-H", f"{key}: {value}"]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, env=env, check=True).stdout
    os.unlink(path)
    return json.loads(out.split("JSON ", 1)[1].strip().splitlines()[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="postgresql://root@127.0.0.1/postgres")
    parser.add_argument("--duration", type=int, default=20)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--agencies", type=int, default=5000)
    parser.add_argument("--leads", type=int, default=200000)
    parser.add_argument("--keep", action="store_true", help="keep the database (printed) for profiling")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("wrk is missing: apt-get install -y wrk", file=sys.stderr)
        return 2
    name, db_env = build_database(args.server, args.agencies, args.leads)
    tmp = Path(tempfile.mkdtemp(prefix="portal-load-"))
    env = dict(os.environ, **db_env, SECRET_KEY=secrets.token_hex(32), PORTAL_INSECURE_COOKIES="1",
               PORTAL_INSTANCE_PATH=str(tmp), PORTAL_BENCH_FLOOR="1", PORTAL_LOGIN_RATE_LIMIT="1000 per minute")
    env.pop("PORTAL_DEMO", None)
    started = time.perf_counter()
    run([str(BIN / "portal"), "db", "upgrade"], env)
    run([str(BIN / "portal"), "demo"], env)
    counts = load_data(db_env | {"SECRET_KEY": env["SECRET_KEY"], "PORTAL_INSTANCE_PATH": str(tmp)},
                       args.agencies, args.leads)
    token = run([str(BIN / "portal"), "tokens", "create", "--agency", "AGGZ0001"], env).stdout.strip().split()[-1]
    print(f"data: {counts} (built in {time.perf_counter() - started:.0f} s)")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}", "--workers",
         str(args.workers), "--access-logfile", "/dev/null", "wsgi:app"], env=env, cwd=ROOT,
        stdout=subprocess.DEVNULL, stderr=(tmp / "gunicorn.log").open("w"))
    try:
        import requests

        for _ in range(100):
            try:
                if requests.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.2)
        cookie, _csrf = sign_in(base)
        page = {"Cookie": cookie, "Accept-Language": "zh-CN", "User-Agent": USER_AGENT}
        latest = "2025-12"
        targets = [
            ("floor: 50 rows, one indexed query", "/bench/floor", "", {}),
            ("hello world (same gunicorn)", "/bench/hello", "", {}),
            # the same floor asked with the agency's session cookie: what every signed-in page pays
            # before its own work (session, user); shown for reference, the targets use the floor above
            ("floor, signed in (same cookie as the pages)", "/bench/floor", "", page),
            ("agency catalog", "/catalog", "", page),
            ("agency lead list", "/leads", "", page),
            ("agency statement list", "/commissions/statements", "", page),
            (f"agency statement {latest} (200 lines, 50 a page)", f"/commissions/statements/{latest}", "", page),
            ("POST /api/v1/leads (new customer each)", "/api/v1/leads", WRK_POST_LEADS, {}),
        ]
        results = []
        wrk_env = dict(os.environ, PORTAL_LOAD_TOKEN=token)
        meter = CpuMeter(server.pid, db_env["DATABASE_URL"], name)
        for label, path, script, headers in targets:
            check = (requests.get(base + path, headers=headers, timeout=10, allow_redirects=False)
                     if not script else None)
            if check is not None and check.status_code != 200:
                raise SystemExit(f"{path} answered {check.status_code} before the load")
            wrk(base + path, script, args.connections, 3, headers, wrk_env)  # warm-up
            meter.start()
            result = wrk(base + path, script, args.connections, args.duration, headers, wrk_env)
            result["cpu_ms_per_request"] = meter.stop(result["requests"])
            result.update(label=label, path=path)
            results.append(result)
            print(f"{label:45s} {result['rps']:8.1f} req/s  p50 {result['p50']:6.1f} ms  p95 {result['p95']:6.1f} ms"
                  f"  p99 {result['p99']:6.1f} ms  non-2xx {result['non_2xx_3xx']}"
                  f"  cpu {result['cpu_ms_per_request']['total']:5.2f} ms/req")
        meter.engine.dispose()
        floor = results[0]["rps"]
        hello = results[1]["rps"]
        signed_floor = results[2]["rps"]
        floor_cpu = results[0]["cpu_ms_per_request"]["total"]
        misses = []
        for result in results:
            result["share_of_floor"] = round(result["rps"] / floor, 3)
            result["share_of_hello"] = round(result["rps"] / hello, 3)
            result["share_of_signed_in_floor"] = round(result["rps"] / signed_floor, 3)
            cpu = max(result["cpu_ms_per_request"]["total"], 1e-6)
            result["cpu_share_of_floor"] = round(floor_cpu / cpu, 3)
            if result["path"].startswith("/bench/"):
                continue
            result["meets_targets"] = (result["p95"] <= 100 and result["share_of_floor"] >= 0.5
                                       and result["non_2xx_3xx"] == 0 and result["socket_errors"] == 0)
            if not result["meets_targets"]:
                misses.append(result["label"])
        summary = {"connections": args.connections, "workers": args.workers, "duration_s": args.duration,
                   "data": counts, "results": results,
                   "targets": {"p95_ms_max": 100, "share_of_floor_min": 0.5}}
        (ROOT / "bench" / "results").mkdir(exist_ok=True)
        (ROOT / "bench" / "results" / "load.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False)
                                                                + "\n")
        print("share of the floor's requests/s: "
              + ", ".join(f"{r['path']} {r['share_of_floor']:.2f}" for r in results))
        print("floor's CPU per request / the target's (workers + PostgreSQL; steadier on a busy machine): "
              + ", ".join(f"{r['path']} {r['cpu_share_of_floor']:.2f}" for r in results))
        print("share of the signed-in floor's requests/s: "
              + ", ".join(f"{r['path']} {r['share_of_signed_in_floor']:.2f}" for r in results[3:]))
        print(f"floor / hello world: {floor / hello:.3f}")
        print("targets (p95 <= 100 ms, >= 50% of the floor, no errors): "
              + ("all met" if not misses else "MISSED by " + "; ".join(misses)))
    finally:
        server.terminate()
        server.wait(timeout=10)
        import sqlalchemy as sa

        if args.keep:
            print(f"kept database {db_env['DATABASE_URL']} (instance {tmp})")
        else:
            admin = sa.create_engine(sa.make_url(args.server.replace("postgresql://", "postgresql+psycopg://", 1)),
                                     isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main())
