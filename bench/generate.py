"""Synthetic BOSS data for benchmarks and smoke tests.

    python bench/generate.py --size tiny|provincial [--out DIR]

writes into DIR (default instance/bench/<size>/, not committed):
  agencies.csv                    code,name,uscc,grade
  activations.csv                 the activations file of SPEC §5.1
  billing-YYYY-MM.csv             one billing file per month (SPEC §5.1)

Sizes: `tiny` 50 agencies, 2,000 orders, 3 months; `provincial` 5,000 agencies, 1,000,000
orders, 3 months of billing (3,000,000 rows, the last month alone 1,000,000). Every order is
activated before the first billed month and billed every month, so each month file has one row
per order. The data is deterministic (seeded). `load_reference(app)` puts the agencies (region
BN) and the catalog's products into a database so that the files import cleanly.
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from portal.core.validators import uscc_check_character  # noqa: E402

SIZES = {
    "tiny": {"agencies": 50, "orders": 2_000, "months": ["2026-09", "2026-10", "2026-11"]},
    "provincial": {"agencies": 5_000, "orders": 1_000_000, "months": ["2026-09", "2026-10", "2026-11"]},
}
LOW_PRODUCTS = [("GRP-SMS", "80.00", "0.00"), ("ENT-MAIL", "50.00", "0.00"), ("GRP-MMS", "100.00", "0.00"),
                ("GRP-CRBT", "5.00", "0.00")]
HIGH_PRODUCTS = [("GRP-ACCESS", "2000.00", "5000.00")]
GRADES = ["gold", "silver", "silver", "bronze"]


def agency_code(i: int) -> str:
    return f"AGBN{i:04d}" if i < 10_000 else f"AGB{i:05d}"


def uscc(n: int, prefix: str = "9144010") -> str:
    first17 = f"{prefix}{n:010d}"[:17]
    return first17 + uscc_check_character(first17)


def generate(size: str, out: Path, seed: int = 20261122) -> dict:
    spec = SIZES[size]
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    n_agencies, n_orders, months = spec["agencies"], spec["orders"], spec["months"]
    started = time.perf_counter()
    with open(out / "agencies.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["code", "name", "uscc", "grade"])
        for i in range(1, n_agencies + 1):
            w.writerow([agency_code(i), f"Bench agency {i}", uscc(i, "9144030"), GRADES[i % len(GRADES)]])
    n_customers = max(10, n_orders // 5)
    first_month = date.fromisoformat(months[0] + "-01")
    start = date(first_month.year - 1 if first_month.month <= 8 else first_month.year,
                 ((first_month.month - 9) % 12) + 1, 1)  # activations over the 8 months before
    span_days = (first_month - start).days
    with open(out / "activations.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["order_id", "uscc", "customer_name", "product_code", "agent_code", "quantity",
                    "monthly_fee", "one_time_fee", "activated_at", "terminated_at"])
        for i in range(1, n_orders + 1):
            c = rng.randrange(1, n_customers + 1)
            if rng.random() < 0.1:
                code, monthly, one_time = HIGH_PRODUCTS[0]
                agent = ""
            else:
                code, monthly, one_time = LOW_PRODUCTS[rng.randrange(len(LOW_PRODUCTS))]
                r = rng.random()
                agent = "" if r < 0.15 else ("AGXX9999" if r < 0.16 else agency_code(rng.randrange(1, n_agencies + 1)))
            qty = rng.randrange(1, 50)
            at = datetime.combine(start + timedelta(days=rng.randrange(span_days)), datetime.min.time()) \
                + timedelta(seconds=rng.randrange(86400))
            terminated = ""
            if rng.random() < 0.02:
                terminated = (at + timedelta(days=rng.randrange(1, 400))).strftime("%Y-%m-%dT%H:%M:%S")
            w.writerow([f"BN{i:09d}", uscc(c), f"客户{c}", code, agent, qty, monthly, one_time,
                        at.strftime("%Y-%m-%dT%H:%M:%S"), terminated])
    for month in months:
        mrng = random.Random(f"{seed}-{month}")
        with open(out / f"billing-{month}.csv", "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["order_id", "period", "billed_amount", "paid_amount"])
            for i in range(1, n_orders + 1):
                billed = mrng.randrange(500, 500_000)  # fen
                paid = billed if mrng.random() < 0.9 else mrng.randrange(0, billed + 1)
                w.writerow([f"BN{i:09d}", month, f"{billed // 100}.{billed % 100:02d}",
                            f"{paid // 100}.{paid % 100:02d}"])
    return {"size": size, "out": str(out), "agencies": n_agencies, "orders": n_orders, "months": months,
            "seconds": round(time.perf_counter() - started, 1)}


def load_reference(app, data_dir: Path) -> None:
    """Region BN, the agencies of agencies.csv (with grades) and the catalog's products, in bulk."""
    import sqlalchemy as sa

    from catalog.models import Product
    from portal.core.db import db, utcnow
    from portal.core.models import Region
    from portal.partners.models import Agency, AgencyGrade

    with app.app_context():
        region = db.session.scalar(sa.select(Region).where(Region.code == "BN"))
        if region is None:
            region = Region(code="BN", name_zh="基准", name_en="Bench")
            db.session.add(region)
            db.session.flush()
        existing = set(db.session.scalars(sa.select(Product.code)))
        with open(ROOT / "catalog" / "data" / "catalog.csv", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                if row["code"] in existing:
                    continue
                db.session.add(Product(
                    code=row["code"], name_zh=row["name_zh"], name_en=row["name_en"], category=row["category"],
                    monthly_price_fen=int(row["monthly_price"].replace(".", "")),
                    one_time_price_fen=int(row["one_time_price"].replace(".", "")),
                    module_complexity=int(row["module_complexity"]), market_exclusivity=int(row["market_exclusivity"]),
                    training_requirement=int(row["training_requirement"]),
                    description_en=row.get("description_en", "")))
        for code, _monthly, _one_time in LOW_PRODUCTS + HIGH_PRODUCTS:
            if code not in existing and not db.session.scalar(sa.select(Product.id).where(Product.code == code)):
                db.session.flush()
                if not db.session.scalar(sa.select(Product.id).where(Product.code == code)):
                    db.session.add(Product(code=code, name_zh=code, name_en=code, category="bench",
                                           module_complexity=5 if code in dict((h[0], 1) for h in HIGH_PRODUCTS) else 1,
                                           market_exclusivity=1, training_requirement=1))
        db.session.flush()
        if not db.session.scalar(sa.select(sa.func.count()).select_from(Agency).where(Agency.region_id == region.id)):
            now = utcnow()
            with open(data_dir / "agencies.csv", encoding="utf-8") as f:
                rows = list(csv.DictReader(f))
            db.session.execute(sa.insert(Agency), [
                {"code": r["code"], "name": r["name"], "uscc": r["uscc"], "region_id": region.id,
                 "status": "active", "created_at": now} for r in rows])
            ids = dict(db.session.execute(sa.select(Agency.code, Agency.id).where(Agency.region_id == region.id)).all())
            db.session.execute(sa.insert(AgencyGrade), [
                {"agency_id": ids[r["code"]], "grade": r["grade"], "effective_from": date(2025, 1, 1),
                 "created_at": now} for r in rows])
        db.session.commit()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=sorted(SIZES), default="tiny")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=20261122)
    args = parser.parse_args(argv)
    out = args.out or ROOT / "instance" / "bench" / args.size
    info = generate(args.size, out, args.seed)
    print(f"{info['size']}: {info['agencies']:,} agencies, {info['orders']:,} orders, "
          f"{len(info['months'])} months of billing in {info['out']} ({info['seconds']} s)")


if __name__ == "__main__":
    main()
