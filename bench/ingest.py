"""Benchmark of the billing import (SPEC §5.1; issue 6 targets: ≥ 100,000 rows/s, peak RSS < 300 MB).

    python bench/ingest.py --size tiny|provincial [--db sqlite|postgresql|both] [--runs 3]

For each database: a fresh database gets the reference data (agencies, products), the
activations file and all billing months but the last (set-up, timed but not the figure). Then,
`--runs` times, a child process deletes the last month and imports its file with
`portal import billing` semantics (whole-or-nothing, set-based), measuring rows/s and the child's
peak RSS (`resource.getrusage`), and in the same child a plain PostgreSQL `COPY` of the same
file into a bare table (and, on SQLite, a plain `executemany` of it) for comparison. Finally an
idempotent re-run (every row unchanged) is timed. Prints a table and writes JSON results
(default instance/bench/ingest-<size>.json).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_PG = "postgresql://root@127.0.0.1/postgres"


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _make_app(url: str):
    os.environ.setdefault("PORTAL_INSTANCE_PATH", tempfile.mkdtemp(prefix="bench-ingest-"))
    from portal.app import create_app

    return create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench-only", "RATELIMIT_ENABLED": False})


def _count_lines(path: Path) -> int:
    with open(path, "rb") as f:
        return sum(1 for _ in f) - 1


# --- child steps (each in its own process, so that peak RSS is the step's own) ---------------

def child_setup(params: dict) -> dict:
    from bench.generate import load_reference
    from commissions.ingest import operations as ops
    from portal.core.db import db

    app = _make_app(params["url"])
    data = Path(params["data"])
    timings = {}
    with app.app_context():
        db.create_all()
    load_reference(app, data)
    with app.app_context():
        steps = [("billing", data / f"billing-{m}.csv") for m in params["months"][:-1]]
        if params.get("bulk_activations"):
            started = time.perf_counter()
            bulk_load_activations(data / "activations.csv")
            db.session.commit()
            timings["activations.csv (bulk set-up load, not the import)"] = {
                "seconds": round(time.perf_counter() - started, 2)}
        else:
            steps.insert(0, ("activations", data / "activations.csv"))
        for kind, path in steps:
            run = ops.new_run(kind, "cli", filename=path.name)
            started = time.perf_counter()
            ops.import_file(run, path)
            db.session.commit()
            timings[path.name] = {"seconds": round(time.perf_counter() - started, 2), "status": run.status.value,
                                  "inserted": run.inserted, "rejected": run.rejected}
    return {"setup": timings, "rss_mb": round(_rss_mb(), 1)}


def bulk_load_activations(path: Path) -> None:
    """Set-up only: the generated activations straight into the table (they are known good), so
    that the billing import has its orders. PostgreSQL: COPY + one INSERT … SELECT; SQLite:
    executemany."""
    import csv
    from datetime import UTC, datetime, timedelta

    import sqlalchemy as sa

    from portal.core.db import db

    conn = db.session.connection()
    cols = ("order_id, uscc, customer_name, product_code, agent_code, quantity, monthly_fee_fen, one_time_fee_fen, "
            "activated_at, activation_date, terminated_at, termination_date, created_at, updated_at")
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("CREATE TEMP TABLE bench_raw (order_id text, uscc text, customer_name text, "
                             "product_code text, agent_code text, quantity text, monthly_fee text, one_time_fee text, "
                             "activated_at text, terminated_at text)"))
        raw = conn.connection.driver_connection
        with open(path, "rb") as f, raw.cursor() as cur, \
                cur.copy("COPY bench_raw FROM STDIN (FORMAT csv, HEADER true)") as copy:
            while block := f.read(1 << 20):
                copy.write(block)
        conn.execute(sa.text(f"""INSERT INTO activations ({cols})
            SELECT order_id, uscc, customer_name, product_code, NULLIF(agent_code, ''), quantity::int,
              (monthly_fee::numeric * 100)::bigint, (one_time_fee::numeric * 100)::bigint,
              activated_at::timestamp AT TIME ZONE 'Asia/Shanghai', activated_at::timestamp::date,
              NULLIF(terminated_at, '')::timestamp AT TIME ZONE 'Asia/Shanghai',
              NULLIF(terminated_at, '')::timestamp::date,
              now(), now() FROM bench_raw"""))
        conn.execute(sa.text("DROP TABLE bench_raw"))
        return

    def utc_text(local: str) -> str:
        return (datetime.fromisoformat(local) - timedelta(hours=8)).strftime("%Y-%m-%d %H:%M:%S.%f")

    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")  # SQLite keeps naive UTC text
    raw = conn.connection.driver_connection
    insert = f"INSERT INTO activations ({cols}) VALUES ({', '.join('?' * 14)})"
    batch = []
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        next(reader)
        for o, u, n, p, a, q, m, one, at, end in reader:
            batch.append((o, u, n, p, a or None, int(q), int(m.replace(".", "")), int(one.replace(".", "")),
                          utc_text(at), at[:10], utc_text(end) if end else None, end[:10] if end else None, now, now))
            if len(batch) >= 10_000:
                raw.executemany(insert, batch)
                batch.clear()
    if batch:
        raw.executemany(insert, batch)


def child_measure(params: dict) -> dict:
    import sqlalchemy as sa

    from commissions.ingest import operations as ops
    from portal.core.db import db

    app = _make_app(params["url"])
    path = Path(params["file"])
    month = params["month"]
    out: dict = {}
    with app.app_context():
        if params.get("reset", True):
            db.session.execute(sa.text("DELETE FROM billing_records WHERE period = :p"), {"p": month})
            db.session.commit()
            if db.engine.dialect.name == "postgresql":
                with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                    conn.execute(sa.text("VACUUM ANALYZE billing_records"))
        rss_before = _rss_mb()
        run = ops.new_run("billing", "cli", filename=path.name)
        started = time.perf_counter()
        ops.import_file(run, path)
        db.session.commit()
        seconds = time.perf_counter() - started
        out["import"] = {"rows": run.rows_read, "inserted": run.inserted, "updated": run.updated,
                         "unchanged": run.unchanged, "rejected": run.rejected, "status": run.status.value,
                         "seconds": round(seconds, 3), "rows_per_s": round(run.rows_read / seconds),
                         "peak_rss_mb": round(_rss_mb(), 1), "rss_before_mb": round(rss_before, 1),
                         "steps": list(ops._TIMINGS_LOG)}
    if params.get("floors", True):
        out["floors"] = floors(params, path)
    return out


def floors(params: dict, path: Path) -> dict:
    """Plain loads of the same file, no checks: PostgreSQL COPY; SQLite executemany."""
    result = {}
    pg_url = params.get("pg_url")
    if pg_url:
        import psycopg

        with psycopg.connect(pg_url.replace("postgresql+psycopg://", "postgresql://")) as conn:
            with conn.cursor() as cur:
                cur.execute("CREATE TEMP TABLE copy_floor (order_id varchar(64), period varchar(7), "
                            "billed_amount numeric(14,2), paid_amount numeric(14,2))")
                started = time.perf_counter()
                with open(path, "rb") as f, cur.copy("COPY copy_floor FROM STDIN (FORMAT csv, HEADER true)") as copy:
                    while block := f.read(1 << 20):
                        copy.write(block)
                seconds = time.perf_counter() - started
                cur.execute("SELECT count(*) FROM copy_floor")
                rows = cur.fetchone()[0]
            conn.rollback()
        result["postgresql_copy"] = {"rows": rows, "seconds": round(seconds, 3), "rows_per_s": round(rows / seconds)}
    if params["url"].startswith("sqlite"):
        import csv
        import sqlite3

        conn = sqlite3.connect(":memory:" if params.get("sqlite_memory") else params["url"][len("sqlite:///"):])
        conn.execute("CREATE TEMP TABLE plain_floor (order_id text, period text, billed text, paid text)")
        started = time.perf_counter()
        with open(path, encoding="utf-8", newline="") as f:
            reader = csv.reader(f)
            next(reader)
            conn.executemany("INSERT INTO plain_floor VALUES (?, ?, ?, ?)", reader)
        conn.commit()
        seconds = time.perf_counter() - started
        rows = conn.execute("SELECT count(*) FROM plain_floor").fetchone()[0]
        conn.close()
        result["sqlite_executemany"] = {"rows": rows, "seconds": round(seconds, 3), "rows_per_s": round(rows / seconds)}
    return result


def run_child(step: str, params: dict) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", step, json.dumps(params)],
                          capture_output=True, text=True, cwd=ROOT, check=False,
                          env={**os.environ, "INGEST_TIMINGS": "1"})
    if proc.returncode != 0:
        raise RuntimeError(f"{step} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --- orchestration ------------------------------------------------------------------------------

def fresh_database(kind: str, pg_url: str, tmp: Path):
    import sqlalchemy as sa

    if kind == "sqlite":
        return f"sqlite:///{tmp / f'bench-{secrets.token_hex(3)}.sqlite3'}", (lambda: None)
    server = sa.make_url(pg_url.replace("postgresql://", "postgresql+psycopg://", 1))
    name = f"bench_ingest_{os.getpid()}_{secrets.token_hex(3)}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))

    def drop():
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return server.set(database=name).render_as_string(hide_password=False), drop


def bench_database(kind: str, args, data: Path, months: list[str], tmp: Path) -> dict:
    reuse = [u for u in (args.reuse or []) if u.startswith("sqlite" if kind == "sqlite" else "postgresql")]
    if reuse:
        url, drop = reuse[0], (lambda: None)
        setup = {"setup": {"reused": url}}
    else:
        url, drop = fresh_database(kind, args.pg_url, ROOT / "instance" / "bench" if args.keep else tmp)
        if args.keep:
            print(f"[{kind}] database kept: {url}", flush=True)

            def drop():
                return None
    try:
        if not reuse:
            print(f"[{kind}] set-up: reference data, activations, {len(months) - 1} earlier billing month(s) …",
                  flush=True)
            setup = run_child("setup", {"url": url, "data": str(data), "months": months,
                                        "bulk_activations": args.bulk_activations})
        for name, info in setup["setup"].items():
            print(f"[{kind}]   {name}: {info}", flush=True)
        last = data / f"billing-{months[-1]}.csv"
        runs = []
        for i in range(args.runs):
            result = run_child("measure", {"url": url, "file": str(last), "month": months[-1],
                                           "pg_url": args.pg_url if args.with_pg_copy else None})
            imp = result["import"]
            print(f"[{kind}] run {i + 1}: {imp['rows']:,} rows in {imp['seconds']:.2f} s = "
                  f"{imp['rows_per_s']:,} rows/s,"
                  f" peak RSS {imp['peak_rss_mb']:.0f} MB ({imp['status']}, inserted {imp['inserted']:,}); floors "
                  + ", ".join(f"{k} {v['rows_per_s']:,} rows/s" for k, v in result["floors"].items()), flush=True)
            runs.append(result)
        rerun = run_child("measure", {"url": url, "file": str(last), "month": months[-1], "reset": False,
                                      "floors": False})["import"]
        print(f"[{kind}] idempotent re-run: {rerun['seconds']:.2f} s, unchanged {rerun['unchanged']:,}", flush=True)
    finally:
        drop()

    def med(values):
        return round(statistics.median(values), 3)

    summary = {
        "rows": runs[0]["import"]["rows"],
        "import_seconds_median": med([r["import"]["seconds"] for r in runs]),
        "import_rows_per_s_median": round(med([r["import"]["rows_per_s"] for r in runs])),
        "peak_rss_mb_max": max(r["import"]["peak_rss_mb"] for r in runs),
        "rerun_seconds": rerun["seconds"],
    }
    for floor in runs[0]["floors"]:
        summary[f"{floor}_rows_per_s_median"] = round(med([r["floors"][floor]["rows_per_s"] for r in runs]))
        summary[f"{floor}_seconds_median"] = med([r["floors"][floor]["seconds"] for r in runs])
    return {"setup": setup, "runs": runs, "rerun": rerun, "summary": summary}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="tiny")
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--pg-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_PG))
    parser.add_argument("--data", type=Path, default=None, help="generated files (made when missing)")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--no-pg-copy", dest="with_pg_copy", action="store_false",
                        help="do not measure the PostgreSQL COPY floor (no server)")
    parser.add_argument("--import-activations", dest="bulk_activations", action="store_false",
                        help="set up the activations through `portal import` instead of a bulk load")
    parser.add_argument("--keep", action="store_true",
                        help="keep the databases (SQLite files in instance/bench/; prints their URLs)")
    parser.add_argument("--reuse", action="append", default=None,
                        help="a database URL kept by --keep: skip the set-up (repeat for both databases)")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        step, params = args.child[0], json.loads(args.child[1])
        result = {"setup": child_setup, "measure": child_measure}[step](params)
        print(json.dumps(result))
        return 0

    from bench.generate import SIZES, generate

    data = args.data or ROOT / "instance" / "bench" / args.size
    months = SIZES[args.size]["months"]
    if not (data / f"billing-{months[-1]}.csv").exists():
        print(f"generating {args.size} data in {data} …", flush=True)
        generate(args.size, data)
    databases = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    results = {"size": args.size, "rows_last_month": _count_lines(data / f"billing-{months[-1]}.csv"),
               "targets": {"rows_per_s": 100_000, "peak_rss_mb": 300}, "databases": {}}
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        for kind in databases:
            results["databases"][kind] = bench_database(kind, args, data, months, Path(tmp))
    out = args.json or ROOT / "instance" / "bench" / f"ingest-{args.size}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print()
    print(f"billing import of one month ({results['rows_last_month']:,} rows), medians of {args.runs} run(s):")
    print(f"{'database':<11} {'rows/s':>10} {'seconds':>8} {'peak RSS':>9} {'COPY rows/s':>12} {'re-run s':>9}")
    for kind, res in results["databases"].items():
        s = res["summary"]
        copy = s.get("postgresql_copy_rows_per_s_median")
        copy_text = "-" if copy is None else format(copy, ",")
        print(f"{kind:<11} {s['import_rows_per_s_median']:>10,} {s['import_seconds_median']:>8.2f} "
              f"{s['peak_rss_mb_max']:>6.0f} MB {copy_text:>12} "
              f"{s['rerun_seconds']:>9.2f}")
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
