"""Application factory: settings from the environment, knowledge loaded once, routes registered."""

from __future__ import annotations

import atexit
import logging
import sys
from typing import TYPE_CHECKING

from flask import Flask

from bot import knowledge, limits, logfmt, richmenu
from bot.config import ConfigError, Settings
from bot.questionlog import LogUnavailable, open_log

if TYPE_CHECKING:
    from bot.matcher import Matcher


def _configure_logging() -> None:
    logger = logging.getLogger("bot")
    if not any(h.get_name() == "line-error-bot" for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.set_name("line-error-bot")
        handler.setFormatter(logfmt.Formatter())
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def create_app_or_exit() -> Flask:
    """create_app() for a server: invalid settings or knowledge print one clear message and exit 3.

    Settings and knowledge are checked before create_app imports the rest (the SDK alone is over a
    second): a start that cannot succeed says why at once."""
    _configure_logging()  # as create_app does first: whatever the checks log goes out as logfmt too
    try:
        settings = Settings.from_env()
        return create_app(settings, limits.checked(knowledge.load(settings.knowledge_dir)))
    except (ConfigError, knowledge.KnowledgeError) as exc:
        print(f"line-error-bot cannot start:\n{exc}", file=sys.stderr, flush=True)
        raise SystemExit(3) from None


def _prepare_question_log(settings: Settings) -> None:
    """Create or upgrade the question log's schema and drop expired texts before serving.

    A database that is down only warns: replies do not need it, and the first write retries."""
    if not settings.question_log.enabled:
        return
    try:
        question_log = open_log(settings.question_log, settings.channel_secret)
    except LogUnavailable as exc:
        logging.getLogger("bot").warning("%s; replies go on, and the log retries on its first write", exc)
        return
    try:
        question_log.prune()
    except Exception as exc:  # noqa: BLE001 - sqlite3 or psycopg: the next clean-up will do
        logging.getLogger("bot").warning("question log clean-up failed (%s); it runs again later", type(exc).__name__)
    finally:
        question_log.close()


def create_app(
    settings: Settings | None = None, kb: knowledge.KnowledgeBase | None = None, matcher: Matcher | None = None
) -> Flask:
    """Build the web app; raises ConfigError or KnowledgeError instead of starting half-ready.

    `kb` is an already loaded and checked knowledge base and `matcher` a Matcher built for it (tests
    that build many apps pass both: building the matcher's index is most of an app's cost)."""
    # The web edge (the SDK, Sudachi, Flask's routes) is imported here, after create_app_or_exit has
    # checked settings and knowledge; still in gunicorn's master, before it forks (preload).
    from bot.service import Service
    from bot.webhook import bp

    _configure_logging()
    settings = settings or Settings.from_env()
    kb = kb or limits.checked(knowledge.load(settings.knowledge_dir))
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    _prepare_question_log(settings)
    menus = richmenu.load_if_present(settings.knowledge_dir, kb)  # names only: the images are LINE's now
    service = Service(settings, kb, menus.names() if menus else None, matcher)
    app.extensions["line_error_bot"] = service
    app.register_blueprint(bp)
    # gunicorn's worker_exit hook drains the pool first (gunicorn.conf.py); this covers other servers.
    atexit.register(service.shutdown, 5.0)
    logging.getLogger("bot").info(
        "ready: %d entries, knowledge %s, %d reply threads", len(kb), kb.version, settings.reply_threads
    )
    return app
