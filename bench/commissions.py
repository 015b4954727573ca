"""Benchmark of the period run (issue 6 targets: ≤ 10 s on PostgreSQL and ≤ 4× the floor).

    python bench/commissions.py --size tiny|provincial [--db sqlite|postgresql|both] [--runs N] [--close]
                                [--no-ingest] [--keep] [--reuse URL]

For each database: a fresh database gets the generated data of bench/generate.py (agencies,
products, activations, three months of billing) loaded in bulk, and the demo plan
(commissions/data/demo_plan.toml). Attribution of every activation is timed on its own, the first
two periods are run (set-up), then the last period is run and run again (the figures), next to the
floor measured in the same process just before: one set-based INSERT … SELECT computing that
period's share lines alone. `--runs N` repeats floor, run and re-run N times (the period's lines
are deleted and the table vacuumed in between, not timed) and reports medians, with the load
average at each iteration. The re-run is checked to give exactly the first run's lines and
statements (a grouped comparison in SQL). `--close` runs, publishes and closes every month from
the first one with data up to the one before the last (periods close in calendar order), so the
measured run also looks for late lines of closed periods; the close guards of other features
are not applied there. Unless `--no-ingest`, bench/ingest.py (the billing import) runs too.
Prints a table and writes JSON (default instance/bench/commissions-<size>.json).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_PG = "postgresql://root@127.0.0.1/postgres"
CHUNK = 50_000


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _fresh_database(kind: str, pg_url: str, tmp: Path):
    import sqlalchemy as sa

    if kind == "sqlite":
        return f"sqlite:///{tmp / f'bench-{secrets.token_hex(3)}.sqlite3'}", (lambda: None)
    server = sa.make_url(pg_url.replace("postgresql://", "postgresql+psycopg://", 1))
    name = f"bench_commissions_{os.getpid()}_{secrets.token_hex(3)}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))

    def drop():
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return server.set(database=name).render_as_string(hide_password=False), drop


def _make_app(url: str):
    os.environ.setdefault("PORTAL_INSTANCE_PATH", tempfile.mkdtemp(prefix="bench-commissions-"))
    from portal.app import create_app

    return create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench-only", "RATELIMIT_ENABLED": False,
                       "TESTING": False})


def _fen(text: str) -> int:
    text = text.strip() or "0"
    whole, _, frac = text.partition(".")
    return int(whole) * 100 + int((frac + "00")[:2])


def _activation_rows(path: Path):
    from portal.core.time import parse_iso_timestamp, shanghai_date

    with open(path, encoding="utf-8") as f:
        for r in csv.DictReader(f):
            at = parse_iso_timestamp(r["activated_at"])
            end = parse_iso_timestamp(r["terminated_at"]) if r["terminated_at"] else None
            yield (r["order_id"], r["uscc"], r["customer_name"], r["product_code"], r["agent_code"] or None,
                   int(r["quantity"]), _fen(r["monthly_fee"]) * int(r["quantity"]), _fen(r["one_time_fee"]), at,
                   shanghai_date(at), end, shanghai_date(end) if end else None, at, at)


def _billing_rows(path: Path, now):
    with open(path, encoding="utf-8") as f:
        for r in csv.DictReader(f):
            yield (r["order_id"], r["period"], _fen(r["billed_amount"]), _fen(r["paid_amount"]), now, now)


ACT_COLS = ["order_id", "uscc", "customer_name", "product_code", "agent_code", "quantity", "monthly_fee_fen",
            "one_time_fee_fen", "activated_at", "activation_date", "terminated_at", "termination_date",
            "created_at", "updated_at"]
BILL_COLS = ["order_id", "period", "billed_fen", "paid_fen", "created_at", "updated_at"]


def _bulk_load(db, table: str, cols: list[str], rows) -> int:
    """COPY on PostgreSQL, executemany in chunks on SQLite (set-up only, not a measured figure)."""
    engine = db.engine
    n = 0
    if engine.dialect.name == "postgresql":
        raw = engine.raw_connection()
        try:
            with raw.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
                    n += 1
            raw.commit()
        finally:
            raw.close()
        return n
    import sqlalchemy as sa

    from portal.core.db import UTCDateTime

    conv = UTCDateTime()
    stmt = sa.text(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join(':' + c for c in cols)})")
    batch = []
    with engine.begin() as conn:
        for row in rows:
            batch.append({c: (conv.process_bind_param(v, engine.dialect) if hasattr(v, "tzinfo") and
                              hasattr(v, "hour") else v) for c, v in zip(cols, row, strict=True)})
            if len(batch) >= CHUNK:
                conn.execute(stmt, batch)
                n += len(batch)
                batch = []
        if batch:
            conn.execute(stmt, batch)
            n += len(batch)
    return n


FLOOR_SELECT = """
        FROM billing_records b
        JOIN commission_attributions t ON t.order_id = b.order_id
        JOIN activations a ON a.id = t.activation_id
        JOIN commission_rules r ON r.product_id = t.product_id AND r.effective_from <= a.activation_date
             AND (r.effective_to IS NULL OR r.effective_to >= a.activation_date)
        WHERE b.period = CAST(:p AS VARCHAR(7)) AND t.kind = 'sale'"""


def floor_seconds(db, period: str) -> tuple[float, int]:
    """The floor: one set-based INSERT … SELECT computing the period's share lines alone, into a
    bare table (order, agency, amount)."""
    import sqlalchemy as sa

    db.session.execute(sa.text("DROP TABLE IF EXISTS bench_floor_lines"))
    db.session.execute(sa.text("CREATE TABLE bench_floor_lines (order_id VARCHAR(64), agency_id INTEGER, "
                               "amount_fen BIGINT)"))
    db.session.commit()
    started = time.perf_counter()
    result = db.session.execute(sa.text(
        "INSERT INTO bench_floor_lines (order_id, agency_id, amount_fen) SELECT b.order_id, t.agency_id, "
        "(b.paid_fen * r.share_rate_u * 10000 + 5000000000) / 10000000000" + FLOOR_SELECT), {"p": period})
    db.session.commit()
    seconds = time.perf_counter() - started
    db.session.execute(sa.text("DROP TABLE bench_floor_lines"))
    db.session.commit()
    return seconds, result.rowcount


def ledger_floor_seconds(db, period: str) -> float:
    """The same INSERT … SELECT writing every column of a ledger line into a table shaped like
    commission_lines (its primary key and indexes): what storing the lines costs at least."""
    import sqlalchemy as sa

    pg = db.engine.dialect.name == "postgresql"
    db.session.execute(sa.text("DROP TABLE IF EXISTS bench_floor_ledger"))
    if pg:
        db.session.execute(sa.text("CREATE TABLE bench_floor_ledger (LIKE commission_lines INCLUDING ALL)"))
    else:
        db.session.execute(sa.text("CREATE TABLE bench_floor_ledger AS SELECT * FROM commission_lines WHERE 0"))
        db.session.execute(sa.text("CREATE INDEX bench_floor_ledger_pa ON bench_floor_ledger (period, agency_id)"))
        db.session.execute(sa.text("CREATE UNIQUE INDEX bench_floor_ledger_id ON bench_floor_ledger (id)"))
    db.session.commit()
    started = time.perf_counter()
    db.session.execute(sa.text(
        "INSERT INTO bench_floor_ledger (" + ("" if pg else "id, ") + "period, source_period, agency_id, order_id, "
        "component, accrual_date, basis_fen, rate_u, multiplier_u, rule_version, amount_fen, computed) SELECT "
        + ("" if pg else "t.activation_id, ") + "CAST(:p AS VARCHAR(7)), b.period, t.agency_id, b.order_id, 'share', "
        "a.activation_date, b.paid_fen, "
        "r.share_rate_u, 10000, r.version, (b.paid_fen * r.share_rate_u * 10000 + 5000000000) / 10000000000, :t"
        + FLOOR_SELECT), {"p": period, "t": True})
    db.session.commit()
    seconds = time.perf_counter() - started
    db.session.execute(sa.text("DROP TABLE bench_floor_ledger"))
    db.session.commit()
    return seconds


def bench_database(kind: str, args, data: Path, months: list[str], tmp: Path) -> dict:
    import sqlalchemy as sa

    from bench.generate import load_reference
    from commissions.plans import load_toml
    from portal.core.context import Actor, set_actor
    from portal.core.db import db, utcnow

    reuse = [u for u in (args.reuse or []) if u.startswith("sqlite" if kind == "sqlite" else "postgresql")]
    if reuse:
        url, drop = reuse[0], (lambda: None)
    else:
        url, drop = _fresh_database(kind, args.pg_url, ROOT / "instance" / "bench" if args.keep else tmp)
        if args.keep:
            print(f"[{kind}] database kept: {url}", flush=True)

            def drop():
                return None
    out: dict = {"database": kind}
    try:
        app = _make_app(url)
        with app.app_context():
            set_actor(Actor(user_id=None, label="bench"))
            db.create_all()
            reused = bool(db.session.scalar(sa.text("SELECT count(*) FROM activations")))
        if reused:
            return _measure(kind, args, app, months, out, reused=True)
        with app.app_context():
            load_reference(app, data)
            t = time.perf_counter()
            n_act = _bulk_load(db, "activations", ACT_COLS, _activation_rows(data / "activations.csv"))
            now = utcnow()
            n_bill = sum(_bulk_load(db, "billing_records", BILL_COLS, _billing_rows(data / f"billing-{m}.csv", now))
                         for m in months)
            if kind == "postgresql":
                with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                    conn.execute(sa.text("ANALYZE"))
            else:
                db.session.execute(sa.text("ANALYZE"))
                db.session.commit()
            out["load"] = {"activations": n_act, "billing": n_bill, "seconds": round(time.perf_counter() - t, 1)}
            print(f"[{kind}] loaded {n_act:,} activations and {n_bill:,} billing rows in "
                  f"{out['load']['seconds']} s (set-up)", flush=True)
            load_toml((ROOT / "commissions" / "data" / "demo_plan.toml").read_bytes())
            db.session.commit()
        return _measure(kind, args, app, months, out, reused=False)
    finally:
        drop()


SNAPSHOT_COLUMNS = ("period, source_period, agency_id, order_id, component, accrual_date, basis_fen, rate_u, "
                    "quantity, unit_fen, multiplier_u, grade, rule_version, month_index, amount_fen, prior_fen, "
                    "computed")
STATEMENT_COLUMNS = ("period, agency_id, opening_fen, earned_fen, available_fen, payable_fen, carried_fen, "
                     "hold_reason, status, line_count")


def _snapshot(db, period: str) -> None:
    """Copy the period's lines and statements (without ids) into bench tables, to compare a re-run."""
    import sqlalchemy as sa

    for name, table, cols in (("bench_snap_lines", "commission_lines", SNAPSHOT_COLUMNS),
                              ("bench_snap_statements", "commission_statements", STATEMENT_COLUMNS)):
        db.session.execute(sa.text(f"DROP TABLE IF EXISTS {name}"))
        db.session.execute(sa.text(f"CREATE TABLE {name} AS SELECT {cols} FROM {table} WHERE period = :p"),
                           {"p": period})
    db.session.commit()


