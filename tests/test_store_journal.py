"""Accepted means journaled: a worker killed mid-burst loses no event whose reply token is young, and what a
stopping server cannot send is answered by the next process on the same files. Both tests share one gunicorn
(starting it is most of their cost)."""

from __future__ import annotations

import logging
import os
import re
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPLY_PATH, app_for, body_of, replies, text_event, wait_for
from pytest_httpserver import HTTPServer
from test_gunicorn import Web, web_env
from werkzeug import Request, Response

from bot.knowledge import KnowledgeBase

EVENTS = 80
THREADS = 2  # reply threads per worker
# A process silent 2 s (seen so twice, 0.5 s apart) is dead here, not after production's 5 s and 2 s scans.
FAST_TAKEOVER = {"JOURNAL_DEAD_AFTER": "2", "JOURNAL_SCAN_SECONDS": "0.5"}


def _slow_api(line_api: HTTPServer, delay: float) -> None:
    def answer(request: Request) -> Response:
        time.sleep(delay)
        return Response('{"sentMessages":[{"id":"1","quoteToken":"q"}]}', headers={"x-line-request-id": "k"})

    line_api.clear_all_handlers()
    line_api.expect_request(REPLY_PATH, method="POST").respond_with_handler(answer)


def _gated_api(line_api: HTTPServer, free: int, gate: threading.Event) -> None:
    """The first `free` reply calls are answered at once; the others wait until `gate` is set."""
    calls = iter(range(10**9))
    lock = threading.Lock()

    def answer(request: Request) -> Response:
        with lock:
            n = next(calls)
        if n >= free:
            gate.wait(30)  # a bound if the test fails before opening it, not a delay
        return Response('{"sentMessages":[{"id":"1","quoteToken":"q"}]}', headers={"x-line-request-id": "k"})

    line_api.clear_all_handlers()
    line_api.expect_request(REPLY_PATH, method="POST").respond_with_handler(answer)


def _replied_per_pid(lines: list[str]) -> Counter[str]:
    return Counter(m.group(1) for ln in lines if "msg=replied" in ln and (m := re.search(r" pid=(\d+) ", ln)))


def _webhooks_per_pid(lines: list[str]) -> Counter[str]:
    """Webhooks each worker process took, from gunicorn's access log (its format names the pid here)."""
    return Counter(m.group(1) for ln in lines if (m := re.match(r"webhook pid=<(\d+)> POST /callback ", ln)))


def _ended(lines: list[str], event_id: str) -> bool:
    """The event's reply ended (one of the lines that end a reply) in one of these log lines."""
    ends = ("msg=replied ", 'msg="reply failed"', 'msg="already delivered or expired"')
    return any(f"webhookEventId={event_id}" in ln and any(end in ln for end in ends) for ln in lines)


@pytest.fixture(scope="module")
def line_api(module_line_api: HTTPServer) -> HTTPServer:
    """conftest's fake LINE API, for the whole module."""
    return module_line_api


@pytest.fixture(scope="module")
def servers() -> Iterator[list[Web]]:
    """The module's gunicorn, shared (a test that stops it leaves the next one a new one)."""
    started: list[Web] = []
    yield started
    for server in started:
        server.stop()


@pytest.fixture
def web(servers: list[Web], line_api: HTTPServer, tmp_path_factory: pytest.TempPathFactory) -> Web:
    """The running shared server: 2 reply threads per worker; GRACEFUL_TIMEOUT 3 (each worker drains for
    1 s, gunicorn.conf.py keeps 2 s back, and leaves the rest journaled); a fast takeover."""
    if not servers or not servers[-1].running:
        env = web_env(
            line_api.url_for("/"),
            tmp_path_factory.mktemp("journal"),
            REPLY_THREADS=str(THREADS),
            GRACEFUL_TIMEOUT="3",
            GUNICORN_CMD_ARGS="--access-logformat 'webhook pid=%(p)s %(r)s %(s)s'",
            **FAST_TAKEOVER,
        )
        servers.append(Web(env))
        assert wait_for(servers[-1].all_up, timeout=60), servers[-1].text
    return servers[-1]


