"""Shared by every dyno: Redis (Heroku Key-Value Store) when REDIS_URL is set.

While Redis cannot be reached, nothing waits on it: dedupe, offers and rate limits use this
process's memory and the journal the dyno's SQLite file, with one warning line per outage; a
background probe (`beat`, every second) notices when it answers again."""

from __future__ import annotations

import functools
import itertools
import json
import logging
import math
import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import redis

try:  # hiredis packs a command in C; redis-py's packer wraps that in ~10 us of Python per command
    from hiredis import pack_command as _pack
except ImportError:  # redis-py packs in Python then
    _pack = None

from bot.store import (
    DEAD_AFTER,
    KEEP_SECONDS,
    OFFER_SECONDS,
    Entry,
    Journaled,
    Offer,
    Store,
    digest,
    pseudonymous,
)
from bot.store.memory_store import MemoryStore

log = logging.getLogger(__name__)

PREFIX = "line-error-bot:"
OWNERS = PREFIX + "owners"  # every process that ever journaled here and has not been taken over
# Move one journal field from a dead owner's hash to ours; exactly one caller gets it.
MOVE = """
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v then redis.call('HDEL', KEYS[1], ARGV[1]); redis.call('HSET', KEYS[2], ARGV[1], v) end
return v
"""

# Accept events in one round trip: each id not seen before (SET NX EX, as first_time does) is
# journaled in our hash; returns 1 or 0 per id. One call carries the events of every webhook whose
# journal write shares the round trip. KEYS: our journal hash, then each event's seen key; ARGV: the
# seen keys' expiry, then each event's id and journal value.
ACCEPT = """
local claimed = {}
for i = 2, #KEYS do
  if redis.call('SET', KEYS[i], '1', 'NX', 'EX', ARGV[1]) then
    redis.call('HSET', KEYS[1], ARGV[2 * i - 2], ARGV[2 * i - 1])
    claimed[i - 1] = 1
  else
    claimed[i - 1] = 0
  end
end
return claimed
"""

T = TypeVar("T")
Command = tuple[Any, ...]


class Connections:
    """Commands sent on redis-py's own connections (its RESP parser, TLS, auth from the URL), lent
    out by a LIFO queue of at most `size`, cooperative under gevent like the socket. With hiredis
    installed (requirements.txt) redis-py parses in C and `hiredis.pack_command` packs: a round trip
    costs ~40 us of CPU instead of ~65 (the webhook's journal write, under gevent).

    Not `redis.Redis`: per command it polls the socket for stray data (a syscall), times the call
    and records metrics, and wraps it in its retry machinery, ~80 us of CPU on a ~40 us command
    (measured under gevent): most of what a webhook paid for Redis. A failed command closes its
    connection; the next borrower reconnects. No retries: the caller's fallback is the retry."""

    def __init__(self, url: str, size: int, timeout: float, **options: Any) -> None:
        self._factory = redis.ConnectionPool.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, **options
        )
        self._timeout = timeout
        self._free: queue.LifoQueue[Any] = queue.LifoQueue()
        for _ in range(size):
            self._free.put(None)  # made on first use

    def run(self, *commands: Command) -> list[Any]:
        """The commands' replies, sent in one write and read in order: one round trip."""
        try:
            conn = self._free.get(timeout=self._timeout)
        except queue.Empty:
            raise redis.ConnectionError("no free Redis connection") from None
        try:
            if conn is None:
                conn = self._factory.make_connection()
            packed = [b"".join(map(_pack, commands))] if _pack is not None else conn.pack_commands(commands)
            conn.send_packed_command(packed, check_health=False)
            return [conn.read_response() for _ in commands]
        except BaseException:
            if conn is not None:
                conn.disconnect()  # replies may be left unread: never lend it out in that state
            raise
        finally:
            self._free.put(conn)


