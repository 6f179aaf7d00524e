"""The real web process, started as the Procfile starts it, on a free loopback port."""

from __future__ import annotations

import http.client
import json
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
    SECRET,
    STOPPING,
    TOKEN,
    body_of,
    sign,
    text_event,
    wait_for,
)
from ports import free_port

from scripts.fake_line import FakeLine, Faults

ROOT = Path(__file__).resolve().parent.parent


def procfile_command() -> list[str]:
    """The `web:` command of the Procfile, with gunicorn taken from this Python's environment."""
    line = next(ln for ln in (ROOT / "Procfile").read_text().splitlines() if ln.startswith("web:"))
    argv = shlex.split(line.removeprefix("web:"))
    assert argv[0] == "gunicorn"
    return [str(Path(sys.executable).parent / "gunicorn"), *argv[1:]]


class Web:
    """A running `gunicorn wsgi:app` and its output."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.port = int(env["PORT"])
        self.workers = int(env["WEB_CONCURRENCY"])
        self.output: list[str] = []
        self._terminated = False
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
        """This process listens (its own log says so: not another server on the port) and answers."""
        if not any(f"Listening at: http://0.0.0.0:{self.port} " in line for line in self.output):
            return False
        try:
            with urllib.request.urlopen(self.url("/healthz"), timeout=2) as response:
                return response.status == 200
        except (OSError, urllib.error.URLError):
            return False

    def all_up(self) -> bool:
        """Every worker booted (a signal sent before would wait on a half-started one) and answering."""
        booted = sum("Booting worker" in line for line in self.output)
        return booted >= self.workers and self.ready()

    def post(self, body: str, headers: dict[str, str] | None = None) -> int:
        all_headers = {"Content-Type": "application/json", "X-Line-Signature": sign(body)}
        all_headers.update(headers or {})
        request = urllib.request.Request(self.url("/callback"), data=body.encode(), headers=all_headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code

    @property
    def running(self) -> bool:
        """Started, and not yet sent SIGTERM or gone."""
        return self.proc.poll() is None and not self._terminated

    def terminate(self) -> None:
        """SIGTERM (a platform restart), without waiting: stop several servers at once, then stop() each."""
        if self.proc.poll() is None and not self._terminated:
            self._terminated = True
            self.proc.send_signal(signal.SIGTERM)

    def stop_later(self) -> None:
        """SIGTERM now; the exit is waited for at the end of the run (conftest.stopping_servers)."""
        self.terminate()
        STOPPING.append(self)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.terminate()
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


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeLine]:
    with FakeLine() as api:
        yield api


@pytest.fixture(scope="module")
def servers() -> Iterator[list[Web]]:
    """The module's shared servers, one running at a time (a test that stops it leaves the next one a new one)."""
    started: list[Web] = []
    yield started
    for server in started:
        if server.running:
            # Last, a platform restart (SIGTERM) of this idle process: it ends with status 0.
            assert server.stop() == 0, server.text


@pytest.fixture
def web(servers: list[Web], fake: FakeLine, tmp_path_factory: Any) -> Web:
    """The shared server, for tests that send it events (each with fresh ids and reply tokens)."""
    if not servers or not servers[-1].running:
        # A read timeout longer than the SIGTERM test's hold: a held reply must not give up and retry.
        servers.append(Web(web_env(fake.url, tmp_path_factory.mktemp("web"), LINE_READ_TIMEOUT="60")))
        assert wait_for(servers[-1].all_up, timeout=60), servers[-1].text
    return servers[-1]


def _sent(fake: FakeLine, token: str) -> list[tuple[dict[str, str], dict[str, Any]]]:
    """Headers and JSON body of each reply call the fake got for `token`."""
    with fake.lock:
        calls = [(h, json.loads(b)) for h, b in fake.requests]
    return [(h, b) for h, b in calls if b.get("replyToken") == token]


def test_signed_webhook_through_gunicorn(web: Web, fake: FakeLine) -> None:
    event = text_event("原因: could_not_connect / 詳細: Unknown host")
    assert web.post(body_of([event])) == 200
    assert fake.wait(lambda f: event["replyToken"] in f.accepted)
    ((headers, sent),) = _sent(fake, event["replyToken"])
    assert sent["messages"][0]["altText"].startswith("詳細: Unknown host")
    assert headers["Authorization"] == f"Bearer {TOKEN}"


def test_webhook_answered_while_64_slow_clients_hold_half_a_header(web: Web, fake: FakeLine) -> None:
    """Connections that trickle a request (no signature needed) must not hold the door for LINE."""
    slow = []
    try:
        for _ in range(64):
            conn = socket.create_connection(("127.0.0.1", web.port), timeout=10)
            conn.sendall(b"POST /callback HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Line-Sig")
            slow.append(conn)
        for _ in range(4):  # more than one webhook: both worker processes have slow clients
            event = text_event("unknown host")
            assert web.post(body_of([event])) == 200  # urllib's own 10 s timeout bounds the wait
            assert fake.wait(lambda f, t=event["replyToken"]: t in f.accepted)
    finally:
        for conn in slow:
            conn.close()


