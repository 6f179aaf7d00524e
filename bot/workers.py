"""A bounded pool of reply threads, so the webhook can answer 200 before replying."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

_STOP = object()


class WorkerPool:
    """N threads taking jobs from a queue of fixed size.

    `submit` never blocks: when the queue is full it returns False and the caller decides
    (the webhook answers 503 so LINE redelivers). A job's exception is logged and the
    thread carries on: one bad event never kills a worker.
    """

    def __init__(self, threads: int, queue_size: int, name: str = "reply") -> None:
        self._jobs: queue.Queue[object] = queue.Queue(maxsize=queue_size)
        self._closed = False
        self._threads = [threading.Thread(target=self._run, name=f"{name}-{i}", daemon=True) for i in range(threads)]
        for thread in self._threads:
            thread.start()

    def submit(self, job: Callable[[], None]) -> bool:
        """Queue a job; False when the pool is full or shut down."""
        if self._closed:
            return False
        try:
            self._jobs.put_nowait(job)
        except queue.Full:
            return False
        return True

    @property
    def pending(self) -> int:
        """Jobs waiting for a thread."""
        return self._jobs.qsize()

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            try:
                if job is _STOP:
                    return
                job()  # type: ignore[operator]
            except Exception:
                log.exception("reply job failed")
            finally:
                self._jobs.task_done()

    def shutdown(self, timeout: float) -> bool:
        """Stop taking jobs, finish the queued ones within `timeout` seconds; True if all finished."""
        if self._closed:
            return not any(t.is_alive() for t in self._threads)
        self._closed = True
        deadline = time.monotonic() + timeout
        for _ in self._threads:
            while True:
                try:
                    self._jobs.put(_STOP, timeout=0.1)
                    break
                except queue.Full:
                    if time.monotonic() >= deadline:
                        break
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        left = [t for t in self._threads if t.is_alive()]
        if left:
            log.warning("shutdown: %d reply threads still busy after %.1fs", len(left), timeout)
        return not left
