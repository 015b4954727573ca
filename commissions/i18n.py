"""Translation helpers usable outside a request (CLI, background jobs, demo loading): inside a
request they translate into the user's language; elsewhere they give the English text."""

from __future__ import annotations

from flask import has_request_context
from flask_babel import gettext as _gettext


def gettext(text: str, **variables) -> str:
    if has_request_context():
        return _gettext(text, **variables)
    return text % variables if variables else text


_ = gettext
