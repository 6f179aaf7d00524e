"""Rate limits behind one tiny interface; the default counts in this process's memory."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Protocol


class RateLimiter(Protocol):
    """May one more thing happen for `key` now? At most `limit` per `per_seconds` (a sliding window)."""

    def allow(self, key: str, limit: int, per_seconds: float) -> bool: ...


class MemoryRateLimiter:
    """Sliding-window counts per key in this process; the keys least recently used go first past `max_keys`."""

    def __init__(self, max_keys: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()
        self._max_keys = max_keys
        self._clock = clock
        self._lock = threading.Lock()

    def allow(self, key: str, limit: int, per_seconds: float) -> bool:
        """Count one hit for `key` and say whether it is within the limit (a refused hit is not counted)."""
        now = self._clock()
        with self._lock:
            hits = self._hits.pop(key, None) or deque()
            while hits and hits[0] <= now - per_seconds:
                hits.popleft()
            allowed = len(hits) < limit
            if allowed:
                hits.append(now)
            self._hits[key] = hits
            while len(self._hits) > self._max_keys:
                self._hits.popitem(last=False)
            return allowed
