"""`_()` that also works outside a request (CLI, background work): there the portal's locale
selector has no session to read, so the English text is used."""

from __future__ import annotations

from flask import has_request_context
from flask_babel import gettext


def _(text: str, **params) -> str:
    if has_request_context():
        return gettext(text, **params)
    return text % params if params else text
