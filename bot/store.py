"""What the worker processes share: webhook event ids seen, and the choices last offered in each chat."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time

log = logging.getLogger(__name__)

KEEP_SECONDS = 24 * 3600  # LINE redelivers within hours; a day is plenty
OFFER_SECONDS = 30 * 60  # a "send its number" answer only counts this long after the question
PRUNE_EVERY = 1000  # inserts between clean-ups of old rows


class Store:
    """A SQLite file shared by every gunicorn worker on the machine.

    An in-process set is not enough: with several workers, a redelivery can reach another
    process than the original. SQLite's INSERT is atomic across processes, so exactly one
    caller sees an id as new.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._local = threading.local()
        self._count = 0
        self._lock = threading.Lock()
        self._memory: set[str] | None = None
        self._offers: dict[str, tuple[float, str, str]] = {}  # in-memory fallback only
        try:
            with self._connect() as db:
                db.execute("CREATE TABLE IF NOT EXISTS seen (id TEXT PRIMARY KEY, at REAL NOT NULL)")
                db.execute("CREATE TABLE IF NOT EXISTS offers (chat TEXT PRIMARY KEY, ids TEXT, lang TEXT, at REAL)")
        except sqlite3.Error as exc:
            # A read-only disk must not stop the bot: dedupe within this process only.
            log.warning("dedupe store %s unusable (%s); deduplicating in memory only", path, exc)
            self._memory = set()

    def _connect(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=10, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            self._local.db = db
        return db

    def first_time(self, event_id: str) -> bool:
        """Record `event_id`; True only for the first caller ever to record it."""
        if self._memory is not None:
            with self._lock:
                new = event_id not in self._memory
                self._memory.add(event_id)
                return new
        now = time.time()
        try:
            cursor = self._connect().execute("INSERT OR IGNORE INTO seen (id, at) VALUES (?, ?)", (event_id, now))
            new = cursor.rowcount == 1
        except sqlite3.Error as exc:
            log.error("dedupe store error (%s); treating event %s as new", exc, event_id)
            return True
        with self._lock:
            self._count += 1
            prune = self._count % PRUNE_EVERY == 0
        if prune:
            self._prune(now)
        return new

    def offer(self, chat: str, ids: tuple[str, ...], lang: str) -> None:
        """Remember the choices just offered in `chat`, so "2" can pick the second one."""
        if self._memory is not None:
            with self._lock:
                self._offers[chat] = (time.time(), " ".join(ids), lang)
            return
        try:
            self._connect().execute(
                "INSERT OR REPLACE INTO offers (chat, ids, lang, at) VALUES (?, ?, ?, ?)",
                (chat, " ".join(ids), lang, time.time()),
            )
        except sqlite3.Error as exc:
            log.warning("store error (%s) remembering an offer", exc)

    def offered(self, chat: str) -> tuple[tuple[str, ...], str] | None:
        """The choices last offered in `chat` (and their language), if recent."""
        row: tuple[float, str, str] | None
        if self._memory is not None:
            with self._lock:
                row = self._offers.get(chat)
        else:
            try:
                found = self._connect().execute("SELECT at, ids, lang FROM offers WHERE chat = ?", (chat,))
                row = found.fetchone()
            except sqlite3.Error as exc:
                log.warning("store error (%s) recalling an offer", exc)
                return None
        if row is None or time.time() - row[0] > OFFER_SECONDS:
            return None
        return tuple(row[1].split()), row[2]

    def _prune(self, now: float) -> None:
        try:
            self._connect().execute("DELETE FROM seen WHERE at < ?", (now - KEEP_SECONDS,))
            self._connect().execute("DELETE FROM offers WHERE at < ?", (now - OFFER_SECONDS,))
        except sqlite3.Error as exc:
            log.warning("dedupe store prune failed: %s", exc)
