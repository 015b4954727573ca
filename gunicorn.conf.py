"""Production gunicorn settings (override with GUNICORN_* environment variables or flags)."""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2 + 1))
worker_class = "sync"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 30
keepalive = 5
max_requests = 5000
max_requests_jitter = 500
# The application is imported once, in the master, and the workers are forked from it: a worker
# recycled after max_requests is serving again at once. Without it, each new worker imported the
# portal for about a second on a busy core, and the requests queued behind it (p99 above 1 s at
# the floor's rate in bench/load.py). New code needs a restart of gunicorn, not a HUP.
preload_app = os.environ.get("GUNICORN_PRELOAD", "1") == "1"
accesslog = "-"
errorlog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms rid=%({x-request-id}o)s'
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
control_socket_disable = True


def post_fork(server, worker):
    """A forked worker opens its own database connections: it drops, without closing them, any
    the master's pool holds (closing would end the master's sessions on the server)."""
    if not preload_app:
        return
    from portal.core.db import db
    from wsgi import app

    with app.app_context():
        db.engine.dispose(close=False)
