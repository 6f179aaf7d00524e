"""The question log: what each question came to, and feedback taps, in SQLite or PostgreSQL.

Only a keyed hash of the chat is stored, never a LINE user id. A question's text is kept only for
fallbacks, clarifies and "not helpful" taps, masked first (bot/mask.py), and only `text_days` days.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import sqlite3
import tempfile
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.mask import mask
from bot.types import Feedback, Question

__all__ = ["Feedback", "LogConfig", "LogUnavailable", "Question", "QuestionLog", "open_log"]

log = logging.getLogger(__name__)

OUTCOMES = ("answer", "clarify", "fallback", "deflection", "pick")
TEXT_OUTCOMES = frozenset({"clarify", "fallback"})  # the only questions whose text is kept
MAX_TEXT = 500  # characters of a question kept; a pasted log beyond that adds nothing to a report
KEEP_ROWS_DAYS = 365  # rows without text (outcome, entry, score) are deleted after a year
PAUSE_SECONDS = 30.0  # after a failed write, skip writes this long: a database that is down costs one warning
PRUNE_EVERY = 1000  # writes between clean-ups
DAY = 86400.0


class LogUnavailable(Exception):
    """The question log's database cannot be reached or used."""


@dataclass(frozen=True)
class LogConfig:
    """Question-log settings (QUESTION_LOG, QUESTION_LOG_DB, DATABASE_URL, QUESTION_LOG_DAYS, QUESTION_LOG_KEY)."""

    enabled: bool = True
    database_url: str = ""  # PostgreSQL when set (Heroku's DATABASE_URL); else SQLite
    sqlite_path: str = ""  # "" = a file in the temp dir
    text_days: int = 30  # days a question's text is kept; 0 = never stored
    key: str = ""  # HMAC key for chat hashes; "" = derived from the channel secret

    def __repr__(self) -> str:  # the URL holds a password and the key is a secret
        backend = "postgresql" if self.database_url else "sqlite"
        return f"LogConfig(enabled={self.enabled}, backend={backend}, text_days={self.text_days})"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> LogConfig:
        """Read the settings; raise ValueError naming a malformed one."""
        env = os.environ if env is None else env
        switch = env.get("QUESTION_LOG", "on").strip().lower()
        if switch not in {"on", "off", "1", "0", "true", "false", ""}:
            raise ValueError(f"QUESTION_LOG must be on or off, got {switch!r}")
        days = env.get("QUESTION_LOG_DAYS", "").strip() or "30"
        if not days.isdigit() or int(days) > 3650:
            raise ValueError(f"QUESTION_LOG_DAYS must be a whole number of days from 0 to 3650, got {days!r}")
        url = env.get("DATABASE_URL", "").strip()
        if url and not url.startswith(("postgres://", "postgresql://")):
            raise ValueError("DATABASE_URL must be a postgres:// or postgresql:// URL")
        if url:
            # Read as libpq reads it, now: a URL it cannot parse warned at every start (its password in the
            # warning, which quotes the URL) and lost every row.
            from psycopg import conninfo

            try:
                conninfo.conninfo_to_dict(url)
            except Exception as exc:  # noqa: BLE001 - psycopg.ProgrammingError, whatever libpq says
                raise ValueError(f"DATABASE_URL cannot be read: {_one_line(exc)}") from None
        return cls(
            enabled=switch not in {"off", "0", "false"},
            database_url=url,
            sqlite_path=env.get("QUESTION_LOG_DB", "").strip(),
            text_days=int(days),
            key=env.get("QUESTION_LOG_KEY", "").strip(),
        )


@dataclass(frozen=True)
class QuestionRow:
    """A stored question, as the report reads it."""

    at: float
    chat_hash: str
    outcome: str
    entry_id: str | None
    score: float
    lang: str
    choices: tuple[str, ...]
    text: str | None


@dataclass(frozen=True)
class FeedbackRow:
    """A stored feedback tap."""

    at: float
    chat_hash: str
    entry_id: str
    helpful: bool
    lang: str
    text: str | None


def derive_key(channel_secret: str) -> bytes:
    """The chat-hash key when QUESTION_LOG_KEY is unset: derived from, never equal to, the channel secret."""
    return hmac.new(channel_secret.encode(), b"line-error-bot question log v1", hashlib.sha256).digest()


def chat_hash(key: bytes, chat: str) -> str:
    """A chat's keyed hash (HMAC-SHA256, 128 bits in hex): stable per chat, meaningless without the key."""
    return hmac.new(key, chat.encode(), hashlib.sha256).hexdigest()[:32]


