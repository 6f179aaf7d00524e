"""gunicorn settings, read automatically by `gunicorn wsgi:app` (the Procfile)."""

import os

# gevent: a connection that trickles half a header waits in a greenlet, not in one of a few threads
# (with gthread, 16 such connections held all 2 x 8 threads and a real webhook waited 45 s). Patched
# here, before the app is preloaded, so urllib3's ssl, threading and queue are gevent's in every process
# (patching in the worker after the preload, gunicorn's default, leaves ssl imported unpatched).
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gevent")
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
    worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", "1000"))
else:
    threads = int(os.environ.get("GUNICORN_THREADS", "8"))

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# LINE gives up after 2 s, but a worker must never be killed mid-reply: keep the defaults.
timeout = 30
graceful_timeout = int(os.environ.get("GRACEFUL_TIMEOUT", "20"))
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
