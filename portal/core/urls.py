"""`url_for` for templates, with the URLs it built kept.

A page builds the same links on every request: the layout's stylesheets, scripts and forms, a
link per catalog card. Flask builds each one again (the request's URL adapter, the URL defaults,
the rule's converters), some 6 µs a link. The portal has no URL defaults or value preprocessors,
and its URL map is fixed once the app is made, so a relative URL depends only on the mount point
(the script root), the endpoint and its values: kept under that key, a link costs a dictionary
look-up. External URLs (`_external`, `_scheme`), anchors and methods go to Flask's `url_for`
every time, and so does a call with a value that cannot be a key.
"""

from __future__ import annotations

from flask import current_app, request
from flask import url_for as flask_url_for

MAX_KEPT = 10_000  # links per process; the whole set is dropped when it is full
_EXTENSION = "portal.urls"


def url_for(endpoint: str, **values) -> str:
    if any(name.startswith("_") for name in values):
        return flask_url_for(endpoint, **values)
    kept = current_app.extensions[_EXTENSION]
    key = (request.script_root, endpoint, *values.items())  # in the order given, as Flask writes them
    try:
        return kept[key]
    except KeyError:
        pass
    except TypeError:  # a value that cannot be a key
        return flask_url_for(endpoint, **values)
    url = flask_url_for(endpoint, **values)
    if len(kept) >= MAX_KEPT:
        kept.clear()
    kept[key] = url
    return url


def init_app(app) -> None:
    """Templates' `url_for` keeps its URLs. Call it once every blueprint is registered."""
    if any(app.url_default_functions.values()) or any(app.url_value_preprocessors.values()):
        raise RuntimeError("URL defaults make links depend on more than the mount point: nothing may be kept")
    app.extensions[_EXTENSION] = {}
    app.jinja_env.globals["url_for"] = url_for