# Each migration is a list of statements; "{id}" is the dialect's auto-increment primary key.
MIGRATIONS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (
        1,
        (
            "CREATE TABLE IF NOT EXISTS questions (id {id}, at DOUBLE PRECISION NOT NULL, chat_hash TEXT NOT NULL,"
            " outcome TEXT NOT NULL, entry_id TEXT, score DOUBLE PRECISION NOT NULL, lang TEXT NOT NULL,"
            " choices TEXT NOT NULL, text TEXT)",
            "CREATE TABLE IF NOT EXISTS feedback (id {id}, at DOUBLE PRECISION NOT NULL, chat_hash TEXT NOT NULL,"
            " entry_id TEXT NOT NULL, helpful INTEGER NOT NULL, lang TEXT NOT NULL, text TEXT)",
        ),
    ),
    (
        2,
        (
            "CREATE INDEX IF NOT EXISTS questions_at ON questions (at)",
            "CREATE INDEX IF NOT EXISTS questions_chat ON questions (chat_hash)",
            "CREATE INDEX IF NOT EXISTS feedback_at ON feedback (at)",
            "CREATE INDEX IF NOT EXISTS feedback_chat ON feedback (chat_hash)",
        ),
    ),
)
SCHEMA_VERSION = MIGRATIONS[-1][0]


