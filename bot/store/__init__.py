"""State the bot's processes share: webhook event ids seen, the choices last offered per chat, rate
limits, and the journal of accepted events not yet replied to.

One interface (`Store`), three implementations chosen once per process by `open_store`: SQLite (the
default: one file shared by a dyno's worker processes), Redis (when REDIS_URL is set: shared by every
dyno), and process memory (what the others fall back to when they cannot be used). Nothing outside
this package knows which one it has."""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import socket
from collections.abc import Sequence
from typing import Any, NamedTuple, Protocol

log = logging.getLogger(__name__)

KEEP_SECONDS = 24 * 3600  # LINE redelivers within hours; a day is plenty
SEEN_CAP = 100_000  # ids kept at most (SQLite): bounds the file whatever the traffic
OFFER_SECONDS = 30 * 60  # a "send its number" answer only counts this long after the question
BEAT_SECONDS = 1.0  # how often a process says it is alive
DEAD_AFTER = 5.0  # a process silent this long is dead: its journaled events are taken over

Offer = tuple[tuple[str, ...], str]  # entry ids offered in a chat, and their language
Entry = tuple[str, dict[str, Any]]  # (webhookEventId, raw event) to journal


class Journaled(NamedTuple):
    """An accepted event taken over from a dead process."""

    event_id: str
    event: dict[str, Any]  # the raw event, user/group/room ids replaced by pseudonyms
    received: float  # epoch seconds when its webhook was accepted


class Store(Protocol):
    """What the reply path, the webhook and the journal worker need from shared state."""

    def first_time(self, event_id: str) -> bool:
        """Record `event_id`; True only for the first caller ever to record it."""
        ...

    def offer(self, chat: str, ids: tuple[str, ...], lang: str, *, urgent: bool = True) -> None:
        """Remember the choices just offered in `chat`, so "2" can pick the second one; not `urgent`: a
        shared store may send it with its next round trip instead of waiting for one."""
        ...

    def offered(self, chat: str) -> Offer | None:
        """The choices last offered in `chat` (and their language), if recent."""
        ...

    def allow(self, key: str, limit: int, per_seconds: float) -> bool:
        """True while `key` has been allowed fewer than `limit` times in the current window."""
        ...

    def put(self, entries: Sequence[Entry]) -> None:
        """Journal accepted events (before the webhook's 200)."""
        ...

    def done(self, event_id: str) -> None:
        """Drop an event from this process's journal: it was replied to (or needs no reply)."""
        ...

    def refuse(self, event_id: str) -> None:
        """Drop a journaled event the reply pool refused, and forget it was seen: LINE redelivers it."""
        ...

    def unfinished(self) -> list[Journaled]:
        """Take over the journaled events of processes that died; each goes to exactly one caller."""
        ...

    def beat(self) -> None:
        """Say this process is alive; probe a backend that failed (called every BEAT_SECONDS)."""
        ...

    @property
    def problem(self) -> str | None:
        """Why the store is degraded right now, or None when it works as intended."""
        ...

    def release(self) -> None:
        """This process is going away: let the others take over what it leaves journaled."""
        ...


def owner_id() -> str:
    """A name for this process, unique across restarts and dynos."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}"


def digest(value: str) -> str:
    """A stable stand-in for a user, group or room id: raw ids never reach a database."""
    return hashlib.blake2b(value.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def pseudonymous(raw: dict[str, Any]) -> dict[str, Any]:
    """The event with its user, group and room ids (source and mentions) replaced by digests."""
    event = dict(raw)
    source = event.get("source")
    if isinstance(source, dict):
        event["source"] = _masked(source)
    message = event.get("message")
    mention = message.get("mention") if isinstance(message, dict) else None
    if isinstance(mention, dict) and isinstance(mention.get("mentionees"), list):
        mentionees = [_masked(m) if isinstance(m, dict) else m for m in mention["mentionees"]]
        event["message"] = dict(message, mention=dict(mention, mentionees=mentionees))
    return event


def _masked(part: dict[str, Any]) -> dict[str, Any]:
    out = dict(part)
    for field, prefix in (("userId", "U"), ("groupId", "C"), ("roomId", "R")):
        if isinstance(out.get(field), str):
            out[field] = prefix + digest(out[field])
    return out


def prepare(redis_url: str) -> None:
    """Import what open_store will need, in gunicorn's master (redis-py takes most of a second to
    import: paid once before the fork, and its pages shared, rather than in every worker)."""
    if redis_url:
        import bot.store.redis_store  # noqa: F401


def open_store(
    dedupe_path: str,
    redis_url: str = "",
    *,
    redis_timeout: float = 0.25,
    redis_connections: int = 10,
    dead_after: float = DEAD_AFTER,
) -> Store:
    """The store for this process (call after the fork): Redis when a URL is given, else SQLite.

    A SQLite file that cannot be opened leaves the process deduplicating in its own memory, with
    `problem` saying so (and /healthz reporting it)."""
    from bot.store.memory_store import MemoryStore
    from bot.store.sqlite_store import SqliteStore

    owner = owner_id()
    local: Store
    try:
        local = SqliteStore(dedupe_path, owner, dead_after)
    except Exception as exc:  # noqa: BLE001 - sqlite3.Error, OSError: any reason the file is unusable
        reason = f"dedupe store {dedupe_path} unusable ({exc}): deduplicating in process memory only"
        log.error("%s", reason)
        local = MemoryStore(problem=reason)
    if not redis_url:
        return local
    from bot.store.redis_store import RedisStore

    return RedisStore(
        redis_url, local, owner, timeout=redis_timeout, max_connections=redis_connections, dead_after=dead_after
    )
