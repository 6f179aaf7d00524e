"""Shared fixtures: the knowledge base, a fake LINE API on 127.0.0.1, and signed webhook helpers."""

from __future__ import annotations

import base64
import contextlib
import copy
import hashlib
import hmac
import itertools
import json
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from pgserver import pg_cluster, pg_url  # noqa: F401 - fixtures for the PostgreSQL tests
from pytest_httpserver import HTTPServer
from redisserver import redis_server  # noqa: F401 - a fixture for every test module

from bot import diagnose_data, knowledge
from bot.app import create_app
from bot.config import Settings
from bot.matcher import Matcher
from bot.questionlog import LogConfig
from scripts.fake_line import FakeLine

DATA = Path(__file__).parent / "data"
# The slowest modules and roughly how many seconds each takes (--durations): real servers, Chromium, the
# hypothesis runs. Under pytest-xdist they open the workers' queues (pytest_collection_modifyitems below).
# Modules that share a worker's server (the PostgreSQL cluster) count as one.
SLOW_MODULES = {
    ("test_store_journal.py",): 11.0,
    ("test_bad_input.py",): 9.0,
    ("test_store_dynos.py",): 6.0,
    ("test_gunicorn.py",): 4.0,
    ("test_matcher.py",): 4.0,
    ("test_learning.py", "test_questionlog.py"): 4.0,
    ("test_report.py",): 2.0,
}
SECRET = "test-channel-secret-0123456789"
TOKEN = "test-access-token-abcdefghijklmnop"
REPLY_PATH = "/v2/bot/message/reply"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under `-n N` (make test), each worker's share starts with slow modules, longest first to the least
    loaded worker. worksteal hands worker k the next len(left) // (N - k) tests of this list, and an idle
    worker steals the end of another's queue: with the slow tests last (file order), the run ended on one
    worker waiting on its servers while the other had nothing left to take."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0"))  # set in each xdist worker
    if workers < 2:
        return
    shares: list[list[pytest.Item]] = [[] for _ in range(workers)]
    seconds = [0.0] * workers
    for names in sorted(SLOW_MODULES, key=SLOW_MODULES.__getitem__, reverse=True):
        unit = [item for item in items if item.path.name in names]
        if unit:  # whole modules on one worker: their shared servers start once
            k = seconds.index(min(seconds))
            shares[k] += unit
            seconds[k] += SLOW_MODULES[names]
    slow = {id(item) for share in shares for item in share}
    quick = iter([item for item in items if id(item) not in slow])
    ordered: list[pytest.Item] = []
    left = len(items)
    for k, share in enumerate(shares):
        size = left // (workers - k)
        left -= size
        ordered += share + list(itertools.islice(quick, max(0, size - len(share))))
    items[:] = ordered + list(quick)


@pytest.fixture(scope="session")
def kb() -> knowledge.KnowledgeBase:
    return knowledge.load()


@pytest.fixture(scope="session")
def data() -> diagnose_data.DiagnoseData:
    """knowledge/diagnose.yaml, loaded once (the diagnosis tests' triggers, limits and texts)."""
    return diagnose_data.load()


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    """A throw-away certificate authority for the diagnosis tests' local TLS servers."""
    return trustme.CA()


_MATCHERS: dict[int, Matcher] = {}


def matcher_for(kb: knowledge.KnowledgeBase) -> Matcher:
    """One Matcher per loaded knowledge base for the whole run (its index is most of an app's cost)."""
    built = _MATCHERS.get(id(kb))
    if built is None or built.kb is not kb:
        built = _MATCHERS[id(kb)] = Matcher(kb)
    return built


@pytest.fixture(scope="session")
def matcher(kb: knowledge.KnowledgeBase) -> Matcher:
    return matcher_for(kb)


def sign(body: str | bytes, secret: str = SECRET) -> str:
    """X-Line-Signature for a body, as LINE computes it."""
    raw = body.encode() if isinstance(body, str) else body
    return base64.b64encode(hmac.new(secret.encode(), raw, hashlib.sha256).digest()).decode()


_counter = iter(range(1, 10**9))


def text_event(text: str, **overrides: Any) -> dict[str, Any]:
    """A 1:1 text message event with a fresh webhookEventId and reply token."""
    n = next(_counter)
    event = {
        "type": "message",
        "mode": "active",
        "timestamp": 1700000000000,
        "source": {"type": "user", "userId": "U0123456789abcdef0123456789abcdef"},
        "webhookEventId": f"01TESTEVENT{n:015d}",
        "deliveryContext": {"isRedelivery": False},
        "replyToken": f"reply-token-{n}",
        "message": {"id": str(n), "type": "text", "text": text, "quoteToken": "q"},
    }
    event.update(overrides)
    return event


def sample_events() -> list[dict[str, Any]]:
    """LINE's own sample events (line-bot-sdk's test data), each with its own webhookEventId."""
    events = json.loads((DATA / "line-sdk-webhook-events.json").read_text())["events"]
    out = []
    for i, event in enumerate(events):
        event = copy.deepcopy(event)
        event["webhookEventId"] = f"01SAMPLE{i:018d}"
        out.append(event)
    return out


def body_of(events: list[dict[str, Any]]) -> str:
    return json.dumps({"destination": "Udeadbeefdeadbeefdeadbeefdeadbeef", "events": events})