class QuestionLog(ABC):
    """Writes questions and feedback (hashing chats, masking and expiring texts); reads them for reports."""

    backend = ""
    _id_column = ""

    def __init__(self, key: bytes, text_days: int = 30) -> None:
        self._key = key
        self.text_days = text_days
        self._lock = threading.Lock()
        self._paused_until = 0.0
        self._skipped = 0
        self._writes = 0
        self._ready = False  # schema known to be in place (migrate() ran in this object)

    # -- what a dialect provides ---------------------------------------------------------------

    @abstractmethod
    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        """A cursor-like object inside one transaction (committed on success)."""

    @abstractmethod
    def _lock_schema(self, cur: Any) -> None:
        """Keep other processes from migrating at the same time (until the transaction ends)."""

    def _sql(self, statement: str) -> str:
        return statement

    @abstractmethod
    def close(self) -> None:
        """Release this process's connections."""

    # -- schema ------------------------------------------------------------------------------

    def migrate(self, target: int = SCHEMA_VERSION) -> int:
        """Create or upgrade the schema up to `target`, idempotently; returns the version now in place."""
        with self._transaction() as cur:
            self._lock_schema(cur)
            cur.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL, at DOUBLE PRECISION)")
            cur.execute("SELECT MAX(version) FROM schema_version")
            current = cur.fetchone()[0] or 0
            for version, statements in MIGRATIONS:
                if current < version <= target:
                    for statement in statements:
                        cur.execute(statement.replace("{id}", self._id_column))
                    cur.execute(
                        self._sql("INSERT INTO schema_version (version, at) VALUES (?, ?)"), (version, time.time())
                    )
                    current = version
        self._ready = current >= SCHEMA_VERSION
        return current

    def version(self) -> int:
        """The schema version in the database (0 when none)."""
        with self._transaction() as cur:
            cur.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL, at DOUBLE PRECISION)")
            cur.execute("SELECT MAX(version) FROM schema_version")
            return int(cur.fetchone()[0] or 0)

    # -- writes (reply side: never raise) ------------------------------------------------------

    def hash(self, chat: str) -> str:
        """The stored form of a chat id."""
        return chat_hash(self._key, chat)

    def _keep(self, text: str | None) -> str | None:
        if not text or self.text_days <= 0:
            return None
        # Half an emoji (a lone surrogate) cannot be encoded as UTF-8, nor a NUL stored in PostgreSQL's text:
        # such a message made the write fail, and the whole log paused for 30 s, losing everyone's rows.
        kept = mask(text.strip())[:MAX_TEXT].replace("\x00", "")
        return kept.encode("utf-8", "replace").decode("utf-8") or None

    def record(self, chat: str | None, question: Question, at: float | None = None) -> bool:
        """Store one question's outcome; False (and at most one warning per outage) when the database fails."""
        text = self._keep(question.text) if question.outcome in TEXT_OUTCOMES else None
        row = (
            at or time.time(),
            self.hash(chat or "-"),
            question.outcome,
            question.entry_id,
            float(question.score),
            question.lang,
            " ".join(question.choices),
            text,
        )
        sql = "INSERT INTO questions (at, chat_hash, outcome, entry_id, score, lang, choices, text)"
        return self._write(sql + " VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row)

    def feedback(self, chat: str | None, tap: Feedback, at: float | None = None) -> bool:
        """Store one feedback tap (the question's text only when not helpful); False when the database fails."""
        text = None if tap.helpful else self._keep(tap.text)
        row = (at or time.time(), self.hash(chat or "-"), tap.entry_id, int(tap.helpful), tap.lang, text)
        sql = "INSERT INTO feedback (at, chat_hash, entry_id, helpful, lang, text) VALUES (?, ?, ?, ?, ?, ?)"
        return self._write(sql, row)

    def _write(self, sql: str, row: tuple[Any, ...]) -> bool:
        now = time.monotonic()
        with self._lock:
            if now < self._paused_until:
                self._skipped += 1
                return False
        try:
            if not self._ready:  # the database was down at start-up: make the schema now
                self.migrate()
            with self._transaction() as cur:
                cur.execute(self._sql(sql), row)
        except Exception as exc:  # noqa: BLE001 - any driver error: the reply has been sent, the row is lost
            with self._lock:
                first = self._paused_until == 0.0
                self._paused_until = time.monotonic() + PAUSE_SECONDS
                self._skipped += 1
            if first:
                log.warning(
                    "question log unavailable (%s: %s); writes paused %.0f s at a time until it is back",
                    type(exc).__name__,
                    _one_line(exc),
                    PAUSE_SECONDS,
                )
            return False
        with self._lock:
            if self._paused_until:
                log.warning("question log back; %d write(s) were skipped", self._skipped)
            self._paused_until, self._skipped = 0.0, 0
            self._writes += 1
            prune = self._writes % PRUNE_EVERY == 0
        if prune:
            try:
                self.prune()
            except Exception as exc:  # noqa: BLE001 - a failed clean-up waits for the next one
                log.warning("question log prune failed: %s", _one_line(exc))
        return True

    # -- maintenance (CLI: errors raise) -------------------------------------------------------

    def forget(self, chat_hash: str) -> int:
        """Delete every row of one chat; returns how many."""
        with self._transaction() as cur:
            cur.execute(self._sql("DELETE FROM questions WHERE chat_hash = ?"), (chat_hash,))
            count = cur.rowcount
            cur.execute(self._sql("DELETE FROM feedback WHERE chat_hash = ?"), (chat_hash,))
            return count + cur.rowcount

    def prune(self, now: float | None = None) -> int:
        """Drop texts older than `text_days` (all of them when 0) and rows older than a year; returns rows touched."""
        now = now or time.time()
        text_before = now - self.text_days * DAY if self.text_days > 0 else now + DAY
        touched = 0
        with self._transaction() as cur:
            for table in ("questions", "feedback"):
                cur.execute(
                    self._sql(f"UPDATE {table} SET text = NULL WHERE text IS NOT NULL AND at < ?"),  # noqa: S608
                    (text_before,),
                )
                touched += cur.rowcount
                # Rows without text only: with QUESTION_LOG_DAYS over 365, a row keeps its text as long as that says.
                cur.execute(
                    self._sql(f"DELETE FROM {table} WHERE at < ? AND text IS NULL"),  # noqa: S608
                    (now - KEEP_ROWS_DAYS * DAY,),
                )
                touched += cur.rowcount
        return touched

    def questions(self, since: float = 0.0) -> list[QuestionRow]:
        """Questions stored at or after `since`, oldest first."""
        with self._transaction() as cur:
            cur.execute(
                self._sql(
                    "SELECT at, chat_hash, outcome, entry_id, score, lang, choices, text FROM questions"
                    " WHERE at >= ? ORDER BY at, id"
                ),
                (since,),
            )
            rows = cur.fetchall()
        return [QuestionRow(r[0], r[1], r[2], r[3], r[4], r[5], tuple(r[6].split()), r[7]) for r in rows]

    def feedbacks(self, since: float = 0.0) -> list[FeedbackRow]:
        """Feedback taps stored at or after `since`, oldest first."""
        with self._transaction() as cur:
            cur.execute(
                self._sql(
                    "SELECT at, chat_hash, entry_id, helpful, lang, text FROM feedback WHERE at >= ? ORDER BY at, id"
                ),
                (since,),
            )
            rows = cur.fetchall()
        return [FeedbackRow(r[0], r[1], r[2], bool(r[3]), r[4], r[5]) for r in rows]


class SQLiteLog(QuestionLog):
    """The embedded default: one SQLite file shared by every worker process of a machine.

    One connection per process serves every thread, one transaction at a time (SQLite writes one at
    a time anyway): a connection per thread cost each of a worker's 64 reply threads its own."""

    backend = "sqlite"
    _id_column = "INTEGER PRIMARY KEY"
    BUSY_SECONDS = 5.0  # how long a write waits for the file's (or this process's) write turn

    def __init__(self, path: str, key: bytes, text_days: int = 30) -> None:
        super().__init__(key, text_days)
        self.path = path or str(Path(tempfile.gettempdir()) / "line-error-bot-questions.sqlite3")
        self._db: sqlite3.Connection | None = None
        self._pid = 0
        self._turn = threading.Lock()

    def _connect(self) -> sqlite3.Connection:
        if self._db is None or self._pid != os.getpid():  # forked: the parent's connection is not ours
            db = sqlite3.connect(self.path, timeout=self.BUSY_SECONDS, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            self._db, self._pid = db, os.getpid()
        return self._db

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        if not self._turn.acquire(timeout=self.BUSY_SECONDS):
            raise sqlite3.OperationalError("database is locked (this process's other writes)")
        try:
            db = self._connect()
            db.execute("BEGIN IMMEDIATE")  # takes the write lock now: migrations in two processes do not interleave
            try:
                yield db.cursor()
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        finally:
            self._turn.release()

    def _lock_schema(self, cur: Any) -> None:
        """BEGIN IMMEDIATE already holds the database's write lock."""

    def close(self) -> None:
        """Close this process's connection."""
        with self._turn:
            if self._db is not None and self._pid == os.getpid():
                self._db.close()
            self._db = None


class PostgresLog(QuestionLog):
    """PostgreSQL through psycopg 3 (DATABASE_URL), with a few connections per process."""

    backend = "postgresql"
    _id_column = "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"
    MAX_CONNECTIONS = 4  # per process: 64 reply threads must not open 64 (Heroku's small plans allow 20 in all)
    CONNECT_TIMEOUT = 3
    WAIT_SECONDS = 10.0  # for a free connection, before the write counts as failed

    def __init__(self, url: str, key: bytes, text_days: int = 30) -> None:
        super().__init__(key, text_days)
        # Heroku sets postgres://; libpq reads both, but say the standard one.
        self._url = "postgresql://" + url.removeprefix("postgres://") if url.startswith("postgres://") else url
        self._idle: list[Any] = []
        self._pool_lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(self.MAX_CONNECTIONS)
        self._pid = os.getpid()

    def _sql(self, statement: str) -> str:
        return statement.replace("?", "%s")

    def _take(self) -> Any:
        import psycopg  # imported here: SQLite-only installs and the CLI's other commands do not pay for it

        with self._pool_lock:
            if self._pid != os.getpid():  # forked: the parent's sockets are not ours
                self._idle, self._pid = [], os.getpid()
            if self._idle:
                return self._idle.pop()
        return psycopg.connect(self._url, connect_timeout=self.CONNECT_TIMEOUT, application_name="line-error-bot")

    def _give_back(self, conn: Any) -> None:
        with self._pool_lock:
            if not conn.closed and self._pid == os.getpid():
                self._idle.append(conn)
                return
        conn.close()

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        if not self._slots.acquire(timeout=self.WAIT_SECONDS):
            raise LogUnavailable(f"all {self.MAX_CONNECTIONS} connections busy for {self.WAIT_SECONDS:.0f} s")
        try:
            conn = self._take()
            try:
                with conn.transaction(), conn.cursor() as cur:
                    yield cur
            except BaseException:
                conn.close()  # a broken connection must not go back to the pool
                raise
            self._give_back(conn)
        finally:
            self._slots.release()

    def _lock_schema(self, cur: Any) -> None:
        cur.execute("SELECT pg_advisory_xact_lock(7306141)")  # any fixed number: this app's migration lock

    def close(self) -> None:
        """Close the idle connections."""
        with self._pool_lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


def open_log(config: LogConfig, channel_secret: str, migrate: bool = True) -> QuestionLog:
    """The configured log, its schema created or upgraded; raises LogUnavailable when that fails."""
    key = config.key.encode() if config.key else derive_key(channel_secret)
    qlog: QuestionLog
    if config.database_url:
        qlog = PostgresLog(config.database_url, key, config.text_days)
    else:
        qlog = SQLiteLog(config.sqlite_path, key, config.text_days)
    if migrate:
        try:
            qlog.migrate()
        except Exception as exc:  # noqa: BLE001 - sqlite3 and psycopg errors alike
            qlog.close()
            raise LogUnavailable(f"question log ({qlog.backend}): {_one_line(exc)}") from None
    return qlog


def _one_line(exc: BaseException) -> str:
    """A driver's error for a log line: libpq quotes the URL it could not use, password and all."""
    return mask(" ".join(str(exc).split()))[:200]
