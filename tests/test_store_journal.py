"""Accepted means journaled: a worker killed mid-burst loses no event whose reply token is young."""

from __future__ import annotations

import logging
import os
import re
import signal
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from conftest import REPLY_PATH, app_for, body_of, replies, text_event, wait_for
from pytest_httpserver import HTTPServer
from test_gunicorn import Web, web_env
from werkzeug import Request, Response

from bot.knowledge import KnowledgeBase

EVENTS = 80
THREADS = 8  # reply threads per worker in the SIGKILL test
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


def _replied_per_pid(web: Web) -> Counter[str]:
    return Counter(m.group(1) for ln in web.output if "msg=replied" in ln and (m := re.search(r" pid=(\d+) ", ln)))


def test_sigkill_of_a_worker_mid_burst_loses_no_young_event(line_api: HTTPServer, tmp_path: Path) -> None:
    # The LINE API answers 4 replies, then holds every other one until the kill: the worker killed
    # (one that has replied, so one that took events) has its whole backlog unanswered.
    gate = threading.Event()
    _gated_api(line_api, 4, gate)
    web = Web(web_env(line_api.url_for("/"), tmp_path, REPLY_THREADS=str(THREADS), **FAST_TAKEOVER))
    try:
        assert wait_for(web.ready, timeout=60), web.text
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
        # Kill the worker with replies under way (both usually are), before its backlog is done.
        assert wait_for(lambda: sum(_replied_per_pid(web).values()) >= 4), web.text
        victim = _replied_per_pid(web).most_common(1)[0][0]
        os.kill(int(victim), signal.SIGKILL)
        gate.set()
        wanted = {e["replyToken"] for e in events}
        assert wait_for(lambda: wanted <= {r["replyToken"] for r in replies(line_api)}, timeout=45), (
            sorted(wanted - {r["replyToken"] for r in replies(line_api)}),
            web.text,
        )
        # The killed worker's held replies reached the fake API before the kill, so every token can be
        # there already; its journal entries were never marked done, so another worker must take them over.
        assert wait_for(lambda: any("journaled event recovered" in ln for ln in web.output), timeout=30), web.text
    finally:
        gate.set()
        web.stop()
    recovered = [ln for ln in web.output if "journaled event recovered" in ln]
    assert recovered, web.text  # the killed worker's backlog was answered by the journal, not by luck
    assert not [ln for ln in web.output if "journaled event expired" in ln]
    sent = Counter(r["replyToken"] for r in replies(line_api))
    # A reply in flight when the process died is sent again (LINE refuses a used token): at most one
    # per reply thread of the killed worker.
    assert sum(n - 1 for n in sent.values()) <= THREADS
    print(f"SIGKILL mid-burst: {EVENTS} events, 0 lost, {len(recovered)} recovered by the journal")


def test_sigterm_leaves_what_it_cannot_send_journaled_for_the_next_process(
    line_api: HTTPServer, tmp_path: Path, kb: KnowledgeBase, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot")
    _slow_api(line_api, 0.5)
    # GRACEFUL_TIMEOUT 3: each worker drains for 1 s (gunicorn.conf.py keeps 2 s back) and leaves the rest.
    env = web_env(line_api.url_for("/"), tmp_path, REPLY_THREADS="2", GRACEFUL_TIMEOUT="3", **FAST_TAKEOVER)
    first = Web(env)
    # The next process on the same files, running meanwhile: this test's own, an app on the same settings
    # (a gunicorn start proves nothing more here). It takes over only what the first one leaves when it
    # stops; more reply threads only to send the backlog sooner.
    takeover = {"dead_after": float(FAST_TAKEOVER["JOURNAL_DEAD_AFTER"]), "scan_seconds": 0.5, "read_timeout": 5.0}
    try:
        with app_for(line_api.url_for("/"), tmp_path, kb, reply_threads=12, **takeover) as second:
            second.extensions["line_error_bot"].start()
            assert wait_for(first.ready, timeout=60), first.text
            assert "unusable" not in first.text + caplog.text  # three processes opened one file at once: all wait
            events = [text_event(f"unknown host {i}", timestamp=int(time.time() * 1000)) for i in range(24)]
            for event in events:
                assert first.post(body_of([event])) == 200
            first.stop()
            left = [ln for ln in first.output if "left journaled for another process" in ln]
            assert left, first.text  # 2 threads x 2 workers x ~1 s of drain cannot send 24 half-second replies
            wanted = {e["replyToken"] for e in events}
            assert wait_for(lambda: wanted <= {r["replyToken"] for r in replies(line_api)}, timeout=45), (
                sorted(wanted - {r["replyToken"] for r in replies(line_api)}),
                first.text,
                caplog.text,
            )
    finally:
        first.stop()
    assert [r for r in caplog.records if "journaled event recovered" in r.getMessage()], caplog.text
