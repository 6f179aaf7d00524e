"""gunicorn settings, read automatically by `gunicorn wsgi:app` (the Procfile)."""

import os
import sys


def _cannot_start(message: str) -> None:
    """As the app says it (bot/app.py): one message, exit 3, before anything is bound."""
    print(f"line-error-bot cannot start:\n{message}", file=sys.stderr, flush=True)
    raise SystemExit(3)  # not an Exception: gunicorn lets it end the process with this status


# gevent: a connection that trickles half a header waits in a greenlet, not in one of a few threads
# (with gthread, 16 such connections held all 2 x 8 threads and a real webhook waited 45 s). Patched
# here, before the app is preloaded, so urllib3's ssl, threading and queue are gevent's in every process
# (patching in the worker after the preload, gunicorn's default, leaves ssl imported unpatched).
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "").strip() or "gevent"
if worker_class not in ("gevent", "gthread"):
    _cannot_start(f"GUNICORN_WORKER_CLASS must be gevent or gthread, got {worker_class!r}")
if worker_class == "gevent":
    from importlib import metadata

    from gevent import monkey

    # patch_all() tells gevent's plugins about each module it patches through entry points: 25 calls of
    # importlib.metadata.entry_points(), each reading every installed distribution's entry_points.txt
    # (78 in the development virtualenv: 0.3-0.7 s of every start). One read answers all 25 (nothing is
    # installed meanwhile); the same plugins, if any, are called.
    entry_points, read_once = metadata.entry_points, metadata.entry_points()
    metadata.entry_points = lambda **selection: read_once.select(**selection)
    try:
        monkey.patch_all()
    finally:
        metadata.entry_points = entry_points
    del entry_points, read_once

# After the patch (bot.config imports threading). A value that is no number stopped gunicorn with a
# traceback, and WEB_CONCURRENCY=0 bound the port with no worker behind it.
from bot.config import ConfigError, whole_number  # noqa: E402

try:
    if worker_class == "gevent":
        worker_connections = whole_number(os.environ, "GUNICORN_WORKER_CONNECTIONS", 1000, 1, 100_000)
    else:
        threads = whole_number(os.environ, "GUNICORN_THREADS", 8, 1, 512)
    bind = f"0.0.0.0:{whole_number(os.environ, 'PORT', 8000, 1, 65535)}"
    workers = whole_number(os.environ, "WEB_CONCURRENCY", 2, 1, 64)
    graceful_timeout = whole_number(os.environ, "GRACEFUL_TIMEOUT", 20, 1, 3600)
except ConfigError as exc:
    _cannot_start(str(exc))
# LINE gives up after 2 s, but a worker must never be killed mid-reply: keep the defaults.
timeout = 30
keepalive = 5
accesslog = "-"  # stdout, where Heroku's router logs go too
errorlog = "-"
# Load the app once in the master, before the port is bound: a missing variable or a broken
# knowledge file stops start-up with its message and nothing listens. Workers fork from it
# already loaded (the SDK import alone takes about a second); each makes its own reply
# threads and connections on first use (bot/service.py).
preload_app = True
control_socket_disable = True  # no management socket: one less shared path between instances


def worker_exit(server, worker):
    """On SIGTERM: send the replies already accepted before the process goes away."""
    service = getattr(getattr(worker, "wsgi", None), "extensions", {}).get("line_error_bot")
    if service is not None:
        service.shutdown(max(1.0, graceful_timeout - 2.0))


def post_worker_init(worker):
    """Make this worker's store, threads and journal worker now: it takes over what a dead sibling left."""
    service = getattr(getattr(worker, "wsgi", None), "extensions", {}).get("line_error_bot")
    if service is not None:
        service.start()
