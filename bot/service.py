"""One per process: the matcher and caches shared by every thread, and the per-process edges.

gunicorn loads the app once in the master (preload_app) and forks: nothing that holds a thread
or a connection may be made before the fork, so each worker makes its own pool, store and client
on its first webhook."""

from __future__ import annotations

import functools
import os
import threading
import time

from bot import diagnose, diagnose_data, render
from bot.config import Settings
from bot.intake import Accepted, Intake
from bot.knowledge import KnowledgeBase
from bot.matcher import Matcher
from bot.questionlog import QuestionLog, open_log
from bot.replies import ReplyHandler
from bot.sender import Sender
from bot.store import Store
from bot.types import Match
from bot.workers import WorkerPool

CACHE_CHARS = 300


class Service:
    """Wires intake -> worker pool -> reply handler for this process."""

    def __init__(self, settings: Settings, kb: KnowledgeBase, menu_names: dict[str, str] | None = None) -> None:
        self.kb = kb
        self._menu_names = menu_names or {}
        self.matcher = Matcher(kb)
        # The same errors get pasted again and again: remember recent short questions and replies
        # (short only: 4,096 pastes of 5,000 characters would cost tens of MB).
        self._match_cached = functools.lru_cache(maxsize=4096)(self.matcher.match)
        self.render = functools.lru_cache(maxsize=512)(functools.partial(render.render, kb))
        self._settings = settings
        # Webhook URL checks: data validated now (start-up); the rate limits count per process.
        self.diagnose_data = diagnose_data.load(settings.knowledge_dir)
        self._diagnose_options = diagnose.Options.from_env()
        self._lock = threading.Lock()
        self._pid = 0
        self._log: QuestionLog | None = None

    def match(self, text: str) -> Match:
        """Matcher.match, cached for questions of up to CACHE_CHARS characters."""
        return self._match_cached(text) if len(text) <= CACHE_CHARS else self.matcher.match(text)

    def _start(self) -> None:
        """Threads, sockets and the store connection of this process, made on first use."""
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid == os.getpid():
                return
            settings = self._settings
            self._sender = Sender(
                settings.access_token,
                settings.api_base_url,
                settings.connect_timeout,
                settings.read_timeout,
                pool_size=settings.reply_threads,
                budget=settings.reply_budget,
            )
            # The schema was made at start-up (create_app); were the database down then, the first write makes it.
            config = settings.question_log
            self._log = open_log(config, settings.channel_secret, migrate=False) if config.enabled else None
            store = Store(settings.dedupe_path)
            diagnoser = diagnose.Diagnoser(self.kb, self.diagnose_data, self._diagnose_options)
            handler = ReplyHandler(
                self.kb, store, self._sender, self.match, self.render, self._menu_names, self._log, diagnoser
            )
            self._pool = WorkerPool(settings.reply_threads, settings.reply_queue)
            self._intake = Intake(
                settings.channel_secret,
                lambda raw: self._pool.submit(functools.partial(handler.handle, raw, time.monotonic())),
            )
            self._pid = os.getpid()

    @property
    def pending(self) -> int:
        """Replies accepted and not yet finished in this process."""
        return self._pool.pending if self._pid == os.getpid() else 0

    def accept(self, body: str, signature: str | None) -> Accepted:
        """Verify and queue a webhook body (intake.Rejected when refused); replies wait meanwhile."""
        self._start()
        with self._pool.foreground():
            return self._intake.accept(body, signature)

    def shutdown(self, timeout: float) -> None:
        """Finish queued replies within `timeout` seconds, then release connections."""
        if self._pid == os.getpid() and self._pool.shutdown(timeout):
            self._sender.close()
            if self._log is not None:
                self._log.close()
