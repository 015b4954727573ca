"""Translatable messages that may be produced outside a request (CLI imports).

`Message(_l("… %(x)s …"), x=1)` keeps the English id and its parameters; `str(message)`
translates it into the request's language, or gives the English text when there is no request
(the command line)."""

from __future__ import annotations

from flask import has_request_context
from flask_babel import gettext


def _msgid(value) -> str:
    args = getattr(value, "_args", None)  # flask_babel's LazyString keeps the id in _args
    return args[0] if args else str(value)


class Message:
    __slots__ = ("msgid", "params")

    def __init__(self, msgid, **params):
        self.msgid = _msgid(msgid)
        self.params = params

    @property
    def english(self) -> str:
        return self.msgid % self.params if self.params else self.msgid

    def __str__(self) -> str:
        if has_request_context():
            return gettext(self.msgid, **self.params)
        return self.english

    def __repr__(self) -> str:
        return f"Message({self.english!r})"