def _same_as_snapshot(db, period: str) -> bool:
    """Every line and statement of the period equal to the snapshot, as multisets (one grouped
    comparison per table, in SQL: a provincial period does not go through Python)."""
    import sqlalchemy as sa

    same = True
    for name, table, cols in (("bench_snap_lines", "commission_lines", SNAPSHOT_COLUMNS),
                              ("bench_snap_statements", "commission_statements", STATEMENT_COLUMNS)):
        differing = db.session.scalar(sa.text(f"""SELECT COUNT(*) FROM (SELECT {cols}, SUM(side) AS d FROM (
            SELECT {cols}, 1 AS side FROM {name} UNION ALL SELECT {cols}, -1 AS side FROM {table} WHERE period = :p
            ) u GROUP BY {cols} HAVING SUM(side) <> 0) x"""), {"p": period})
        same = same and not differing
        db.session.execute(sa.text(f"DROP TABLE {name}"))
    db.session.commit()
    return same


def _forget_run(db, kind: str, period: str) -> None:
    """Between measured iterations (not timed): the period's lines and statements removed, the
    table vacuumed, so that the next run is a first run again."""
    import sqlalchemy as sa

    db.session.execute(sa.text("DELETE FROM commission_lines WHERE period = :p"), {"p": period})
    db.session.execute(sa.text("DELETE FROM commission_statements WHERE period = :p"), {"p": period})
    db.session.commit()
    if kind == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM ANALYZE commission_lines"))
            conn.execute(sa.text("CHECKPOINT"))