def wait_for(predicate: Any, timeout: float = 15.0) -> bool:
    """Poll until predicate() is true; False after `timeout` (a bound for slow machines, not a target)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return bool(predicate())


def replies(server: HTTPServer) -> list[dict[str, Any]]:
    """JSON bodies the fake LINE API received on the reply endpoint."""
    return [json.loads(req.get_data()) for req, _ in server.log if req.path == REPLY_PATH]


class LocalServer(HTTPServer):
    """pytest-httpserver's server on 127.0.0.1, whose stop() returns at once: its serve loop looks for
    the stop request every 20 ms instead of socketserver's default 0.5 s (half a second per test)."""

    def __init__(self) -> None:
        super().__init__(host="127.0.0.1", threaded=True)

    def thread_target(self) -> None:
        assert self.server is not None
        self.server.serve_forever(poll_interval=0.02)


def fake_line_api() -> LocalServer:
    """A started fake LINE Messaging API on 127.0.0.1 answering replies with 200 and a request id."""
    server = LocalServer()
    server.start()
    server.expect_request(REPLY_PATH, method="POST").respond_with_json(
        {"sentMessages": [{"id": "1", "quoteToken": "q"}]}, headers={"x-line-request-id": "req-ok"}
    )
    return server


@pytest.fixture(scope="module")
def module_line_api() -> Iterator[HTTPServer]:
    """conftest's fake LINE Messaging API, shared by a module's tests (each installs its own answers)."""
    server = fake_line_api()
    yield server
    server.stop()


@pytest.fixture
def line_api() -> Iterator[HTTPServer]:
    """conftest's fake LINE Messaging API, for one test."""
    server = fake_line_api()
    yield server
    server.clear()
    if server.is_running():
        server.stop()


def settings_for(server_url: str, tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "channel_secret": SECRET,
        "access_token": TOKEN,
        "api_base_url": server_url.rstrip("/"),
        "reply_threads": 4,
        "reply_queue": 1000,
        "reply_budget": 5.0,
        "connect_timeout": 1.0,
        "read_timeout": 1.0,
        "dedupe_path": str(tmp_path / "seen.sqlite3"),
        "question_log": LogConfig(sqlite_path=str(tmp_path / "questions.sqlite3")),
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def app(line_api: HTTPServer, tmp_path: Path, kb: knowledge.KnowledgeBase) -> Iterator[Any]:
    application = create_app(settings_for(line_api.url_for("/"), tmp_path), kb, matcher_for(kb))
    yield application
    application.extensions["line_error_bot"].shutdown(5.0)


@pytest.fixture
def serial_client(line_api: HTTPServer, tmp_path: Path, kb: knowledge.KnowledgeBase) -> Iterator[Any]:
    """A client of an app with one reply thread: events are handled in the order they came, so a
    later event's reply is the signal that an earlier, quiet one was processed."""
    with app_for(line_api.url_for("/"), tmp_path, kb, reply_threads=1) as application:
        yield application.test_client()


@contextlib.contextmanager
def app_for(url: str, tmp_path: Path, kb: knowledge.KnowledgeBase, **overrides: Any) -> Iterator[Any]:
    """An app with its own settings (the loaded knowledge base shared), its replies drained on exit."""
    application = create_app(settings_for(url, tmp_path, **overrides), kb, matcher_for(kb))
    try:
        yield application
    finally:
        application.extensions["line_error_bot"].shutdown(10.0)


@pytest.fixture
def fake_line() -> Iterator[FakeLine]:
    """The scripted fake LINE API (scripts/fake_line.py): a reply token is accepted once; faults on demand."""
    with FakeLine() as fake:
        yield fake


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


def post(client: Any, events: list[dict[str, Any]] | None = None, body: str | None = None, **headers: str) -> Any:
    """POST a signed webhook body (events, or a raw body) to /callback."""
    body = body if body is not None else body_of(events or [])
    all_headers = {"Content-Type": "application/json; charset=utf-8", "X-Line-Signature": sign(body)}
    all_headers.update(headers)
    return client.post("/callback", data=body.encode(), headers=all_headers)


# -- no secret in any log ---------------------------------------------------------------------

LOG_SINK: list[str] = []  # every log line of the run, gunicorn's output included (test_gunicorn.py)


class _Sink(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        LOG_SINK.append(self.format(record))


@pytest.fixture(scope="session", autouse=True)
def no_secrets_in_logs() -> Iterator[None]:
    """Collect every log record of the whole run; fail the run if the secret or token shows up."""
    handler = _Sink(level=logging.DEBUG)
    # The level create_app gives the bot's logger, set from the start: a test that calls
    # caplog.set_level(..., logger="bot") before this worker's first app would otherwise restore NOTSET
    # afterwards, and the bot's INFO lines would be lost for every later test in the worker.
    logging.getLogger("bot").setLevel(logging.INFO)
    targets = [logging.getLogger(), logging.getLogger("bot")]
    for logger in targets:
        logger.addHandler(handler)
    yield
    for logger in targets:
        logger.removeHandler(handler)
    leaked = [line for line in LOG_SINK if SECRET in line or TOKEN in line]
    assert not leaked, leaked[:3]


STOPPING: list[Any] = []  # servers sent SIGTERM that no test waits for (test_gunicorn.Web.stop_later)


@pytest.fixture(scope="session", autouse=True)
def stopping_servers(no_secrets_in_logs: None) -> Iterator[None]:
    """At the end of the run, wait for the servers left stopping: their output joins LOG_SINK before the
    secret check (this fixture's teardown runs first, as it uses no_secrets_in_logs)."""
    yield
    for server in STOPPING:
        server.stop()
