"""Fill empty translations of i18n/AREA.po from a JSON object {msgid: translation}.

    python tools/fill_po.py AREA translations.json
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent


def main(area: str, json_path: str) -> int:
    path = ROOT / "i18n" / f"{area}.po"
    with path.open("rb") as fh:
        catalog = read_po(fh, locale="zh_Hans_CN")
    table = json.loads(Path(json_path).read_text(encoding="utf-8"))
    filled = 0
    for message in catalog:
        if message.id and not message.string and message.id in table:
            message.string = table[message.id]
            filled += 1
    buffer = io.BytesIO()
    write_po(buffer, catalog, width=100)
    path.write_bytes(buffer.getvalue())
    empty = [m.id for m in catalog if m.id and not m.string]
    print(f"{filled} filled; {len(empty)} still empty")
    for m in empty:
        print("  empty:", repr(m))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
