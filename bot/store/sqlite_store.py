"""The embedded default: one SQLite file shared by every gunicorn worker of a dyno."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from bot.store import (
    DEAD_AFTER,
    KEEP_SECONDS,
    OFFER_SECONDS,
    SEEN_CAP,
    Entry,
    Journaled,
    Offer,
    digest,
    pseudonymous,
)

log = logging.getLogger(__name__)

PRUNE_EVERY = 1000  # inserts between clean-ups of old rows
BUSY_SECONDS = 10.0  # how long a write waits for another process's write lock before it fails
FIRST_PAUSE = 0.0005  # seconds before looking again at a locked file; doubles up to MAX_PAUSE
MAX_PAUSE = 0.02
JOURNAL_KEEP = 3600  # a journal row this old is a leak (its token died long ago): dropped in prune
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS seen (id TEXT PRIMARY KEY, at REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS offers (chat TEXT PRIMARY KEY, ids TEXT, lang TEXT, at REAL)",
    "CREATE TABLE IF NOT EXISTS rates (key TEXT, win INTEGER, n INTEGER, until REAL, PRIMARY KEY (key, win))"
    " WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS journal (owner TEXT, id TEXT, at REAL, event TEXT, PRIMARY KEY (owner, id))"
    " WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS alive (owner TEXT PRIMARY KEY, beat REAL)",
)


class SqliteStore:
    """A SQLite file shared by the worker processes; one connection per process.

    An in-process set is not enough: with several workers, a redelivery can reach another process
    than the original. SQLite's INSERT is atomic across processes, so exactly one caller sees an id
    as new. One connection serves every thread (behind a lock: SQLite writes one at a time anyway);
    a connection per thread cost each of 64 reply threads its own page cache.
    """

    def __init__(self, path: str, owner: str, dead_after: float = DEAD_AFTER) -> None:
        self.path = path
        self._owner = owner
        self._dead_after = dead_after
        self._lock = threading.Lock()
        self._count = 0
        self._suspects: set[str] = set()
        # No busy timeout inside SQLite: its busy handler sleeps in C, and under gevent that stops
        # every greenlet of the process (webhooks too) while the other worker holds the write lock.
        # _locked() waits in Python instead, where time.sleep lets the others run.
        self._db = sqlite3.connect(path, timeout=0, isolation_level=None, check_same_thread=False)
        # Set-up waits for the other processes' locks too: workers (and a second dyno's or the next
        # release's) open the same file at the same moment, and a lock here must not cost the journal.
        if self._run("PRAGMA auto_vacuum").fetchone()[0] != 2:
            # Deleted rows' pages go back to the file system (incremental_vacuum after a prune);
            # the mode takes effect on an empty file or after one VACUUM.
            self._run("PRAGMA auto_vacuum=INCREMENTAL")
            self._run("VACUUM")
        self._run("PRAGMA journal_mode=WAL")
        self._run("PRAGMA synchronous=NORMAL")
        self._run("PRAGMA journal_size_limit=4194304")  # the -wal file shrinks back after checkpoints
        for statement in SCHEMA:
            self._run(statement)

    @contextmanager
    def _locked(self, first: str, args: tuple[object, ...] = ()) -> Iterator[sqlite3.Cursor]:
        """Hold this process's lock with `first` executed, waiting (lock released) while another
        process holds the file's write lock, for up to BUSY_SECONDS."""
        deadline = time.monotonic() + BUSY_SECONDS
        pause = FIRST_PAUSE
        while True:
            with self._lock:
                try:
                    cursor = self._db.execute(first, args)
                except sqlite3.OperationalError as exc:
                    if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                        raise
                else:
                    yield cursor
                    return
            time.sleep(pause)
            pause = min(MAX_PAUSE, pause * 2)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._locked("BEGIN IMMEDIATE"):
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _run(self, sql: str, args: tuple[object, ...] = ()) -> sqlite3.Cursor:
        with self._locked(sql, args) as cursor:
            return cursor

    def first_time(self, event_id: str) -> bool:
        """Record `event_id`; True only for the first caller ever to record it."""
        now = time.time()
        try:
            new = self._run("INSERT OR IGNORE INTO seen (id, at) VALUES (?, ?)", (event_id, now)).rowcount == 1
        except sqlite3.Error as exc:
            log.error("dedupe store error (%s); treating event %s as new", exc, event_id)
            return True
        with self._lock:
            self._count += 1
            prune = self._count % PRUNE_EVERY == 0
        if prune:
            self.prune(now)
        return new

    def offer(self, chat: str, ids: tuple[str, ...], lang: str, *, urgent: bool = True) -> None:
        """Remember the choices just offered in `chat` (keyed by a digest of it)."""
        try:
            self._run(
                "INSERT OR REPLACE INTO offers (chat, ids, lang, at) VALUES (?, ?, ?, ?)",
                (digest(chat), " ".join(ids), lang, time.time()),
            )
        except sqlite3.Error as exc:
            log.warning("store error (%s) remembering an offer", exc)

    def offered(self, chat: str) -> Offer | None:
        """The choices last offered in `chat` (and their language), if recent."""
        try:
            row = self._run("SELECT at, ids, lang FROM offers WHERE chat = ?", (digest(chat),)).fetchone()
        except sqlite3.Error as exc:
            log.warning("store error (%s) recalling an offer", exc)
            return None
        if row is None or time.time() - row[0] > OFFER_SECONDS:
            return None
        return tuple(row[1].split()), row[2]

    def allow(self, key: str, limit: int, per_seconds: float) -> bool:
        """Fixed-window count per key, shared by the dyno's processes; allows when the file fails."""
        window = int(time.time() // per_seconds)
        try:
            with self._transaction() as db:
                db.execute(
                    "INSERT INTO rates (key, win, n, until) VALUES (?, ?, 1, ?)"
                    " ON CONFLICT (key, win) DO UPDATE SET n = n + 1",
                    (digest(key), window, (window + 1) * per_seconds),
                )
                count = db.execute("SELECT n FROM rates WHERE key = ? AND win = ?", (digest(key), window)).fetchone()[0]
        except sqlite3.Error as exc:
            log.warning("store error (%s) counting a rate limit", exc)
            return True
        return count <= limit

    def put(self, entries: Sequence[Entry]) -> None:
        """Journal accepted events in one transaction."""
        if not entries:
            return
        now = time.time()
        rows = [(self._owner, event_id, now, json.dumps(pseudonymous(raw))) for event_id, raw in entries]
        insert = "INSERT OR REPLACE INTO journal (owner, id, at, event) VALUES (?, ?, ?, ?)"
        try:
            if len(rows) == 1:  # most webhooks carry one event: one statement, no BEGIN/COMMIT round
                self._run(insert, rows[0])
            else:
                with self._transaction() as db:
                    db.executemany(insert, rows)
        except sqlite3.Error as exc:
            log.error("journal error (%s): %d event(s) not journaled", exc, len(rows))

    def done(self, event_id: str) -> None:
        """Drop an event from this process's journal."""
        try:
            self._run("DELETE FROM journal WHERE owner = ? AND id = ?", (self._owner, event_id))
        except sqlite3.Error as exc:
            log.warning("journal error (%s) marking %s done", exc, event_id)

    def refuse(self, event_id: str) -> None:
        """Drop the event from the journal (its id is recorded as seen only by the reply thread)."""
        self.done(event_id)

    def unfinished(self) -> list[Journaled]:
        """Take over the rows of processes silent for `dead_after` seconds, seen so twice in a row."""
        cutoff = time.time() - self._dead_after
        try:
            silent = {
                owner
                for (owner,) in self._run(
                    "SELECT DISTINCT j.owner FROM journal j LEFT JOIN alive a ON a.owner = j.owner"
                    " WHERE j.owner != ? AND (a.beat IS NULL OR a.beat < ?)",
                    (self._owner, cutoff),
                )
            }
            dead, self._suspects = silent & self._suspects, silent
            taken: list[Journaled] = []
            for owner in dead:
                with self._transaction() as db:
                    rows = db.execute("SELECT id, at, event FROM journal WHERE owner = ?", (owner,)).fetchall()
                    db.execute("DELETE FROM journal WHERE owner = ?", (owner,))
                    db.executemany(
                        "INSERT OR REPLACE INTO journal (owner, id, at, event) VALUES (?, ?, ?, ?)",
                        [(self._owner, *row) for row in rows],
                    )
                    db.execute("DELETE FROM alive WHERE owner = ?", (owner,))
                taken += [Journaled(event_id, json.loads(event), at) for event_id, at, event in rows]
            return taken
        except sqlite3.Error as exc:
            log.warning("journal error (%s) looking for unfinished events", exc)
            return []

    def beat(self) -> None:
        """Say this process is alive."""
        try:
            self._run("INSERT OR REPLACE INTO alive (owner, beat) VALUES (?, ?)", (self._owner, time.time()))
        except sqlite3.Error as exc:
            log.warning("journal error (%s) on heartbeat", exc)

    @property
    def problem(self) -> str | None:
        """SQLite either opened (then it works) or was replaced by memory: never degraded here."""
        return None

    def release(self) -> None:
        """Stop saying this process is alive, so another takes over its journal at once."""
        try:
            self._run("DELETE FROM alive WHERE owner = ?", (self._owner,))
        except sqlite3.Error as exc:
            log.warning("journal error (%s) on release", exc)

    def prune(self, now: float | None = None) -> None:
        """Drop ids older than a day or beyond SEEN_CAP, stale offers and rate windows; give space back."""
        now = time.time() if now is None else now
        try:
            self._run(
                "DELETE FROM seen WHERE rowid < COALESCE("
                "(SELECT rowid FROM seen WHERE at >= ? ORDER BY rowid LIMIT 1), (SELECT max(rowid) + 1 FROM seen))",
                (now - KEEP_SECONDS,),
            )
            self._run("DELETE FROM seen WHERE rowid <= (SELECT max(rowid) FROM seen) - ?", (SEEN_CAP,))
            self._run("DELETE FROM offers WHERE at < ?", (now - OFFER_SECONDS,))
            self._run("DELETE FROM rates WHERE until < ?", (now,))
            self._run("DELETE FROM journal WHERE at < ?", (now - JOURNAL_KEEP,))
            self._run("DELETE FROM alive WHERE beat < ?", (now - JOURNAL_KEEP,))
            self._run("PRAGMA incremental_vacuum")
        except sqlite3.Error as exc:
            log.warning("dedupe store prune failed: %s", exc)