class _Write:
    """One caller's commands, waiting to be sent with the others that came meanwhile."""

    __slots__ = ("accepts", "commands", "error", "failed", "ready", "replies", "sends")

    def __init__(
        self, commands: tuple[Command, ...], failed: Callable[[], None] | None, accepts: Sequence[tuple[str, str]] = ()
    ) -> None:
        self.commands = commands
        self.accepts = accepts  # (event id, journal value) pairs: a round trip sends all of its writes' in one script
        # A caller that waits for its replies has an event; one that does not says what to do on failure.
        self.ready = threading.Event() if failed is None else None
        self.failed = failed
        self.sends = False  # this caller sends the next round trip
        self.replies: list[Any] = []
        self.error: redis.RedisError | None = None


class RedisStore:
    """Event ids (SET NX EX), offers (SET EX), rate limits (INCR + EXPIRE) and the journal (a hash
    per process, with a heartbeat key) in Redis; one connection pool per process, made after the fork."""

    def __init__(
        self,
        url: str,
        local: Store,
        owner: str,
        *,
        timeout: float,
        max_connections: int,
        dead_after: float = DEAD_AFTER,
    ) -> None:
        options: dict[str, object] = {}
        if url.startswith("rediss://"):
            # Heroku Key-Value Store serves TLS with a self-signed certificate; Heroku's documented
            # setting for redis-py is ssl_cert_reqs=None (encrypted, not verified).
            options["ssl_cert_reqs"] = None
        self._redis = Connections(url, max_connections, timeout, **options)
        self._owner = owner
        self._journal = f"{PREFIX}journal:{owner}"
        self._alive = f"{PREFIX}alive:{owner}"
        self._local = local
        self._memory = MemoryStore()
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self._reason = ""
        self._local_ids: set[str] = set()  # journaled in SQLite during an outage
        self._undone: set[str] = set()  # replied to during an outage, still in our Redis hash
        self._suspects: set[str] = set()
        self._alive_seconds = max(1, math.ceil(dead_after))  # the heartbeat key's life (whole seconds)
        # Ids `put` found new, until a reply thread asks first_time: the atomic set-if-absent ran
        # with the journal write, in the webhook's one round trip. Only wins are kept: two copies
        # of one event in this process race between the script and this dict, and a loss noted
        # before the win would hide it (neither copy answered); a copy that lost asks Redis again.
        self._claims: set[str] = set()
        # Writes that came while one round trip was under way: the next one carries them all.
        self._writes: list[_Write] = []
        self._writing = False
        self.beat()

    def _call(self, work: Callable[[], T], fallback: Callable[[], T]) -> T:
        """`work` against Redis, or `fallback` while it is unreachable (never waits on a known outage)."""
        if self._down_since is None:
            try:
                return work()
            except redis.RedisError as exc:
                self._failed(exc)
        return fallback()

    def _failed(self, exc: Exception) -> None:
        with self._lock:
            if self._down_since is not None:
                return
            self._down_since = time.monotonic()
            self._reason = f"{type(exc).__name__}: {exc}"
        log.warning(
            "shared store (Redis) unreachable (%s): deduplicating in this process's memory and journaling"
            " to the local file until it answers; meanwhile a redelivery reaching another dyno may be"
            " answered twice",
            self._reason,
        )

    def first_time(self, event_id: str) -> bool:
        """Atomic SET NX with expiry: exactly one process of any dyno sees an id as new (asked
        already by `put` for the events this process accepted)."""
        with self._lock:
            if event_id in self._claims:
                self._claims.discard(event_id)
                return True
        return self._call(
            lambda: self._redis.run(("SET", f"{PREFIX}seen:{event_id}", b"1", "NX", "EX", KEEP_SECONDS))[0] is not None,
            lambda: self._memory.first_time(event_id),
        )

    def offer(self, chat: str, ids: tuple[str, ...], lang: str, *, urgent: bool = True) -> None:
        """Remember the choices offered in `chat` for OFFER_SECONDS (not `urgent`: the SET goes with the next
        round trip, at the latest the next heartbeat's; this process has it at once)."""
        value = json.dumps([list(ids), lang])
        self._memory.offer(chat, ids, lang)  # kept here too: an outage must not forget it
        key = f"{PREFIX}offer:{digest(chat)}"
        command = ("SET", key, value, "EX", OFFER_SECONDS)
        self._call(lambda: self._write(command, failed=None if urgent else _ignore), lambda: None)

    def offered(self, chat: str) -> Offer | None:
        """The choices last offered in `chat` by any dyno, if recent."""

        def shared() -> Offer | None:
            (raw,) = self._redis.run(("GET", f"{PREFIX}offer:{digest(chat)}"))
            if raw is None:
                return None
            ids, lang = json.loads(raw)
            return tuple(ids), lang

        return self._call(shared, lambda: self._memory.offered(chat))

    def allow(self, key: str, limit: int, per_seconds: float) -> bool:
        """Fixed-window INCR with expiry, shared by every dyno."""
        window = int(time.time() // per_seconds)
        name = f"{PREFIX}rate:{digest(key)}:{window}"

        def shared() -> bool:
            count, _ = self._redis.run(("INCR", name), ("EXPIRE", name, max(1, int(per_seconds) + 1)))
            return int(count) <= limit

        return self._call(shared, lambda: self._memory.allow(key, limit, per_seconds))

    def put(self, entries: Sequence[Entry]) -> None:
        """Journal accepted events in this process's hash and record their ids as seen: one round
        trip (a script), or locally in an outage. An id seen before is not journaled: the process
        that saw it first has it (and first_time will say it is a duplicate)."""
        if not entries:
            return
        now = time.time()
        fields = {eid: json.dumps([now, pseudonymous(raw)]) for eid, raw in entries}

        def local() -> None:
            self._local.put(entries)
            with self._lock:
                self._local_ids.update(fields)

        def shared() -> None:
            claimed = self._write(accepts=list(fields.items()))
            with self._lock:
                self._claims.update(eid for eid, won in zip(fields, claimed, strict=True) if won)

        self._call(shared, local)

    def _write(
        self, *commands: Command, failed: Callable[[], None] | None = None, accepts: Sequence[tuple[str, str]] = ()
    ) -> list[Any]:
        """Send `commands` with the writes of every other thread that came while a round trip was
        under way: one round trip for all of them (and at most one connection: under gevent a
        connection stays taken until its greenlet runs again, and 64 reply threads writing each on
        its own ran the pool dry under load). A caller that finds no round trip under way sends at
        once; one that finds one waits for it, then the first of those waiting sends for all.

        With `failed` the caller does not wait for a round trip under way (its commands go with
        the next one, at the latest the next heartbeat's) and `failed` runs if theirs fails."""
        mine = _Write(commands, failed, accepts)
        with self._lock:
            self._writes.append(mine)
            if not self._writing:
                self._writing = mine.sends = True
            elif mine.ready is None:
                return []
        if mine.ready is not None and not mine.sends:
            mine.ready.wait()  # set when a round trip carried it, or when it is its turn to send
            if not mine.sends:
                if mine.error is not None:
                    raise mine.error
                return mine.replies
        while True:
            with self._lock:
                batch, self._writes = self._writes, []
            error: BaseException | None = None
            try:
                commands = [c for w in batch for c in w.commands]
                accepts = [a for w in batch for a in w.accepts]
                if accepts:
                    # EVAL, not EVALSHA: a restarted Redis has forgotten its scripts (it caches
                    # this one by its SHA-1 all the same).
                    keys = [self._journal, *(f"{PREFIX}seen:{eid}" for eid, _ in accepts)]
                    args = itertools.chain.from_iterable(accepts)
                    commands.insert(0, ("EVAL", ACCEPT, len(keys), *keys, KEEP_SECONDS, *args))
                replies = iter(self._redis.run(*commands))
                claimed = iter(next(replies) if accepts else ())
                for write in batch:
                    write.replies = [next(claimed) for _ in write.accepts] + [next(replies) for _ in write.commands]
            except BaseException as exc:  # noqa: BLE001 - every caller of the batch hears of it
                error = exc
            with self._lock:
                following = next((w for w in self._writes if w.ready is not None), None)
                # A caller that does not wait carries on with writes that do not wait either.
                again = following is None and bool(self._writes) and mine.ready is None and error is None
                self._writing = following is not None or again
            if following is not None:
                following.sends = True
                following.ready.set()  # type: ignore[union-attr]
            told = error if error is None or isinstance(error, redis.RedisError) else redis.RedisError(repr(error))
            for write in batch:
                if write is mine:
                    continue
                if write.ready is not None:
                    write.error = told
                    write.ready.set()
                elif error is not None and write.failed is not None:
                    write.failed()
            if error is not None:
                raise error
            if not again:
                return mine.replies

    def done(self, event_id: str) -> None:
        """Drop an event from this process's journal, wherever it was written (in Redis without
        waiting for a write under way: the HDEL goes with the next round trip)."""
        if self._was_local(event_id):
            self._local.done(event_id)
            return
        later = functools.partial(self._later, event_id)
        self._call(lambda: self._write(("HDEL", self._journal, event_id), failed=later), later)

    def refuse(self, event_id: str) -> None:
        """Drop an event the reply pool refused (webhook 503): `put` recorded its id as seen, so
        that goes too, and LINE's redelivery is answered."""
        with self._lock:
            self._claims.discard(event_id)
        if self._was_local(event_id):
            self._local.refuse(event_id)
            return

        self._call(
            lambda: self._redis.run(("HDEL", self._journal, event_id), ("DEL", f"{PREFIX}seen:{event_id}")),
            lambda: self._later(event_id),
        )

    def _was_local(self, event_id: str) -> bool:
        """True once for an event journaled in the local file during an outage."""
        with self._lock:
            found = event_id in self._local_ids
            self._local_ids.discard(event_id)
        return found

    def _later(self, event_id: str) -> None:
        """Redis is down: drop the event from our hash once it answers again."""
        with self._lock:
            self._undone.add(event_id)

    def unfinished(self) -> list[Journaled]:
        """Events of dead processes, from Redis (any dyno) and from the local file."""
        taken = self._local.unfinished()
        return taken + self._call(self._take_over, list)

    def _take_over(self) -> list[Journaled]:
        (members,) = self._redis.run(("SMEMBERS", OWNERS))
        owners = [o.decode() for o in members if o.decode() != self._owner]
        if not owners:
            return []
        alive = self._redis.run(*(("EXISTS", f"{PREFIX}alive:{owner}") for owner in owners))
        silent = {owner for owner, up in zip(owners, alive, strict=True) if not up}
        # Seen silent twice in a row (2 scans apart): a process whose heartbeat only just resumed
        # after an outage is not taken for dead.
        dead, self._suspects = silent & self._suspects, silent
        taken: list[Journaled] = []
        for owner in dead:
            theirs = f"{PREFIX}journal:{owner}"
            (fields,) = self._redis.run(("HKEYS", theirs))
            for field in fields:
                (value,) = self._redis.run(("EVAL", MOVE, 2, theirs, self._journal, field))
                if value is not None:
                    received, event = json.loads(value)
                    taken.append(Journaled(field.decode(), event, received))
            if not self._redis.run(("HLEN", theirs))[0]:
                self._redis.run(("SREM", OWNERS, owner))
        return taken

    def beat(self) -> None:
        """Heartbeat; while Redis is unreachable, a probe (this thread waits, no webhook does)."""
        self._local.beat()
        if self._down_since is not None:
            try:
                self._redis.run(("PING",))
            except redis.RedisError:
                return
            with self._lock:
                took, self._down_since = time.monotonic() - self._down_since, None
                undone, self._undone = self._undone, set()
            log.warning("shared store (Redis) answers again after %.1f s: shared dedupe resumed", took)
            if undone:
                self._call(lambda: self._redis.run(("HDEL", self._journal, *undone)), list)
        beat = (("SET", self._alive, b"1", "EX", self._alive_seconds), ("SADD", OWNERS, self._owner))
        self._call(lambda: self._write(*beat), list)  # also sends the HDELs of done() left waiting

    @property
    def problem(self) -> str | None:
        """The outage in progress, if any (the local file's trouble otherwise)."""
        if self._down_since is not None:
            return f"shared store (Redis) unreachable for {time.monotonic() - self._down_since:.0f} s ({self._reason})"
        return self._local.problem

    def release(self) -> None:
        """Drop the heartbeat so another process takes over what is left at once."""
        self._local.release()
        self._call(lambda: self._write(("DEL", self._alive)), list)  # with any HDEL left waiting


def _ignore() -> None:
    """A write whose loss costs little (an offer for a quoted message): nothing to do when it fails."""
