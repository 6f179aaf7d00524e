"""The LINE API failing every way it can: every webhook still gets 200, a reply that may not have arrived
is sent again (a reply token works once, so LINE itself refuses a double), each event ends in one log
line, and later events are answered normally."""

from __future__ import annotations

import logging
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import REPLY_PATH, app_for, post, replies, text_event, wait_for
from pytest_httpserver import HTTPServer
from werkzeug import Response

from scripts.fake_line import FakeLine, Faults


def _outcomes(caplog: Any, event_id: str) -> list[logging.LogRecord]:
    """The log records that end an event's reply (one per event)."""
    ends = ("msg=replied ", 'msg="reply failed"', 'msg="already delivered or expired"')
    return [
        r for r in caplog.records if f"webhookEventId={event_id}" in r.getMessage() and r.getMessage().startswith(ends)
    ]


def _ended(caplog: Any, events: list[dict[str, Any]]) -> bool:
    return all(_outcomes(caplog, e["webhookEventId"]) for e in events)


@pytest.mark.parametrize(
    "faults",
    [
        Faults(drop_every=3),
        Faults(drop_every=3, drop_after_accepting=True),
        Faults(statuses={1: 500}),
        Faults(statuses={2: 429, 3: 503}),
        Faults(hang_on={1}, hang=2.5),  # past the app's 1 s read timeout, and LINE did deliver
    ],
    ids=["drop-every-third", "drop-answer-every-third", "500-once", "429-then-503", "timeout-once"],
)
def test_every_event_replied_exactly_once_through_faults(
    fake_line: FakeLine, tmp_path: Path, kb: Any, caplog: Any, faults: Faults
) -> None:
    caplog.set_level(logging.INFO, logger="bot")
    fake_line.faults = faults
    events = [text_event(f"unknown host {i}", source={"type": "user", "userId": f"U{i}"}) for i in range(30)]
    # The production budget (30 s, not the tests' 5 s): on a loaded machine the 30th event may wait in the
    # queue past 5 s, and a reply with no budget left is not retried, which is not what this test is about.
    with app_for(fake_line.url, tmp_path, kb, reply_budget=30.0) as app:
        client = app.test_client()
        for event in events:
            assert post(client, [event]).status_code == 200
        assert wait_for(lambda: _ended(caplog, events), timeout=90)
    assert fake_line.accepted == {e["replyToken"]: 1 for e in events}
    for event in events:
        (line,) = _outcomes(caplog, event["webhookEventId"])
        assert line.levelno == logging.INFO, line.getMessage()
    assert fake_line.calls > len(events)  # the faults did happen, and were retried
    retried = [
        r.getMessage()
        for r in caplog.records
        if "attempts=1 " not in r.getMessage() and "msg=replied" in r.getMessage()
    ]
    assert retried or any("already delivered" in r.getMessage() for r in caplog.records)


def test_invalid_reply_token_after_a_retry_is_already_delivered(
    fake_line: FakeLine, tmp_path: Path, kb: Any, caplog: Any
) -> None:
    caplog.set_level(logging.INFO, logger="bot")
    fake_line.faults = Faults(statuses={1: 500, 2: 400})  # 400 answers "Invalid reply token"
    event = text_event("unknown host")
    with app_for(fake_line.url, tmp_path, kb) as app:
        assert post(app.test_client(), [event]).status_code == 200
        assert wait_for(lambda: _ended(caplog, [event]))
    (line,) = _outcomes(caplog, event["webhookEventId"])
    assert 'msg="already delivered or expired"' in line.getMessage() and "attempts=2" in line.getMessage()
    assert line.levelno == logging.INFO
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith("bot")]


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_other_4xx_is_not_retried(fake_line: FakeLine, tmp_path: Path, kb: Any, caplog: Any, status: int) -> None:
    caplog.set_level(logging.INFO, logger="bot")
    fake_line.faults = Faults(statuses={1: status})
    failing, later = text_event("unknown host"), text_event("hi")
    with app_for(fake_line.url, tmp_path, kb) as app:
        client = app.test_client()
        assert post(client, [failing]).status_code == 200
        assert wait_for(lambda: _ended(caplog, [failing]))
        assert post(client, [later]).status_code == 200  # processed after: the positive signal
        assert fake_line.wait(lambda f: later["replyToken"] in f.accepted)
    (line,) = _outcomes(caplog, failing["webhookEventId"])
    assert line.levelno == logging.WARNING
    assert f'msg="reply failed" status={status} attempts=1 x-line-request-id=fake-{status}' in line.getMessage()
    assert fake_line.arrivals[failing["replyToken"]] and len(fake_line.arrivals[failing["replyToken"]]) == 1


