"""A bounded pool of reply threads that lets webhooks go first, so the 200 never waits on a reply."""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator

log = logging.getLogger(__name__)

_STOP = object()


def _yields() -> tuple[Callable[[], None], Callable[[], None]]:
    """Under gevent: wait until no socket or timer is ready (gevent.idle), and let ready ones run once
    (gevent.sleep(0)). With OS threads, nothing: the interpreter preempts a reply thread, while a
    greenlet keeps the process until it yields."""
    from gevent import monkey

    if monkey.is_module_patched("threading"):
        import gevent

        return gevent.idle, lambda: gevent.sleep(0)
    return (lambda: None), (lambda: None)


# How long a queued reply may wait for webhooks: 3 s, not 1 s. With 1 s a burst longer than a second
# released the held replies all at once and they crowded out the webhooks (3 of 12 benchmark runs
# collapsed to a third of their throughput, 0 of 10 with 3 s, same hour, same machine); a reply
# token lasts about a minute, so 2 more seconds under a burst cost the user little.
PATIENCE = 3.0


class WorkerPool:
    """N threads running queued jobs, fed by a dispatcher that holds jobs back while webhooks are busy.

    LINE counts a webhook as failed after 2 s, while a reply token lasts about a minute: under a
    burst the CPU is better spent answering webhooks. The dispatcher passes a job on once no
    webhook has been in progress for `quiet` seconds (one job; twice as many after each further
    `quiet`), or once the job has waited `patience` seconds (so replies never starve under steady
    load). With no load that costs `quiet`.

    `submit` never blocks: when `limit` jobs are unfinished it returns False and the caller
    decides (the webhook answers 503 so LINE redelivers). A job's exception is logged and the
    thread carries on: one bad event never kills a worker.
    """

    def __init__(
        self, threads: int, limit: int, *, quiet: float = 0.01, patience: float = PATIENCE, name: str = "reply"
    ) -> None:
        self._incoming: queue.SimpleQueue[tuple[float, object]] = queue.SimpleQueue()
        self._ready: queue.SimpleQueue[tuple[float, object]] = queue.SimpleQueue()
        self._limit = limit
        self._quiet = quiet
        self._patience = patience
        self._lock = threading.Lock()
        self._unfinished = 0
        self._busy = 0  # webhooks in progress
        self._last_busy = 0.0  # when the last one began or ended
        self._idle = threading.Event()  # set while no webhook is in progress
        self._idle.set()
        self._job = threading.local()  # when the job this thread runs was queued
        self._loop_idle, self._pass = _yields()
        self._closed = False
        self._threads = [threading.Thread(target=self._run, name=f"{name}-{i}", daemon=True) for i in range(threads)]
        self._dispatcher = threading.Thread(target=self._dispatch, name=f"{name}-dispatch", daemon=True)
        for thread in [*self._threads, self._dispatcher]:
            thread.start()

    def submit(self, job: Callable[[], None]) -> bool:
        """Queue a job; False when the pool is full or shut down."""
        with self._lock:
            if self._closed or self._unfinished >= self._limit:
                return False
            self._unfinished += 1
        self._incoming.put((time.monotonic(), job))
        return True

    @contextlib.contextmanager
    def foreground(self) -> Iterator[None]:
        """Mark a webhook in progress: queued jobs wait (up to `patience`) until it is done."""
        with self._lock:
            self._busy += 1
            self._last_busy = time.monotonic()
            self._idle.clear()
        try:
            yield
        finally:
            with self._lock:
                self._busy -= 1
                self._last_busy = time.monotonic()
                if not self._busy:
                    self._idle.set()

    def wait_turn(self) -> None:
        """Called by a job before a stretch of CPU work: let webhooks that are ready or in progress go first.

        The dispatcher only holds jobs back before they start; a job already running resumes
        whenever its I/O completes, and under gevent it then keeps the process until its next
        I/O (a reply's parse, match, render and serialisation: milliseconds). So it waits for the
        event loop to have nothing else ready (webhooks arriving), then while a webhook is in
        progress (one that yielded on its own I/O, the journal write to Redis). Bounded like the
        dispatcher: never past the job's `patience` (replies never starve); after that it only lets
        what is ready run once, so a flood of replies released together does not hold webhooks."""
        if self._closed:
            return
        queued_at = getattr(self._job, "queued_at", 0.0)
        if time.monotonic() - queued_at >= self._patience:
            self._pass()
            return
        self._loop_idle()
        left = queued_at + self._patience - time.monotonic()
        if left > 0 and not self._idle.is_set():
            self._idle.wait(left)

    @property
    def pending(self) -> int:
        """Jobs accepted and not yet finished."""
        return self._unfinished

    def _dispatch(self) -> None:
        stretch = -1.0  # the _last_busy of the quiet stretch jobs are being released in
        released = 0  # jobs released in that stretch
        while True:
            queued_at, job = self._incoming.get()
            if job is _STOP:
                for _ in self._threads:
                    self._ready.put((0.0, _STOP))
                return
            while not self._closed:
                if time.monotonic() < queued_at + self._patience:
                    # Webhooks that arrived while this thread slept are taken in first (gevent: they
                    # are ready I/O); with OS threads the interpreter interleaves them anyway.
                    self._loop_idle()
                now = time.monotonic()
                with self._lock:
                    busy, last_busy = self._busy, self._last_busy
                if last_busy != stretch:
                    stretch, released = last_busy, 0
                wait = self._quiet if busy else self._release_at(last_busy, released) - now
                wait = min(wait, queued_at + self._patience - now)
                if wait <= 0:
                    break
                time.sleep(wait)
            released += 1
            self._ready.put((queued_at, job))

    def _release_at(self, last_busy: float, released: int) -> float:
        """When the job after `released` others may go in a quiet stretch that began at `last_busy`.

        One job after `quiet`, then twice as many with each further `quiet` (1, 2, 4, 8, ...). A gap of
        one `quiet` between webhooks is not the end of a burst: on a busy machine the sender or this
        process is often not scheduled for that long, and releasing every held job (64 reply threads,
        ~6 ms of CPU each) in such a gap slowed the rest of the burst to half its speed (1.7-2.1 ms
        of CPU per webhook instead of ~1.0, bench_webhook, either store). A real end of a burst
        lets 1,000 held jobs go within 11 `quiet` periods."""
        return last_busy + self._quiet * (1 + (released.bit_length() if released else 0))

    def _run(self) -> None:
        while True:
            queued_at, job = self._ready.get()
            if job is _STOP:
                return
            self._job.queued_at = queued_at
            try:
                self.wait_turn()
                job()  # type: ignore[operator]
            except Exception:
                log.exception("reply job failed")
            finally:
                with self._lock:
                    self._unfinished -= 1

    def shutdown(self, timeout: float) -> bool:
        """Stop taking jobs, finish the queued ones within `timeout` seconds; True if all finished."""
        with self._lock:
            already = self._closed
            self._closed = True  # the dispatcher stops holding jobs back
        if not already:
            self._incoming.put((0.0, _STOP))
        deadline = time.monotonic() + timeout
        for thread in [self._dispatcher, *self._threads]:
            thread.join(max(0.0, deadline - time.monotonic()))
        left = [t for t in self._threads if t.is_alive()]
        if left:
            log.warning("shutdown: %d reply threads still busy after %.1fs", len(left), timeout)
        return not left
