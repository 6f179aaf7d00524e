"""The journal's worker: a heartbeat for this process, and replies to the events dead processes left.

An event is journaled before the webhook's 200 and dropped after its reply, so one still journaled
under a process that stopped beating was accepted and never answered. Its reply token still works
for about a minute after the webhook: young ones are answered, the others logged once each."""

from __future__ import annotations

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


def born(entry: Journaled) -> float:
    """When the event's reply token was issued: the event's timestamp when plausible, else its receipt."""
    stamp = entry.event.get("timestamp")
    if isinstance(stamp, int | float) and not isinstance(stamp, bool):
        seconds = stamp / 1000
        if entry.received - PLAUSIBLE_SKEW <= seconds <= entry.received + 5:
            return min(seconds, entry.received)
    return entry.received


class Recovery:
    """A daemon thread: `store.beat()` every second, and dead processes' events every SCAN_SECONDS."""

    def __init__(
        self,
        store: Store,
        submit: Callable[[dict[str, Any]], bool],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._submit = submit
        self._clock = clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="journal", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        next_scan = 0.0
        while not self._stop.is_set():
            try:
                self._store.beat()
                if time.monotonic() >= next_scan:
                    next_scan = time.monotonic() + SCAN_SECONDS
                    self.recover()
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
