"""Translation catalogs: extract, merge the per-area sources, compile, check.

The Chinese translations live in `i18n/<area>.po` (one file per package, so that work on
different packages never edits the same file). `build` merges them into
`portal/translations/zh_Hans_CN/LC_MESSAGES/messages.po` and compiles `messages.mo`.
`check` fails when a string of the code or templates has no Chinese translation.
`missing AREA [PATH_PREFIX ...]` appends the untranslated strings found under the given
paths to `i18n/AREA.po` with empty translations, ready to be filled in.

    python tools/i18n.py build|check|missing AREA [PREFIX ...]
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ROOT / "i18n"
OUT_DIR = ROOT / "portal" / "translations" / "zh_Hans_CN" / "LC_MESSAGES"
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None, "_l": None,
            "pgettext": ((1, "c"), 2), "npgettext": ((1, "c"), 2, 3), "lazy_ngettext": (1, 2),
            "lazy_pgettext": ((1, "c"), 2), "_p": ((1, "c"), 2)}
METHODS = [
    ("portal/**.py", "python"),
    ("catalog/**.py", "python"),
    ("commissions/**.py", "python"),
    ("templates/**.html", "jinja2"),
]


def extract() -> Catalog:
    """All translatable strings of the code and templates."""
    catalog = Catalog(locale=None, project="agent-portal")
    for filename, lineno, message, comments, context in extract_from_dir(
        str(ROOT), METHODS, keywords=KEYWORDS, options_map={"templates/**.html": {"extensions": ""}}
    ):
        if filename.startswith(("portal/translations", "portal/migrations")):
            continue
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return catalog


def read_sources() -> Catalog:
    merged = Catalog(locale="zh_Hans_CN", project="agent-portal")
    for path in sorted(SOURCES.glob("*.po")):
        with path.open("rb") as fh:
            part = read_po(fh, locale="zh_Hans_CN")
        for message in part:
            if not message.id:
                continue
            existing = merged.get(message.id, message.context)
            if existing is not None and existing.string and any(
                    existing.string if isinstance(existing.string, tuple) else [existing.string]):
                continue  # the first translation wins
            merged.add(message.id, message.string, context=message.context)
    return merged


def build() -> Path:
    merged = read_sources()
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    po_path = OUT_DIR / "messages.po"
    with po_path.open("wb") as fh:
        write_po(fh, merged, width=100)
    with (OUT_DIR / "messages.mo").open("wb") as fh:
        write_mo(fh, merged)
    return po_path


def _translated(message) -> bool:
    if isinstance(message.string, tuple):
        return all(message.string)
    return bool(message.string)


def missing_messages() -> list:
    sources = read_sources()
    problems = []
    for message in extract():
        if not message.id:
            continue
        found = sources.get(message.id, message.context)
        if found is None or not _translated(found):
            problems.append(message)
    return problems


def check() -> int:
    problems = missing_messages()
    for message in problems:
        where = ", ".join(f"{f}:{n}" for f, n in message.locations[:3])
        print(f"untranslated: {message.id!r} ({where})")
    if problems:
        print(f"{len(problems)} string(s) have no Chinese translation; add them to i18n/<area>.po "
              "(python tools/i18n.py missing AREA PATH_PREFIX … writes stubs).")
        return 1
    print("translations: complete")
    return 0


def add_missing(area: str, prefixes: list[str]) -> int:
    path = SOURCES / f"{area}.po"
    if path.exists():
        with path.open("rb") as fh:
            catalog = read_po(fh, locale="zh_Hans_CN")
    else:
        catalog = Catalog(locale="zh_Hans_CN", project="agent-portal")
    added = 0
    for message in missing_messages():
        if prefixes and not any(f.startswith(tuple(prefixes)) for f, _n in message.locations):
            continue
        if catalog.get(message.id, message.context) is None:
            catalog.add(message.id, ("", "") if isinstance(message.id, tuple) else "",
                        locations=message.locations, context=message.context)
            added += 1
    buffer = io.BytesIO()
    write_po(buffer, catalog, width=100, omit_header=False)
    path.write_bytes(buffer.getvalue())
    print(f"{added} stub(s) added to {path.relative_to(ROOT)}")
    return 0


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"build", "check", "missing"}:
        print(__doc__)
        return 2
    if argv[0] == "build":
        print(f"compiled {build().relative_to(ROOT)}")
        return 0
    if argv[0] == "check":
        return check()
    if len(argv) < 2:
        print(__doc__)
        return 2
    return add_missing(argv[1], argv[2:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
