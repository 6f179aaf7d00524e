"""Take a webhook body in: check its signature (SDK), read its events, queue each one; nothing more."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from linebot.v3.webhook import SignatureValidator

from bot.logfmt import ID_CHARS, kv
from bot.store import Entry

log = logging.getLogger(__name__)

TAKEN_IDS = 10_000


class Rejected(Exception):
    """The body is refused; `status` is the HTTP answer and the message says why (for the log)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True)
class Accepted:
    """What became of a body's events."""

    queued: int
    skipped: int  # entries that are not even objects, or ids this process queued already
    refused: tuple[str, ...]  # webhookEventIds not queued because the pool was full


class RecentIds:
    """The last `size` ids added, for a thread-safe `in` (a dict keeps insertion order)."""

    def __init__(self, size: int) -> None:
        self._ids: dict[str, None] = {}
        self._size = size
        self._lock = threading.Lock()

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._ids

    def add(self, event_id: str) -> None:
        with self._lock:
            self._ids[event_id] = None
            if len(self._ids) > self._size:
                del self._ids[next(iter(self._ids))]


def clean_ids(raw: dict[str, Any]) -> None:
    """Bound the event's ids and replace lone surrogates in them, once, before anything stores or logs them.

    LINE's ids are 26-44 ASCII characters; anything else is a forgery or a bug, and a lone
    surrogate cannot even be encoded for SQLite or a log."""
    _clean(raw, ("webhookEventId", "replyToken"))
    _clean(raw.get("source"), ("userId", "groupId", "roomId"))
    message = raw.get("message")
    mention = message.get("mention") if isinstance(message, dict) else None
    mentionees = mention.get("mentionees") if isinstance(mention, dict) else None
    for mentionee in mentionees if isinstance(mentionees, list) else ():
        _clean(mentionee, ("userId",))


def _clean(node: Any, keys: tuple[str, ...]) -> None:
    if isinstance(node, dict):
        for key in keys:
            value = node.get(key)
            if isinstance(value, str) and (len(value) > ID_CHARS or not value.isprintable() or not value.isascii()):
                node[key] = safe_id(value)


def safe_id(value: str) -> str:
    """A printable id of at most ID_CHARS characters; a digest of the original keeps distinct ids distinct."""
    digest = hashlib.blake2b(value.encode("utf-8", "surrogatepass"), digest_size=6).hexdigest()
    kept = "".join(c for c in value[: ID_CHARS - 13] if c.isprintable() and not 0xD800 <= ord(c) <= 0xDFFF)
    return f"{kept}~{digest}"


def event_id(raw: dict[str, Any]) -> str | None:
    """The event's webhookEventId, when it has one."""
    value = raw.get("webhookEventId")
    return value if isinstance(value, str) and value else None


class Intake:
    """Verify and queue: the only work done before LINE gets its 200."""

    def __init__(
        self,
        channel_secret: str,
        submit: Callable[[dict[str, Any]], bool],
        journal: Callable[[list[Entry]], None] = lambda entries: None,
        forget: Callable[[str], None] = lambda event_id: None,
    ) -> None:
        self._validator = SignatureValidator(channel_secret)
        self._submit = submit
        # Accepted means journaled: written to the store before the 200, dropped after the reply
        # (or here, when the pool refuses it and LINE is told to redeliver).
        self._journal = journal
        self._forget = forget
        # Ids this process queued lately: a cheap first filter before the shared store decides.
        self._taken = RecentIds(TAKEN_IDS)

    def accept(self, body: str, signature: str | None) -> Accepted:
        """Verify and queue a webhook body; raise Rejected when it must not be processed."""
        if not signature:
            raise Rejected(400, "missing X-Line-Signature")
        if not self._validator.validate(body, signature):
            raise Rejected(400, "invalid X-Line-Signature")
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError):  # RecursionError: a body nested thousands deep
            raise Rejected(400, "body is not JSON") from None
        raw_events = payload.get("events") if isinstance(payload, dict) else None
        if not isinstance(raw_events, list):
            raise Rejected(400, "body has no events list")
        queued = skipped = 0
        refused: list[str] = []
        fresh: list[tuple[str | None, dict[str, Any]]] = []
        for raw in raw_events:
            if not isinstance(raw, dict):
                log.info(kv("event skipped", reason="not an object"))
                skipped += 1
                continue
            clean_ids(raw)
            found = event_id(raw)
            if found in self._taken:
                # Taken by this process already (a redelivery after a 503, say): not worth a slot.
                log.info(kv("duplicate event skipped", webhookEventId=found))
                skipped += 1
            else:
                fresh.append((found, raw))
        self._journal([(found, raw) for found, raw in fresh if found])  # before any reply can finish
        for found, raw in fresh:
            if self._submit(raw):
                queued += 1
                if found:
                    self._taken.add(found)
            else:
                log.warning(kv("reply pool full, event not taken", webhookEventId=found))
                refused.append(found or "-")
                if found:
                    self._forget(found)
        return Accepted(queued, skipped, tuple(refused))
