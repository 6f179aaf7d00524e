"""Settings from the environment (Heroku config vars, or a local .env read by `make run`)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from bot.questionlog import LogConfig

REQUIRED = ("LINE_CHANNEL_SECRET", "LINE_CHANNEL_ACCESS_TOKEN")


class ConfigError(Exception):
    """A required setting is missing or a value is malformed."""


def _number(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low:g} and {high:g}, got {raw}")
    return value


def base_url(env: Mapping[str, str], name: str, default: str) -> str:
    """An http(s) URL with a host (unset or empty: `default`), without its trailing slash.

    "https://", a port that is no number or a space started the server, and every reply then failed
    after 30 s of retries (urllib3's LocationParseError)."""
    url = env.get(name, "").strip() or default
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 - reading it checks it
    except ValueError:
        parts = parts._replace(netloc="")
    if parts.scheme not in ("https", "http") or not parts.hostname or any(c.isspace() for c in url):
        raise ConfigError(f"{name} must be an http(s) URL with a host (and a numeric port, if any), got {url!r}")
    return url.rstrip("/")


def whole_number(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    """A count from the environment (workers, threads, seconds): unset or empty is `default`."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not raw.isascii():
        raise ConfigError(f"{name} must be a whole number from {low} to {high}, got {raw!r}")
    if not low <= int(raw) <= high:
        raise ConfigError(f"{name} must be a whole number from {low} to {high}, got {raw}")
    return int(raw)


@dataclass(frozen=True)
class Settings:
    """Everything the web process reads from its environment."""

    channel_secret: str
    access_token: str
    api_base_url: str = "https://api.line.me"
    knowledge_dir: Path | None = None
    reply_threads: int = 64  # replies in flight per process; each mostly waits on the LINE API
    reply_queue: int = 2000
    connect_timeout: float = 3.0
    read_timeout: float = 10.0
    reply_budget: float = 30.0  # seconds after a webhook arrived during which its reply is retried
    dedupe_path: str = ""  # SQLite file shared by the worker processes; "" = temp dir default
    max_body_bytes: int = 1024 * 1024
    redis_url: str = ""  # REDIS_URL: shared state for several dynos; "" = the SQLite file alone
    redis_timeout: float = 0.25  # seconds per Redis call before falling back (Redis answers in ~1 ms)
    redis_connections: int = 10  # Redis connections per worker process
    dead_after: float = 5.0  # JOURNAL_DEAD_AFTER: a process silent this long is dead (its events taken over)
    scan_seconds: float = 2.0  # JOURNAL_SCAN_SECONDS: how often to look for dead processes' events
    question_log: LogConfig = field(default_factory=LogConfig)  # QUESTION_LOG*, DATABASE_URL

    def __repr__(self) -> str:  # never print the secret or the token
        return f"Settings(api_base_url={self.api_base_url!r}, reply_threads={self.reply_threads})"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read settings; raise ConfigError naming every missing required variable."""
        env = os.environ if env is None else env
        missing = [name for name in REQUIRED if not env.get(name, "").strip()]
        if missing:
            raise ConfigError(f"missing environment variable(s): {', '.join(missing)}")
        base = base_url(env, "LINE_API_BASE_URL", cls.api_base_url)
        knowledge = env.get("KNOWLEDGE_DIR", "").strip()
        return cls(
            channel_secret=env["LINE_CHANNEL_SECRET"].strip(),
            access_token=env["LINE_CHANNEL_ACCESS_TOKEN"].strip(),
            api_base_url=base,
            knowledge_dir=Path(knowledge) if knowledge else None,
            reply_threads=whole_number(env, "REPLY_THREADS", cls.reply_threads, 1, 512),
            reply_queue=whole_number(env, "REPLY_QUEUE", cls.reply_queue, 1, 100_000),
            connect_timeout=_number(env, "LINE_CONNECT_TIMEOUT", cls.connect_timeout, 0.1, 60),
            read_timeout=_number(env, "LINE_READ_TIMEOUT", cls.read_timeout, 0.1, 120),
            reply_budget=_number(env, "REPLY_BUDGET", cls.reply_budget, 1, 50),
            redis_url=_redis_url(env),
            redis_timeout=_number(env, "REDIS_TIMEOUT", cls.redis_timeout, 0.01, 10),
            redis_connections=whole_number(env, "REDIS_MAX_CONNECTIONS", cls.redis_connections, 1, 1000),
            # Beats come every second: a shorter silence would take a busy live process for dead.
            dead_after=_number(env, "JOURNAL_DEAD_AFTER", cls.dead_after, 2, 50),
            scan_seconds=_number(env, "JOURNAL_SCAN_SECONDS", cls.scan_seconds, 0.1, 30),
            dedupe_path=env.get("DEDUPE_DB", "").strip()
            or str(Path(tempfile.gettempdir()) / "line-error-bot-events.sqlite3"),
            question_log=_log_config(env),
        )


def _redis_url(env: Mapping[str, str]) -> str:
    """REDIS_URL as redis-py reads it, checked now: a malformed one failed in every worker after the port was bound."""
    url = env.get("REDIS_URL", "").strip()
    if url:
        from redis.connection import parse_url  # only with REDIS_URL set: the store imports it in the master anyway

        try:
            parse_url(url)
        except ValueError as exc:  # its messages name the part, never the password
            raise ConfigError(f"REDIS_URL cannot be read as a Redis URL: {exc}") from None
    return url


def _log_config(env: Mapping[str, str]) -> LogConfig:
    try:
        return LogConfig.from_env(env)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