def test_chunked_body_over_one_megabyte_is_413(web: Web) -> None:
    body = json.dumps({"events": [], "pad": "x" * (1024 * 1024)}).encode()
    conn = http.client.HTTPConnection("127.0.0.1", web.port, timeout=10)
    chunks = (body[i : i + 65536] for i in range(0, len(body), 65536))
    headers = {"Content-Type": "application/json", "X-Line-Signature": sign(body), "Transfer-Encoding": "chunked"}
    conn.request("POST", "/callback", body=chunks, headers=headers, encode_chunked=True)
    assert conn.getresponse().status == 413
    conn.close()


def _lines_for(web: Web, count_before: int, event_id: str) -> int:
    return sum(f"webhookEventId={event_id}" in ln for ln in web.output[count_before:])


def _pids_that_took(web: Web, count_before: int, event_id: str) -> set[str]:
    """Processes that replied to the event or logged skipping it as a duplicate."""
    lines = web.output[count_before:]
    return {ln.split(" pid=", 1)[1].split(" ", 1)[0] for ln in lines if f"webhookEventId={event_id}" in ln}


def test_two_workers_same_redelivered_event_replied_once(web: Web, fake: FakeLine) -> None:
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
        # Each of the 16 copies ends in a log line (replied, or skipped as a duplicate): wait for them all.
        event_id = event["webhookEventId"]
        assert wait_for(lambda b=before, e=event_id: _lines_for(web, b, e) >= 16), web.text[-2000:]
        assert len(fake.arrivals[token]) == 1  # one reply call: the fake would refuse a second one anyway
        if len(_pids_that_took(web, before, event_id)) >= 2:
            both_seen = True
            break
    assert both_seen, "the copies never reached both worker processes"


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"LINE_CHANNEL_ACCESS_TOKEN": ""}, "missing environment variable(s): LINE_CHANNEL_ACCESS_TOKEN"),
        ({"KNOWLEDGE_DIR": str(DATA / "broken" / "missing_field")}, "entry area.no_summary: field ja.summary"),
        # Bound the port, then every worker died on it ("Worker failed to boot"), password-bearing URL in the trace.
        ({"REDIS_URL": "redis://:pw@127.0.0.1:63790x/0"}, "REDIS_URL cannot be read as a Redis URL: Port could not"),
        # gunicorn.conf.py's own numbers: a traceback from int(), or (0 workers) a bound port with nobody behind it.
        ({"GRACEFUL_TIMEOUT": "20s"}, "GRACEFUL_TIMEOUT must be a whole number from 1 to 3600, got '20s'"),
        ({"WEB_CONCURRENCY": "0"}, "WEB_CONCURRENCY must be a whole number from 1 to 64, got 0"),
        # Started with no question log and a warning quoting the URL, password included.
        ({"DATABASE_URL": "postgres://bot:hunter2pw@[::1/q"}, "DATABASE_URL cannot be read: end of string reached"),
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
    assert message in web.text and "hunter2pw" not in web.text
    assert "Listening at" not in web.text and not bound


def test_huge_header_is_refused_by_the_server_not_500(web: Web) -> None:  # runs on the shared server
    status = web.post(body_of([]), {"X-Line-Signature": "A" * 20_000})
    assert status in (400, 413, 431)
    status = web.post(body_of([]), {"X-Padding": "B" * 20_000})
    assert status in (400, 413, 431)
    assert web.ready()


def test_sigterm_finishes_accepted_replies(web: Web, fake: FakeLine) -> None:
    """Last in this file: it stops the shared server (with work in hand), so the others find it running."""
    # The API holds every answer until both workers have stopped serving (gunicorn logs "Worker exiting"
    # before it runs worker_exit, the drain): the 12 replies are in flight through the whole shutdown.
    release = threading.Event()
    fake.faults = Faults(hold=release)
    events = [text_event(f"unknown host {i}") for i in range(12)]
    try:
        for event in events:
            assert web.post(body_of([event])) == 200
        assert fake.wait(lambda f: all(e["replyToken"] in f.accepted for e in events)), web.text
        signalled = len(web.output)
        web.terminate()
        assert wait_for(lambda: sum("Worker exiting" in ln for ln in web.output[signalled:]) >= web.workers), web.text
        release.set()
        code = web.proc.wait(timeout=40)  # a bound (gunicorn's graceful timeout is 15 s here)
    finally:
        release.set()
        fake.faults = Faults()
        web.stop()
    assert code == 0, web.text
    assert all(fake.accepted[e["replyToken"]] == 1 for e in events)
    # Each reply got its answer before its worker went away: the sender logs it after the API's 200.
    replied = {ln.split("webhookEventId=", 1)[1].split()[0] for ln in web.output if "msg=replied status=200" in ln}
    assert {e["webhookEventId"] for e in events} <= replied, web.text
    assert not [ln for ln in web.output if "left journaled" in ln], web.text
