"""Files of the enablement area: checked by content, stored under PORTAL_DATA_DIR with random
names, read back only by access-checked views."""

from __future__ import annotations

import secrets
from pathlib import Path

import filetype
from flask import current_app

MAX_FILE_BYTES = 20 * 1024 * 1024
ALLOWED_TYPES = {"application/pdf": "pdf", "image/png": "png", "image/jpeg": "jpg"}


class FileRefused(ValueError):
    """The file is too large, empty or not a PDF/PNG/JPEG by its content."""


def directory() -> Path:
    path = Path(current_app.config["PORTAL_DATA_DIR"]) / "enablement"
    path.mkdir(parents=True, exist_ok=True)
    return path


def check(data: bytes) -> str:
    """The content type of an acceptable file, judged by its bytes (not its name)."""
    if not data:
        raise FileRefused("empty")
    if len(data) > MAX_FILE_BYTES:
        raise FileRefused("too_large")
    kind = filetype.guess(data)
    if kind is None or kind.mime not in ALLOWED_TYPES:
        raise FileRefused("type")
    return kind.mime


def save(data: bytes) -> tuple[str, str]:
    """Store the bytes under a random name; returns (stored_name, content_type)."""
    content_type = check(data)
    stored_name = secrets.token_hex(16)
    (directory() / stored_name).write_bytes(data)
    return stored_name, content_type


def path_of(stored_name: str) -> Path:
    if not stored_name or not all(c in "0123456789abcdef" for c in stored_name):
        raise FileNotFoundError(stored_name)
    return directory() / stored_name


def safe_download_name(name: str, content_type: str) -> str:
    base = Path(name or "file").name[:120] or "file"
    ext = ALLOWED_TYPES.get(content_type, "bin")
    return base if base.lower().endswith("." + ext) else f"{base}.{ext}"
