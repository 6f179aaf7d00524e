"""Take a webhook body: verify, parse, dedupe and queue its events; reply from the worker pool."""

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


class Rejected(Exception):
    """The body is refused; `status` is the HTTP answer and the message says why (for the log)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True)
class Accepted:
    """What became of a body's events."""

    queued: int
    skipped: int  # duplicates, unknown types and malformed events
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
            job, event_id = self._job_for(raw)
            if job is None:
                skipped += 1
                continue
            if event_id and not self._store.first_time(event_id):
                log.info("duplicate event skipped: webhookEventId=%s", event_id)
                skipped += 1
                continue
            if self._pool.submit(job):
                queued += 1
            else:
                if event_id:
                    self._store.forget(event_id)  # let LINE's redelivery bring it back
                log.warning("reply pool full, event not taken: webhookEventId=%s", event_id or "-")
                refused.append(event_id or "-")
        return Accepted(queued, skipped, tuple(refused))

    def _job_for(self, raw: Any) -> tuple[Any, str | None]:
        """A reply job for one raw event, or (None, id) when there is nothing to do."""
        event_id = raw.get("webhookEventId") if isinstance(raw, dict) else None
        event_id = event_id if isinstance(event_id, str) and event_id else None
        try:
            event = Event.from_dict(raw)
        except Exception as exc:  # noqa: BLE001 - the SDK raises ValueError, TypeError, pydantic errors
            if _is_direct_message(raw):
                # A message type the SDK does not know yet, in a 1:1 chat: still help the user.
                token = raw["replyToken"]
                return (lambda: self._send(token, render.hint_messages(self.kb), event_id, "hint")), event_id
            log.info("event skipped (%s): webhookEventId=%s", type(exc).__name__, event_id or "-")
            return None, event_id
        if not getattr(event, "reply_token", None):
            return None, event_id
        return (lambda: self._reply(event, event_id)), event_id

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


def _is_direct_message(raw: Any) -> bool:
    return (
        isinstance(raw, dict)
        and raw.get("type") == "message"
        and raw.get("mode", "active") == "active"
        and isinstance(raw.get("replyToken"), str)
        and isinstance(raw.get("source"), dict)
        and raw["source"].get("type") == "user"
    )