def test_sigkill_of_a_worker_mid_burst_loses_no_young_event(web: Web, line_api: HTTPServer) -> None:
    # The LINE API answers 4 replies, then holds every other one until the kill.
    gate = threading.Event()
    _gated_api(line_api, 4, gate)
    since = len(web.output)
    try:
        now_ms = int(time.time() * 1000)
        events = [text_event(f"unknown host {i}", timestamp=now_ms) for i in range(EVENTS)]
        work = iter(events)
        lock = threading.Lock()
        statuses: list[int] = []

        def send() -> None:
            while True:
                with lock:
                    event = next(work, None)
                if event is None:
                    return
                statuses.append(web.post(body_of([event])))

        senders = [threading.Thread(target=send) for _ in range(8)]
        for t in senders:
            t.start()
        for t in senders:
            t.join()
        assert statuses == [200] * EVENTS
        # Kill the worker that took the most webhooks (40 or more) once the 4 free replies are done: the
        # rest of its events are held by the API or still queued, its whole backlog unanswered. (Choosing
        # by replies could pick a worker gevent's accept had given no other event: nothing to take over.)
        assert wait_for(lambda: sum(_replied_per_pid(web.output[since:]).values()) >= 4), web.text
        assert wait_for(lambda: sum(_webhooks_per_pid(web.output[since:]).values()) >= EVENTS), web.text
        victim = _webhooks_per_pid(web.output[since:]).most_common(1)[0][0]
        os.kill(int(victim), signal.SIGKILL)
        gate.set()
        wanted = {e["replyToken"] for e in events}
        assert wait_for(lambda: wanted <= {r["replyToken"] for r in replies(line_api)}, timeout=45), (
            sorted(wanted - {r["replyToken"] for r in replies(line_api)}),
            web.text,
        )
        # The killed worker's held replies reached the fake API before the kill, so every token can be
        # there already; its journal entries were never marked done, so another worker must take them over.
        # Every event's reply then ends in a log line: the killed worker logged none for its backlog, so
        # this waits for the journal's resends too (a takeover moves a dead process's rows at once).
        assert wait_for(lambda: all(_ended(web.output[since:], e["webhookEventId"]) for e in events), timeout=45), (
            web.text
        )
    finally:
        gate.set()
    lines = web.output[since:]
    recovered = [ln for ln in lines if "journaled event recovered" in ln]
    assert recovered, web.text  # the killed worker's backlog was answered by the journal, not by luck
    assert not [ln for ln in lines if "journaled event expired" in ln]
    sent = Counter(r["replyToken"] for r in replies(line_api) if r["replyToken"] in wanted)
    # A reply in flight when the process died is sent again (LINE refuses a used token): at most one
    # per reply thread of the killed worker.
    assert sum(n - 1 for n in sent.values()) <= THREADS
    print(f"SIGKILL mid-burst: {EVENTS} events, 0 lost, {len(recovered)} recovered by the journal")


def test_sigterm_leaves_what_it_cannot_send_journaled_for_the_next_process(
    web: Web, line_api: HTTPServer, kb: KnowledgeBase, caplog: pytest.LogCaptureFixture
) -> None:
    """Last in this file: it stops the shared server (the other test finds it running)."""
    caplog.set_level(logging.INFO, logger="bot")
    _slow_api(line_api, 0.5)
    # The next process on the same files, running meanwhile: this test's own, an app on the server's
    # settings (a second gunicorn start proves nothing more here). It takes over only what the server
    # leaves when it stops; more reply threads only to send the backlog sooner.
    files = Path(web.env["DEDUPE_DB"]).parent
    takeover = {"dead_after": float(FAST_TAKEOVER["JOURNAL_DEAD_AFTER"]), "scan_seconds": 0.5, "read_timeout": 5.0}
    with app_for(line_api.url_for("/"), files, kb, reply_threads=12, **takeover) as second:
        second.extensions["line_error_bot"].start()
        events = [text_event(f"unknown host {i}", timestamp=int(time.time() * 1000)) for i in range(24)]
        for event in events:
            assert web.post(body_of([event])) == 200
        stopping = len(web.output)
        web.stop()
        left = [ln for ln in web.output[stopping:] if "left journaled for another process" in ln]
        assert left, web.text  # 2 threads x 2 workers x ~1 s of drain cannot send 24 half-second replies
        wanted = {e["replyToken"] for e in events}
        assert wait_for(lambda: wanted <= {r["replyToken"] for r in replies(line_api)}, timeout=45), (
            sorted(wanted - {r["replyToken"] for r in replies(line_api)}),
            web.text,
            caplog.text,
        )
    assert "unusable" not in web.text + caplog.text  # the server's workers and this app share the files
    assert [r for r in caplog.records if "journaled event recovered" in r.getMessage()], caplog.text
