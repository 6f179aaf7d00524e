"""One per process: the matcher and caches shared by every thread, and the per-process edges.

gunicorn loads the app once in the master (preload_app) and forks: nothing that holds a thread
or a connection may be made before the fork, so each worker makes its own pool, store, client and
journal worker when it starts (gunicorn.conf.py's post_worker_init) or on its first request."""

from __future__ import annotations

import functools
import logging
import os
import threading
import time

from bot import diagnose, diagnose_data, render
from bot.config import Settings
from bot.intake import Accepted, Intake
from bot.knowledge import KnowledgeBase
from bot.matcher import Matcher
from bot.questionlog import QuestionLog, open_log
from bot.recovery import Recovery
from bot.replies import ReplyHandler
from bot.sender import Sender
from bot.store import Store, open_store, prepare
from bot.types import Match
from bot.workers import WorkerPool

log = logging.getLogger(__name__)

CACHE_CHARS = 300


class Service:
    """Wires intake -> worker pool -> reply handler for this process."""

    def __init__(
        self,
        settings: Settings,
        kb: KnowledgeBase,
        menu_names: dict[str, str] | None = None,
        matcher: Matcher | None = None,
    ) -> None:
        self.kb = kb
        self._menu_names = menu_names or {}
        if matcher is not None and matcher.kb is not kb:
            raise ValueError("the matcher given was built for another knowledge base")
        self.matcher = matcher or Matcher(kb)  # a Matcher is pure: one built for `kb` may be shared
        # The same errors get pasted again and again: remember recent short questions and replies
        # (short only: 4,096 pastes of 5,000 characters would cost tens of MB).
        self._match_cached = functools.lru_cache(maxsize=4096)(self.matcher.match)
        self.render = functools.lru_cache(maxsize=512)(functools.partial(render.render, kb))
        self._settings = settings
        prepare(settings.redis_url)
        # Webhook URL checks: data validated now (start-up); the rate limits count in the shared store.
        self.diagnose_data = diagnose_data.load(settings.knowledge_dir)
        self._diagnose_options = diagnose.Options.from_env()
        self._lock = threading.Lock()
        self._pid = 0
        self._stopped = False
        self._log: QuestionLog | None = None

    def match(self, text: str) -> Match:
        """Matcher.match, cached for questions of up to CACHE_CHARS characters."""
        return self._match_cached(text) if len(text) <= CACHE_CHARS else self.matcher.match(text)

    def start(self) -> None:
        """Threads, sockets and the store connection of this process, made once per process."""
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
            store = open_store(
                settings.dedupe_path,
                settings.redis_url,
                redis_timeout=settings.redis_timeout,
                redis_connections=settings.redis_connections,
                dead_after=settings.dead_after,
            )
            diagnoser = diagnose.Diagnoser(self.kb, self.diagnose_data, self._diagnose_options, limiter=store)
            pool = self._pool = WorkerPool(settings.reply_threads, settings.reply_queue)
            handler = ReplyHandler(
                self.kb,
                store,
                self._sender,
                self.match,
                self.render,
                self._menu_names,
                self._log,
                diagnoser,
                wait_turn=pool.wait_turn,
            )
            self._intake = Intake(
                settings.channel_secret,
                lambda raw: pool.submit(functools.partial(handler.handle, raw, time.monotonic())),
                journal=store.put,
                forget=store.refuse,
            )
            self.store: Store = store
            self._stopped = False
            self._recovery = Recovery(
                store,
                lambda raw: pool.submit(functools.partial(handler.handle, raw, None, True)),
                scan_seconds=settings.scan_seconds,
            )
            self._pid = os.getpid()

    @property
    def pending(self) -> int:
        """Replies accepted and not yet finished in this process."""
        return self._pool.pending if self._pid == os.getpid() else 0

    @property
    def problem(self) -> str | None:
        """Why this process's store is degraded, if it is (for /healthz)."""
        self.start()
        return self.store.problem

    def accept(self, body: str, signature: str | None) -> Accepted:
        """Verify and queue a webhook body (intake.Rejected when refused); replies wait meanwhile."""
        self.start()
        with self._pool.foreground():
            return self._intake.accept(body, signature)

    def shutdown(self, timeout: float) -> None:
        """Finish queued replies within `timeout` seconds; what is left stays journaled for another process."""
        if self._pid != os.getpid() or self._stopped:
            return  # gunicorn's worker_exit and atexit both call this: the grace period is spent once
        self._stopped = True
        finished = self._pool.shutdown(timeout)
        self._recovery.stop()
        self.store.release()
        if finished:
            self._sender.close()
            if self._log is not None:
                self._log.close()
        else:
            log.warning("shutdown: %d event(s) left journaled for another process", self._pool.pending)
