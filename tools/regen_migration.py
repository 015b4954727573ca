"""Regenerate the initial schema migration (0001) from the models.

Until the first production release the schema is one migration: 0001 (generated here from the
models, on an empty SQLite database) followed by hand-written ones (0002: append-only audit
triggers). After the release, schema changes are new migrations made with `portal db migrate`.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VERSIONS = ROOT / "portal" / "migrations" / "versions"
INITIAL = "0001_initial_schema.py"


def main() -> int:
    lock_path = Path(tempfile.gettempdir()) / "portal-regen-migration.lock"
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with tempfile.TemporaryDirectory() as tmp:
            aside = Path(tmp) / "aside"
            aside.mkdir()
            for path in VERSIONS.glob("*.py"):
                if path.name != INITIAL:
                    shutil.move(str(path), aside / path.name)
            (VERSIONS / INITIAL).unlink(missing_ok=True)
            env = dict(os.environ, PORTAL_DEMO="1", PORTAL_INSTANCE_PATH=str(Path(tmp) / "instance"),
                       DATABASE_URL=f"sqlite:///{tmp}/empty.sqlite3")
            env.pop("TEST_DATABASE_URL", None)
            try:
                # a fixed argv: this venv's own `portal` command, no shell, no outside input
                subprocess.run(  # noqa: S603
                    [str(Path(sys.executable).parent / "portal"), "db", "revision", "--autogenerate",
                     "--rev-id", "0001", "-m", "initial schema"],
                    check=True, env=env, cwd=ROOT,
                )
            finally:
                for path in aside.glob("*.py"):
                    shutil.move(str(path), VERSIONS / path.name)
            generated = next(VERSIONS.glob("0001_*.py"))
            if generated.name != INITIAL:
                generated.rename(VERSIONS / INITIAL)
    print(f"wrote portal/migrations/versions/{INITIAL}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
