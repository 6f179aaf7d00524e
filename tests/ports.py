"""Ports for the servers tests start in another process (gunicorn, redis-server, postgres).

Such a server binds its port a second or more after the test chose it. A port the kernel hands out
for bind(("127.0.0.1", 0)) comes from the ephemeral range, where meanwhile it may go to another such
server (another pytest-xdist worker chose it too) or become the local port of any outgoing connection.
So these ports come from below the ephemeral range, from a block of its own for each xdist worker,
and never twice in one process; the block is walked from a random start, so that suites run at the
same time on one machine rarely meet."""

from __future__ import annotations

import os
import random
import socket
import threading
from pathlib import Path

BLOCK = 500  # ports per xdist worker


def _blocks_end() -> int:
    """The first port of the kernel's ephemeral range (Linux); 32768 elsewhere."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _block() -> range:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    count = max(1, (_blocks_end() - 10_000) // BLOCK)  # blocks between 10000 and the ephemeral range
    low = 10_000 + (int(worker) if worker.isdigit() else 0) % count * BLOCK
    return range(low, low + BLOCK)


_lock = threading.Lock()
_ports = _block()
_at = random.randrange(len(_ports))
_given: set[int] = set()


def _bindable(port: int) -> bool:
    for host in ("0.0.0.0", "127.0.0.1"):  # gunicorn binds 0.0.0.0 (gunicorn.conf.py)
        with socket.socket() as s:
            try:
                s.bind((host, port))
            except OSError:
                return False
    return True


def free_port() -> int:
    """A port nothing listens on now, not given before by this process, for a server about to start."""
    global _at
    with _lock:
        for _ in range(len(_ports)):
            port = _ports[_at % len(_ports)]
            _at += 1
            if port not in _given and _bindable(port):
                _given.add(port)
                return port
    raise RuntimeError(f"no free port left in {_ports}")
