"""Business-licence files: checked by content, stored outside the web root under a random name."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

import filetype
from flask import current_app
from flask_babel import lazy_gettext as _l

MAX_LICENCE_BYTES = 5 * 1024 * 1024
ALLOWED = {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png"}


class LicenceProblem(ValueError):
    """The uploaded file is refused; the message is shown on the form."""


@dataclass(frozen=True)
class CheckedLicence:
    content: bytes
    mime: str
    extension: str
    filename: str


def check_licence(stream, filename: str | None) -> CheckedLicence:
    """Read at most 5 MB + 1 byte of `stream`; refuse empty, oversized and non PDF/JPEG/PNG files
    (the type comes from the file's content, never from its name or the browser's claim)."""
    content = stream.read(MAX_LICENCE_BYTES + 1)
    if not content:
        raise LicenceProblem(_l("Attach the business licence (PDF, JPEG or PNG)."))
    if len(content) > MAX_LICENCE_BYTES:
        raise LicenceProblem(_l("The licence file is larger than 5 MB."))
    kind = filetype.guess(content)
    if kind is None or kind.mime not in ALLOWED:
        raise LicenceProblem(_l("The licence file must be a PDF, JPEG or PNG document."))
    name = Path((filename or "").replace("\\", "/")).name[:200] or f"licence.{ALLOWED[kind.mime]}"
    return CheckedLicence(content=content, mime=kind.mime, extension=ALLOWED[kind.mime], filename=name)


def licence_dir() -> Path:
    path = Path(current_app.config["PORTAL_DATA_DIR"]) / "licences"
    path.mkdir(parents=True, exist_ok=True)
    return path


def store_licence(licence: CheckedLicence) -> str:
    """Write the file under a random name; returns that name (kept on the agency row)."""
    name = f"{secrets.token_hex(16)}.{licence.extension}"
    (licence_dir() / name).write_bytes(licence.content)
    return name


def licence_path(stored_name: str) -> Path | None:
    """The path of a stored licence, or None when the name is not one of ours or the file is gone."""
    if not stored_name or "/" in stored_name or "\\" in stored_name or stored_name.startswith("."):
        return None
    path = licence_dir() / stored_name
    return path if path.is_file() else None
