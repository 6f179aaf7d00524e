"""The journal's worker: a heartbeat for this process, and replies to the events dead processes left.

An event is journaled before the webhook's 200 and dropped after its reply, so one still journaled
under a process that stopped beating was accepted and never answered. Its reply token still works
for about a minute after the webhook: young ones are answered, the others logged once each."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from bot.store import BEAT_SECONDS, Journaled, Store

log = logging.getLogger(__name__)

TOKEN_SECONDS = 50.0  # LINE's reply token lasts about a minute; leave room for the reply itself
SCAN_SECONDS = 2.0  # how often to look for dead processes' events
PLAUSIBLE_SKEW = 600.0  # an event timestamp further than this from its receipt is not trusted
TRIM_SECONDS = 5.0  # how often to hand freed heap memory back to the system (a trim takes a few ms)


def _malloc_trim() -> Callable[[], None]:
    """glibc's malloc_trim(0), or nothing where the C library has none (musl, macOS).

    Sixty-odd reply threads allocating and freeing leave glibc's heaps holding freed memory: the
    soak measured +12 MB of RSS per worker from 5,000 to 25,000 events of which +1 MB was live
    Python objects; malloc_trim gave 8 MB of it back."""
    name = ctypes.util.find_library("c")
    trim = getattr(ctypes.CDLL(name), "malloc_trim", None) if name else None
    return (lambda: trim(0)) if trim is not None else (lambda: None)


release_free_memory = _malloc_trim()


def born(entry: Journaled) -> float:
    """When the event's reply token was issued: the event's timestamp when plausible, else its receipt.

    A redelivered event's token is good for about a minute after the redelivery arrives (LINE's docs on
    webhook redelivery), however old the event: its receipt."""
    context = entry.event.get("deliveryContext")
    if isinstance(context, dict) and context.get("isRedelivery") is True:
        return entry.received
    stamp = entry.event.get("timestamp")
    if isinstance(stamp, int | float) and not isinstance(stamp, bool):
        seconds = stamp / 1000
        if entry.received - PLAUSIBLE_SKEW <= seconds <= entry.received + 5:
            return min(seconds, entry.received)
    return entry.received


class Recovery:
    """A daemon thread: `store.beat()` every second, dead processes' events every `scan_seconds`, and
    freed heap memory back to the system every TRIM_SECONDS (it is this process's housekeeper)."""

    def __init__(
        self,
        store: Store,
        submit: Callable[[dict[str, Any]], bool],
        *,
        clock: Callable[[], float] = time.time,
        scan_seconds: float = SCAN_SECONDS,
    ) -> None:
        self._store = store
        self._scan_seconds = scan_seconds
        self._submit = submit
        self._clock = clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="journal", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        next_scan = 0.0
        next_trim = time.monotonic() + TRIM_SECONDS
        while not self._stop.is_set():
            try:
                self._store.beat()
                if time.monotonic() >= next_scan:
                    next_scan = time.monotonic() + self._scan_seconds
                    self.recover()
                if time.monotonic() >= next_trim:
                    next_trim = time.monotonic() + TRIM_SECONDS
                    release_free_memory()
            except Exception:
                log.exception("journal worker error")
            self._stop.wait(BEAT_SECONDS)

    def recover(self) -> int:
        """Reply to the young events of dead processes; log and drop the expired. Returns how many replied."""
        sent = 0
        for entry in self._store.unfinished():
            age = self._clock() - born(entry)
            if age > TOKEN_SECONDS:
                log.warning("journaled event expired (%.0f s old): webhookEventId=%s", age, entry.event_id)
                self._store.done(entry.event_id)
            elif self._submit(entry.event):
                log.info("journaled event recovered (%.1f s old): webhookEventId=%s", age, entry.event_id)
                sent += 1
            else:
                log.warning("journaled event not taken (pool full): webhookEventId=%s", entry.event_id)
        return sent

    def stop(self) -> None:
        """Stop beating: the process is leaving (the store's release tells the others)."""
        self._stop.set()
        self._thread.join(timeout=BEAT_SECONDS + 1)
