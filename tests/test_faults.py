"""The LINE API failing every way it can: every webhook still gets 200, each failure is logged
once with its request id, and later events are answered normally."""

from __future__ import annotations

import logging
import socket
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import REPLY_PATH, post, replies, settings_for, text_event, wait_for
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from bot.app import create_app


def _answer_with(server: HTTPServer, status: int, body: str, request_id: str) -> None:
    server.clear_all_handlers()
    server.expect_request(REPLY_PATH, method="POST").respond_with_data(
        body, status=status, headers={"x-line-request-id": request_id}, content_type="application/json"
    )


def _answer_ok(server: HTTPServer) -> None:
    _answer_with(server, 200, '{"sentMessages":[{"id":"1","quoteToken":"q"}]}', "req-ok")


def _failure_lines(caplog: Any, event_id: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if "reply failed" in r.getMessage() and event_id in r.getMessage()]


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (500, '{"message":"Internal error"}'),
        (429, '{"message":"The API rate limit has been exceeded."}'),
        (400, '{"message":"Invalid reply token"}'),
    ],
)
def test_api_error_status_is_logged_once_and_webhook_stays_200(
    client: Any, line_api: HTTPServer, caplog: Any, status: int, body: str
) -> None:
    caplog.set_level(logging.INFO, logger="bot")
    _answer_with(line_api, status, body, f"req-{status}")
    failing = text_event("unknown host")
    assert post(client, [failing]).status_code == 200
    assert wait_for(lambda: _failure_lines(caplog, failing["webhookEventId"]))
    time.sleep(0.2)  # room for a (wrong) retry to show up
    lines = _failure_lines(caplog, failing["webhookEventId"])
    assert len(lines) == 1, lines
    assert f"status={status} x-line-request-id=req-{status}" in lines[0]
    assert len(replies(line_api)) == 1  # not retried: a reply token works once

    _answer_ok(line_api)
    later = text_event("hi")
    assert post(client, [later]).status_code == 200
    assert wait_for(lambda: any(r["replyToken"] == later["replyToken"] for r in replies(line_api)))


def test_api_hanging_past_read_timeout(client: Any, line_api: HTTPServer, caplog: Any) -> None:
    caplog.set_level(logging.INFO, logger="bot")
    line_api.clear_all_handlers()

    def slow(request: Request) -> Response:
        time.sleep(2.5)  # the app's read timeout is 1 s in tests
        return Response('{"sentMessages":[{"id":"1","quoteToken":"q"}]}', status=200)

    line_api.expect_request(REPLY_PATH, method="POST").respond_with_handler(slow)
    hanging = text_event("unknown host")
    started = time.monotonic()
    assert post(client, [hanging]).status_code == 200
    ack = time.monotonic() - started
    assert wait_for(lambda: _failure_lines(caplog, hanging["webhookEventId"]))
    assert "error=ReadTimeoutError" in _failure_lines(caplog, hanging["webhookEventId"])[0]
    assert ack < 2.5  # the webhook never waited for the LINE API
    _answer_ok(line_api)
    later = text_event("hi")
    post(client, [later])
    assert wait_for(lambda: any(r["replyToken"] == later["replyToken"] for r in replies(line_api)))


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_api_refusing_connections(tmp_path: Path, caplog: Any) -> None:
    caplog.set_level(logging.INFO, logger="bot")
    app = create_app(settings_for(f"http://127.0.0.1:{_closed_port()}", tmp_path))
    try:
        client = app.test_client()
        events = [text_event("unknown host"), text_event("hi")]
        assert post(client, events).status_code == 200
        for event in events:
            assert wait_for(lambda e=event: _failure_lines(caplog, e["webhookEventId"]))
            line = _failure_lines(caplog, event["webhookEventId"])
            assert len(line) == 1 and "status=-" in line[0]
        assert client.get("/healthz").status_code == 200  # the worker is alive
    finally:
        app.extensions["line_error_bot"].shutdown(5.0)


def test_full_pool_answers_503_and_logs_the_refused_event(line_api: HTTPServer, tmp_path: Path, caplog: Any) -> None:
    caplog.set_level(logging.INFO, logger="bot")
    line_api.clear_all_handlers()
    line_api.expect_request(REPLY_PATH, method="POST").respond_with_handler(
        lambda r: (time.sleep(0.4), Response('{"sentMessages":[{"id":"1","quoteToken":"q"}]}', status=200))[1]
    )
    app = create_app(settings_for(line_api.url_for("/"), tmp_path, reply_threads=1, reply_queue=1))
    try:
        client = app.test_client()
        events = [text_event(f"unknown host {i}") for i in range(4)]
        assert post(client, events).status_code == 503
        refused = [r.getMessage() for r in caplog.records if "pool full" in r.getMessage()]
        assert refused and all("webhookEventId=01TESTEVENT" in line for line in refused)
        # LINE redelivers the same body until it gets a 2xx; events already taken are not answered twice.
        again = [dict(e, deliveryContext={"isRedelivery": True}) for e in events]
        for _ in range(40):
            time.sleep(0.5)
            if post(client, again).status_code == 200:
                break
        wanted = sorted(e["replyToken"] for e in events)
        assert wait_for(lambda: len(replies(line_api)) >= 4, timeout=30)
        time.sleep(0.6)  # room for a wrong extra reply
        assert sorted(r["replyToken"] for r in replies(line_api)) == wanted  # each exactly once
    finally:
        app.extensions["line_error_bot"].shutdown(10.0)