def _setup_periods(kind, args, db, months, reused: bool) -> None:
    """The periods before the measured one. With --close: every month from the first one holding
    data (periods close in calendar order) is run, published and closed, so the measured run also
    looks for late lines of closed periods."""
    import sqlalchemy as sa

    from commissions.calculation import next_period
    from commissions.engine import run_period
    from commissions.periods import CLOSE_GUARDS, close_period, earliest_data_period, last_closed_period
    from commissions.statements import publish_period

    periods = list(months[:-1])
    if args.close:
        first = earliest_data_period(months[-1]) or months[0]
        periods = [first]
        while periods[-1] < months[-2]:
            periods.append(next_period(periods[-1]))
    for period in periods:
        last = last_closed_period()
        done = db.session.scalar(sa.text("SELECT count(*) FROM commission_periods WHERE period = :p "
                                         "AND last_run_at IS NOT NULL"), {"p": period})
        if (last is not None and period <= last) or (reused and done and not args.close):
            continue
        result = run_period(period)
        db.session.commit()
        print(f"[{kind}] set-up run {period}: {result['lines']:,} lines in {result['seconds']} s", flush=True)
        if args.close:
            publish_period(period)
            # the close guards of other features (payouts reconciliation) are not part of this benchmark
            saved = list(CLOSE_GUARDS)
            CLOSE_GUARDS.clear()
            try:
                close_period(period)
            finally:
                CLOSE_GUARDS.extend(saved)
            db.session.commit()


