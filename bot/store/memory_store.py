"""Process memory: what the other stores fall back to when their backend cannot be used."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Sequence

from bot.store import OFFER_SECONDS, Entry, Journaled, Offer, digest

SEEN_IN_MEMORY = 100_000  # ids (~10 MB at most): a fallback must not grow without bound
OFFERS_IN_MEMORY = 10_000
RATE_KEYS_IN_MEMORY = 10_000


class MemoryStore:
    """Dedupe, offers and rate limits for this process only; it journals nothing."""

    def __init__(self, problem: str | None = None) -> None:
        self._problem = problem
        self._lock = threading.Lock()
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._offers: OrderedDict[str, tuple[float, Offer]] = OrderedDict()
        self._rates: OrderedDict[tuple[str, int], int] = OrderedDict()

    def first_time(self, event_id: str) -> bool:
        """Record `event_id`; True only the first time this process sees it."""
        with self._lock:
            if event_id in self._seen:
                return False
            self._seen[event_id] = None
            if len(self._seen) > SEEN_IN_MEMORY:
                self._seen.popitem(last=False)
            return True

    def offer(self, chat: str, ids: tuple[str, ...], lang: str, *, urgent: bool = True) -> None:
        """Remember the choices just offered in `chat`."""
        with self._lock:
            key = digest(chat)
            self._offers.pop(key, None)
            self._offers[key] = (time.time(), (ids, lang))
            if len(self._offers) > OFFERS_IN_MEMORY:
                self._offers.popitem(last=False)

    def offered(self, chat: str) -> Offer | None:
        """The choices last offered in `chat`, if recent."""
        with self._lock:
            found = self._offers.get(digest(chat))
        if found is None or time.time() - found[0] > OFFER_SECONDS:
            return None
        return found[1]

    def allow(self, key: str, limit: int, per_seconds: float) -> bool:
        """Fixed-window count per key, in this process."""
        window = int(time.time() // per_seconds)
        with self._lock:
            slot = (key, window)
            count = self._rates.pop(slot, 0) + 1
            self._rates[slot] = count
            if len(self._rates) > RATE_KEYS_IN_MEMORY:
                self._rates.popitem(last=False)
        return count <= limit

    def put(self, entries: Sequence[Entry]) -> None:
        """Nothing to journal into: memory dies with the process."""

    def done(self, event_id: str) -> None:
        """Nothing was journaled."""

    def refuse(self, event_id: str) -> None:
        """Nothing was journaled or seen (ids are recorded by the reply thread)."""

    def unfinished(self) -> list[Journaled]:
        """Memory holds no other process's events."""
        return []

    def beat(self) -> None:
        """Nothing to probe."""

    @property
    def problem(self) -> str | None:
        """Why this process fell back to memory, when it did."""
        return self._problem

    def release(self) -> None:
        """Nothing to hand over."""
