"""Summarise a `pip-audit --format json` report: fail on known vulnerabilities, and say plainly how
many packages could not be looked up (e.g. no access to PyPI's JSON API or OSV on an intranet).

    python tools/audit_summary.py REPORT.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(path: str) -> int:
    report = json.loads(Path(path).read_text())
    deps = report.get("dependencies", [])
    vulnerable = [(d["name"], d.get("version"), v["id"]) for d in deps for v in d.get("vulns", [])]
    skipped = [d["name"] for d in deps if d.get("skip_reason")]
    audited = len(deps) - len(skipped)
    for name, version, vuln in vulnerable:
        print(f"VULNERABLE: {name} {version}: {vuln}")
    print(f"dependency audit: {len(deps)} packages, {audited} audited, {len(vulnerable)} known vulnerabilities")
    if skipped:
        print(f"NOT AUDITED: {len(skipped)} packages could not be looked up (no vulnerability service "
              f"reachable from this machine): {', '.join(sorted(skipped)[:8])}{' …' if len(skipped) > 8 else ''}")
    return 1 if vulnerable else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
