"""docs/security.md maps every threat to a test: every test it names exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _named_tests(text: str):
    """(path or directory, test name or None) for every `tests/…` reference of the table; `::name`
    right after a reference belongs to the same file."""
    current = None
    for ref in re.findall(r"`((?:tests/[^`:]*)?(?:::[A-Za-z0-9_]+)?)`", text):
        path, _, name = ref.partition("::")
        if path:
            current = path.replace("…", "").rstrip("/")
        if current:
            yield current, name or None


def test_every_test_the_security_review_names_exists():
    text = (ROOT / "docs" / "security.md").read_text(encoding="utf-8")
    missing = []
    refs = list(_named_tests(text))
    assert len(refs) > 40
    for where, name in refs:
        target = ROOT / where
        files = [target] if target.suffix == ".py" else sorted(target.rglob("*.py"))  # `tests/area/…`
        if not any(f.is_file() for f in files):
            missing.append(where)
            continue
        if name and not any(f.is_file() and re.search(rf"def {name}\b", f.read_text()) for f in files):
            missing.append(f"{where}::{name}")
    assert missing == []