def test_5xx_forever_gives_up_inside_the_budget(fake_line: FakeLine, tmp_path: Path, kb: Any, caplog: Any) -> None:
    caplog.set_level(logging.INFO, logger="bot")
    fake_line.faults = Faults(statuses={n: 500 for n in range(1, 1000)})
    event = text_event("unknown host")
    with app_for(fake_line.url, tmp_path, kb, reply_budget=2.0) as app:
        assert post(app.test_client(), [event]).status_code == 200
        assert wait_for(lambda: _ended(caplog, [event]))
    (line,) = _outcomes(caplog, event["webhookEventId"])
    assert line.levelno == logging.WARNING and 'msg="reply failed" status=500' in line.getMessage()
    assert "attempts=1 " not in line.getMessage()
    # It gave up (the outcome above) after a few spaced attempts, not a stream of them: backoff within the budget.
    # With full jitter 9 attempts fit in the 2 s budget about once in 800 runs (one failed on main while this
    # was measured; simulated: 200,000 runs of the sender's schedule, at most 11); with no backoff, hundreds.
    assert 2 <= len(fake_line.arrivals[event["replyToken"]]) <= 12, line.getMessage()


def test_api_hanging_past_read_timeout_does_not_hold_the_webhook(
    line_api: HTTPServer, tmp_path: Path, kb: Any, caplog: Any
) -> None:
    caplog.set_level(logging.INFO, logger="bot")
    line_api.clear_all_handlers()
    released = threading.Event()  # the API answers only once the reply has given up on it
    line_api.expect_request(REPLY_PATH, method="POST").respond_with_handler(
        lambda r: (released.wait(10), Response("{}", status=200))[1]
    )
    hanging = text_event("unknown host")
    try:
        with app_for(line_api.url_for("/"), tmp_path, kb, reply_budget=1.5) as app:
            assert post(app.test_client(), [hanging]).status_code == 200
            assert not _ended(caplog, [hanging])  # the 200 came before the reply ended: it never waited
            assert wait_for(lambda: _ended(caplog, [hanging]))
    finally:
        released.set()
    (line,) = _outcomes(caplog, hanging["webhookEventId"])
    assert "error=ReadTimeoutError" in line.getMessage()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_api_refusing_connections(tmp_path: Path, kb: Any, caplog: Any) -> None:
    caplog.set_level(logging.INFO, logger="bot")
    with app_for(f"http://127.0.0.1:{_closed_port()}", tmp_path, kb, reply_budget=1.0) as app:
        client = app.test_client()
        events = [text_event("unknown host"), text_event("hi")]
        assert post(client, events).status_code == 200
        assert wait_for(lambda: _ended(caplog, events))
        for event in events:
            (line,) = _outcomes(caplog, event["webhookEventId"])
            assert 'msg="reply failed" status=-' in line.getMessage() and "error=MaxRetryError" in line.getMessage()
        assert client.get("/healthz").status_code == 200  # the worker is alive


def test_full_pool_answers_503_and_logs_the_refused_event(
    line_api: HTTPServer, tmp_path: Path, kb: Any, caplog: Any
) -> None:
    caplog.set_level(logging.INFO, logger="bot")
    line_api.clear_all_handlers()
    line_api.expect_request(REPLY_PATH, method="POST").respond_with_handler(
        lambda r: (time.sleep(0.2), Response('{"sentMessages":[{"id":"1","quoteToken":"q"}]}', status=200))[1]
    )
    with app_for(line_api.url_for("/"), tmp_path, kb, reply_threads=1, reply_queue=1) as app:
        client = app.test_client()
        events = [text_event(f"unknown host {i}") for i in range(4)]
        assert post(client, events).status_code == 503
        refused = [r.getMessage() for r in caplog.records if "pool full" in r.getMessage()]
        assert refused and all("webhookEventId=01TESTEVENT" in line for line in refused)
        # LINE redelivers the same body until it gets a 2xx; events already taken are not answered twice.
        again = [dict(e, deliveryContext={"isRedelivery": True}) for e in events]
        assert wait_for(lambda: post(client, again).status_code == 200, timeout=30)
        assert wait_for(lambda: _ended(caplog, events), timeout=30)
    assert sorted(r["replyToken"] for r in replies(line_api)) == sorted(e["replyToken"] for e in events)
