"""Take a webhook body: verify and queue its events; dedupe, parse and reply from the worker pool."""

from __future__ import annotations

import functools
import json
import logging
import os
import threading
from dataclasses import dataclass
from typing import Any

from linebot.v3.webhook import SignatureValidator
from linebot.v3.webhooks import Event

from bot import events, render
from bot.config import Settings
from bot.knowledge import KnowledgeBase
from bot.matcher import Match, Matcher
from bot.sender import Sender
from bot.store import Store
from bot.workers import WorkerPool

log = logging.getLogger(__name__)

CACHE_CHARS = 300
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
    skipped: int  # entries that are not even objects (duplicates and bad events are dropped later)
    refused: tuple[str, ...]  # webhookEventIds not queued because the pool was full


class Service:
    """The bot's webhook side: one per process, shared by every request thread."""

    def __init__(self, settings: Settings, kb: KnowledgeBase) -> None:
        self.kb = kb
        self.matcher = Matcher(kb)
        # The same errors get pasted again and again: remember recent short questions and replies
        # (short only: 4,096 pastes of 5,000 characters would cost tens of MB).
        self._match_cached = functools.lru_cache(maxsize=4096)(self.matcher.match)
        self.render = functools.lru_cache(maxsize=512)(functools.partial(render.render, kb))
        self._settings = settings
        self._validator = SignatureValidator(settings.channel_secret)
        self._lock = threading.Lock()
        self._pid = 0
        # Ids this process queued lately: a cheap first filter before the shared store decides.
        self._taken = RecentIds(TAKEN_IDS)

    def match(self, text: str) -> Match:
        """Matcher.match, cached for questions of up to CACHE_CHARS characters."""
        return self._match_cached(text) if len(text) <= CACHE_CHARS else self.matcher.match(text)

    def _start(self) -> None:
        """Threads, sockets and the SQLite connection of this process, made on first use.

        gunicorn loads the app once in the master (preload_app) and forks: nothing that holds
        a thread or a connection may be made before the fork, so each worker makes its own.
        """
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid == os.getpid():
                return
            settings = self._settings
            self._store = Store(settings.dedupe_path)
            self._sender = Sender(
                settings.access_token,
                settings.api_base_url,
                settings.connect_timeout,
                settings.read_timeout,
                pool_size=settings.reply_threads,
            )
            self._pool = WorkerPool(settings.reply_threads, settings.reply_queue)
            self._pid = os.getpid()

    @property
    def pending(self) -> int:
        """Replies waiting for a thread in this process."""
        return self._pool.pending if self._pid == os.getpid() else 0

    def accept(self, body: str, signature: str | None) -> Accepted:
        """Verify and queue a webhook body; raise Rejected when it must not be processed."""
        self._start()
        with self._pool.foreground():  # replies wait while a webhook is being answered
            return self._accept(body, signature)

    def _accept(self, body: str, signature: str | None) -> Accepted:
        if not signature:
            raise Rejected(400, "missing X-Line-Signature")
        if not self._validator.validate(body, signature):
            raise Rejected(400, "invalid X-Line-Signature")
        try:
            payload = json.loads(body)
        except ValueError:
            raise Rejected(400, "body is not JSON") from None
        raw_events = payload.get("events") if isinstance(payload, dict) else None
        if not isinstance(raw_events, list):
            raise Rejected(400, "body has no events list")
        queued = skipped = 0
        refused: list[str] = []
        for raw in raw_events:
            if not isinstance(raw, dict):
                log.info("event skipped (not an object)")
                skipped += 1
                continue
            event_id = _event_id(raw)
            if event_id in self._taken:
                # Taken by this process already (a redelivery after a 503, say): not worth a slot.
                log.info("duplicate event skipped: webhookEventId=%s", event_id)
                skipped += 1
            elif self._pool.submit(functools.partial(self._handle, raw)):
                queued += 1
                if event_id:
                    self._taken.add(event_id)
            else:
                log.warning("reply pool full, event not taken: webhookEventId=%s", event_id or "-")
                refused.append(event_id or "-")
        return Accepted(queued, skipped, tuple(refused))

    def _handle(self, raw: dict[str, Any]) -> None:
        """Dedupe, parse and answer one raw event (in a reply thread: the webhook has already answered).

        Dedupe and the SDK's parse run here rather than before the 200: each would cost the webhook
        a SQLite write or a pydantic model per event, with LINE waiting on it. A redelivery that
        arrives while the first copy is still queued is caught here all the same: exactly one of
        them records the id first.
        """
        event_id = _event_id(raw)
        if event_id and not self._store.first_time(event_id):
            log.info("duplicate event skipped: webhookEventId=%s", event_id)
            return
        try:
            event = Event.from_dict(raw)
        except Exception as exc:  # noqa: BLE001 - the SDK raises ValueError, TypeError, pydantic errors
            if _is_direct_message(raw):
                # A message type the SDK does not know yet, in a 1:1 chat: still help the user.
                self._send(raw["replyToken"], render.hint_messages(self.kb), event_id, "hint")
            else:
                log.info("event skipped (%s): webhookEventId=%s", type(exc).__name__, event_id or "-")
            return
        if getattr(event, "reply_token", None):
            self._reply(event, event_id)

    def _reply(self, event: Event, event_id: str | None) -> None:
        chat = events.chat_key(event)
        offered = self._store.offered(chat) if chat and events.picked_number(event) is not None else None
        reply = events.plan(event, self.kb, self.match, self.render, offered)
        if reply is None:
            return
        if chat and reply.offered:
            self._store.offer(chat, reply.offered, reply.lang)
        self._send(event.reply_token, reply.messages, event_id, reply.note)

    def _send(self, token: str, messages: list[dict[str, Any]], event_id: str | None, note: str) -> None:
        self._sender.reply(token, messages, event_id or "-", note)

    def shutdown(self, timeout: float) -> None:
        """Finish queued replies within `timeout` seconds, then release connections."""
        if self._pid == os.getpid() and self._pool.shutdown(timeout):
            self._sender.close()


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


def _event_id(raw: dict[str, Any]) -> str | None:
    event_id = raw.get("webhookEventId")
    return event_id if isinstance(event_id, str) and event_id else None


def _is_direct_message(raw: Any) -> bool:
    return (
        isinstance(raw, dict)
        and raw.get("type") == "message"
        and raw.get("mode", "active") == "active"
        and isinstance(raw.get("replyToken"), str)
        and isinstance(raw.get("source"), dict)
        and raw["source"].get("type") == "user"
    )