def _measure(kind, args, app, months, out, reused: bool) -> dict:
    import statistics

    import sqlalchemy as sa

    from commissions.attribution import attribute_pending
    from commissions.engine import run_period
    from portal.core.context import Actor, set_actor
    from portal.core.db import db

    with app.app_context():
        set_actor(Actor(user_id=None, label="bench"))
        t = time.perf_counter()
        counts = attribute_pending()
        db.session.commit()
        if kind == "postgresql":
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(sa.text("ANALYZE commission_attributions"))
        out["attribution"] = {"seconds": round(time.perf_counter() - t, 2), "counts": counts}
        print(f"[{kind}] attribution of {sum(counts.values()):,} activations: {out['attribution']['seconds']} s "
              f"{counts}", flush=True)
        _setup_periods(kind, args, db, months, reused)
        last = months[-1]
        iterations = []
        for i in range(args.runs):
            if i or db.session.scalar(sa.text("SELECT count(*) FROM commission_lines WHERE period = :p"),
                                      {"p": last}):
                _forget_run(db, kind, last)
            load = os.getloadavg()[0]
            floor, floor_rows = floor_seconds(db, last)
            ledger_floor = ledger_floor_seconds(db, last)
            t = time.perf_counter()
            first = run_period(last)
            db.session.commit()
            first_s = time.perf_counter() - t
            _snapshot(db, last)
            t = time.perf_counter()
            second = run_period(last)
            db.session.commit()
            second_s = time.perf_counter() - t
            identical = _same_as_snapshot(db, last)
            iterations.append({"load_1min": round(load, 2), "load_1min_after": round(os.getloadavg()[0], 2),
                               "floor_seconds": round(floor, 2), "floor_rows": floor_rows,
                               "ledger_floor_seconds": round(ledger_floor, 2), "run_seconds": round(first_s, 2),
                               "rerun_seconds": round(second_s, 2), "run_ratio": round(first_s / floor, 2),
                               "rerun_ratio": round(second_s / floor, 2), "identical": identical,
                               "lines": first["lines"], "statements": first["statements"], "late": first["late"],
                               "changed_on_rerun": second["steps"].get("changed"),
                               "steps_run": first["steps"], "steps_rerun": second["steps"]})
            print(f"[{kind}] {i + 1}/{args.runs} (load {load:.2f}): floor {floor:.2f} s ({floor_rows:,} share "
                  f"lines), ledger-shaped floor {ledger_floor:.2f} s; run {last} {first_s:.2f} s "
                  f"({first_s / floor:.2f}× floor), re-run {second_s:.2f} s ({second_s / floor:.2f}×); "
                  f"{first['lines']:,} lines, {first['statements']:,} statements; identical: {identical}", flush=True)
            print(f"[{kind}]   steps of the run: {first['steps']}", flush=True)
            print(f"[{kind}]   steps of the re-run: {second['steps']}", flush=True)

        def med(key):
            return round(statistics.median(it[key] for it in iterations), 2)

        out.update({"period": last, "runs": args.runs, "iterations": iterations,
                    "lines": iterations[0]["lines"], "statements": iterations[0]["statements"],
                    "late_included": iterations[0]["late"],
                    "run_seconds": med("run_seconds"), "rerun_seconds": med("rerun_seconds"),
                    "floor_seconds": med("floor_seconds"), "floor_rows": iterations[0]["floor_rows"],
                    "ledger_floor_seconds": med("ledger_floor_seconds"),
                    "run_ratio": med("run_ratio"), "rerun_ratio": med("rerun_ratio"),
                    "ratio": round(statistics.median(max(it["run_ratio"], it["rerun_ratio"]) for it in iterations), 2),
                    "load_1min": [it["load_1min"] for it in iterations],
                    "identical": all(it["identical"] for it in iterations), "peak_rss_mb": round(_rss_mb())})
        db.session.remove()
        db.engine.dispose()
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="tiny")
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--pg-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_PG))
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--close", action="store_true", help="close the earlier periods before the timed run")
    parser.add_argument("--runs", type=int, default=1, help="measured iterations (medians are reported)")
    parser.add_argument("--no-ingest", dest="ingest", action="store_false", help="skip bench/ingest.py")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--keep", action="store_true",
                        help="keep the databases (SQLite files in instance/bench/; prints their URLs)")
    parser.add_argument("--reuse", action="append", default=None,
                        help="a database URL kept by --keep: skip the set-up (repeat for both databases)")
    args = parser.parse_args(argv)

    from bench.generate import SIZES, generate

    months = SIZES[args.size]["months"]
    data = args.data or ROOT / "instance" / "bench" / args.size
    if not (data / f"billing-{months[-1]}.csv").exists():
        print(f"generating {args.size} data in {data} …", flush=True)
        generate(args.size, data)
    databases = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    results = {"size": args.size, "targets": {"postgresql_run_seconds": 10, "ratio_to_floor": 4}, "databases": {}}
    with tempfile.TemporaryDirectory(prefix="bench-commissions-") as tmp:
        for kind in databases:
            results["databases"][kind] = bench_database(kind, args, data, months, Path(tmp))
    if args.ingest and (ROOT / "bench" / "ingest.py").exists():
        print("\nbilling import (bench/ingest.py):", flush=True)
        proc = subprocess.run([sys.executable, str(ROOT / "bench" / "ingest.py"), "--size", args.size, "--db", args.db,
                               "--runs", "1", "--data", str(data), "--pg-url", args.pg_url],
                              cwd=ROOT, check=False, text=True, capture_output=True)
        print(proc.stdout[-3000:], flush=True)
        results["ingest"] = {"returncode": proc.returncode, "output_tail": proc.stdout[-3000:],
                             "stderr_tail": proc.stderr[-2000:]}
    print()
    print(f"period run ({args.size}): last period, run and re-run next to the floor (same process), "
          f"medians of {args.runs} run(s)")
    print(f"{'database':<11} {'lines':>10} {'run s':>7} {'re-run s':>9} {'floor s':>8} {'run×':>6} {'re-run×':>8} "
          f"{'ledger floor s':>15} {'load':>16} {'identical':>9}")
    ok = True
    for kind, r in results["databases"].items():
        loads = "/".join(f"{x:.1f}" for x in r["load_1min"])
        print(f"{kind:<11} {r['lines']:>10,} {r['run_seconds']:>7.2f} {r['rerun_seconds']:>9.2f} "
              f"{r['floor_seconds']:>8.2f} {r['run_ratio']:>6.2f} {r['rerun_ratio']:>8.2f} "
              f"{r['ledger_floor_seconds']:>15.2f} {loads:>16} {r['identical']!s:>9}")
        ok = ok and r["identical"]
    out = args.json or ROOT / "instance" / "bench" / f"commissions-{args.size}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str))
    print(f"results: {out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
