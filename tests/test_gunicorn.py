"""The real web process, started as the Procfile starts it, on a free loopback port."""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    DATA,
    LOG_SINK,
    REPLY_PATH,
    SECRET,
    TOKEN,
    body_of,
    replies,
    sign,
    text_event,
    wait_for,
)
from pytest_httpserver import HTTPServer
from werkzeug import Response

ROOT = Path(__file__).resolve().parent.parent


def procfile_command() -> list[str]:
    """The `web:` command of the Procfile, with gunicorn taken from this Python's environment."""
    line = next(ln for ln in (ROOT / "Procfile").read_text().splitlines() if ln.startswith("web:"))
    argv = shlex.split(line.removeprefix("web:"))
    assert argv[0] == "gunicorn"
    return [str(Path(sys.executable).parent / "gunicorn"), *argv[1:]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Web:
    """A running `gunicorn wsgi:app` and its output."""

    def __init__(self, env: dict[str, str]) -> None:
        self.port = int(env["PORT"])
        self.output: list[str] = []
        self.proc = subprocess.Popen(
            procfile_command(), cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line.rstrip("\n"))

    @property
    def text(self) -> str:
        return "\n".join(self.output)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(self.url("/healthz"), timeout=2) as response:
                return response.status == 200
        except (OSError, urllib.error.URLError):
            return False

    def post(self, body: str, headers: dict[str, str] | None = None) -> int:
        all_headers = {"Content-Type": "application/json", "X-Line-Signature": sign(body)}
        all_headers.update(headers or {})
        request = urllib.request.Request(self.url("/callback"), data=body.encode(), headers=all_headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(timeout=5)
        LOG_SINK.extend(self.output)
        return self.proc.returncode


def web_env(api_url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LINE_", "WEB_CONCURRENCY"))}
    env.update(
        PORT=str(free_port()),
        LINE_CHANNEL_SECRET=SECRET,
        LINE_CHANNEL_ACCESS_TOKEN=TOKEN,
        LINE_API_BASE_URL=api_url.rstrip("/"),
        DEDUPE_DB=str(tmp_path / "seen.sqlite3"),
        QUESTION_LOG_DB=str(tmp_path / "questions.sqlite3"),
        WEB_CONCURRENCY="2",
        LINE_READ_TIMEOUT="5",
        GRACEFUL_TIMEOUT="15",
    )
    env.update(extra)
    return env


@pytest.fixture
def web(line_api: HTTPServer, tmp_path: Path) -> Iterator[Web]:
    server = Web(web_env(line_api.url_for("/"), tmp_path))
    try:
        assert wait_for(server.ready, timeout=60), server.text
        yield server
    finally:
        server.stop()


def test_signed_webhook_through_gunicorn(web: Web, line_api: HTTPServer) -> None:
    event = text_event("原因: could_not_connect / 詳細: Unknown host")
    assert web.post(body_of([event])) == 200
    assert wait_for(lambda: len(replies(line_api)) == 1)
    sent = replies(line_api)[0]
    assert sent["replyToken"] == event["replyToken"]
    assert sent["messages"][0]["altText"].startswith("詳細: Unknown host")
    request, _ = line_api.log[0]
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"


def _pids_that_took(web: Web, count_before: int, event_id: str) -> set[str]:
    """Processes that replied to the event or logged skipping it as a duplicate."""
    lines = web.output[count_before:]
    return {ln.split("[", 1)[1].split("]", 1)[0] for ln in lines if f"webhookEventId={event_id}" in ln}


def test_two_workers_same_redelivered_event_replied_once(web: Web, line_api: HTTPServer) -> None:
    """LINE may deliver an event and its redelivery to different worker processes."""
    both_seen = False
    for _ in range(8):
        event = text_event("unknown host")
        redelivered = dict(event, deliveryContext={"isRedelivery": True})
        bodies = [body_of([event])] + [body_of([redelivered])] * 15
        before = len(web.output)
        statuses: list[int] = []
        threads = [threading.Thread(target=lambda b=b: statuses.append(web.post(b))) for b in bodies]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert statuses == [200] * len(bodies)
        token = event["replyToken"]
        assert wait_for(lambda t=token: any(r["replyToken"] == t for r in replies(line_api)))
        time.sleep(0.5)  # room for a wrong second reply
        assert [r["replyToken"] for r in replies(line_api)].count(token) == 1
        event_id = event["webhookEventId"]
        wait_for(lambda b=before, e=event_id: len(_pids_that_took(web, b, e)) >= 2, timeout=2)
        if len(_pids_that_took(web, before, event_id)) >= 2:
            both_seen = True
            break
    assert both_seen, "the copies never reached both worker processes"


def test_sigterm_finishes_accepted_replies(line_api: HTTPServer, tmp_path: Path) -> None:
    line_api.clear_all_handlers()
    line_api.expect_request(REPLY_PATH, method="POST").respond_with_handler(
        lambda r: (
            time.sleep(2.0),
            Response(
                '{"sentMessages":[{"id":"1","quoteToken":"q"}]}', status=200, headers={"x-line-request-id": "slow"}
            ),
        )[1]
    )
    web = Web(web_env(line_api.url_for("/"), tmp_path))
    try:
        assert wait_for(web.ready, timeout=60), web.text
        events = [text_event(f"unknown host {i}") for i in range(12)]
        for event in events:
            assert web.post(body_of([event])) == 200
        started = time.monotonic()
        web.proc.send_signal(signal.SIGTERM)
        web.proc.wait(timeout=40)
        took = time.monotonic() - started
    finally:
        web.stop()
    tokens = sorted(r["replyToken"] for r in replies(line_api))
    assert tokens == sorted(e["replyToken"] for e in events), web.text
    assert took < 15 + 5, took  # within gunicorn's graceful timeout (15 s here), nothing hangs


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"LINE_CHANNEL_ACCESS_TOKEN": ""}, "missing environment variable(s): LINE_CHANNEL_ACCESS_TOKEN"),
        ({"KNOWLEDGE_DIR": str(DATA / "broken" / "missing_field")}, "entry area.no_summary: field ja.summary"),
    ],
)
def test_bad_start_exits_nonzero_without_binding(tmp_path: Path, change: dict[str, str], message: str) -> None:
    env = web_env("http://127.0.0.1:9", tmp_path, **change)
    web = Web(env)
    bound = False
    deadline = time.monotonic() + 60
    while web.proc.poll() is None and time.monotonic() < deadline:
        bound = bound or _port_open(web.port)
        time.sleep(0.05)
    code = web.stop()
    assert code not in (0, None), web.text
    assert message in web.text
    assert "Listening at" not in web.text and not bound


def test_huge_header_is_refused_by_the_server_not_500(web: Web) -> None:
    status = web.post(body_of([]), {"X-Line-Signature": "A" * 20_000})
    assert status in (400, 413, 431)
    status = web.post(body_of([]), {"X-Padding": "B" * 20_000})
    assert status in (400, 413, 431)
    assert web.ready()


def test_sigterm_when_idle_exits_cleanly(line_api: HTTPServer, tmp_path: Any) -> None:
    """A platform restart (SIGTERM) of an idle process ends with status 0."""
    web = Web(web_env(line_api.url_for("/"), tmp_path))
    try:
        assert wait_for(web.ready, timeout=60), web.text
    finally:
        assert web.stop() == 0, web.text
