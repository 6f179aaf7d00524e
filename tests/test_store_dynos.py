"""Two dynos sharing one real Redis: two separate gunicorn instances, each with its own SQLite file."""

from __future__ import annotations

import json
import re
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import body_of, replies, text_event, wait_for
from pytest_httpserver import HTTPServer
from redisserver import RedisServer, running_redis
from test_gunicorn import Web, web_env

UNREACHABLE = "shared store (Redis) unreachable"
BACK = "shared store (Redis) answers again"


# The three tests share one pair of dynos, one Redis and one fake LINE API (starting them is most of
# the cost); each test sends events of its own (fresh ids and reply tokens), and the Redis outage test,
# which stops and restarts Redis, comes last. Under pytest-xdist a worker that gets only some of them
# starts its own pair (the tests stay independent of which ones ran before).


@pytest.fixture(scope="module")
def line_api(module_line_api: HTTPServer) -> HTTPServer:
    """conftest's fake LINE API, for the whole module."""
    return module_line_api


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One redis-server for the module."""
    with running_redis(tmp_path_factory) as server:
        yield server


@pytest.fixture(scope="module")
def dynos(
    line_api: HTTPServer, redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Web, Web]]:
    """Dyno A and dyno B: each its own gunicorn (2 workers) and SQLite file, one Redis between them."""
    started = []
    try:
        for name in ("a", "b"):
            env = web_env(line_api.url_for("/"), tmp_path_factory.mktemp(name), REDIS_URL=redis_server.url)
            started.append(Web(env))
        for web in started:
            assert wait_for(web.ready, timeout=60), web.text
        yield started[0], started[1]
    finally:
        for web in started:
            web.stop_later()  # each takes about a second to stop: the next tests need not wait


def _tokens(line_api: HTTPServer) -> list[str]:
    return [r["replyToken"] for r in replies(line_api)]


def _send_everywhere(a: Web, b: Web, event: dict[str, Any]) -> list[int]:
    """The event to both dynos at once, then its redelivery to each."""
    redelivered = dict(event, deliveryContext={"isRedelivery": True})
    statuses: list[int] = []
    bodies = [(a, body_of([event])), (b, body_of([event])), (b, body_of([redelivered])), (a, body_of([redelivered]))]
    threads = [threading.Thread(target=lambda w=w, x=x: statuses.append(w.post(x))) for w, x in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return statuses


def _answered_once(a: Web, b: Web, line_api: HTTPServer, event: dict[str, Any]) -> bool:
    """True once the event is replied to and all four copies are accounted for (1 reply, 3 skipped)."""
    event_id = event["webhookEventId"]

    def settled() -> bool:
        lines = [ln for web in (a, b) for ln in web.output if f"webhookEventId={event_id}" in ln]
        return sum("duplicate event skipped" in ln for ln in lines) + sum("msg=replied" in ln for ln in lines) >= 4

    assert wait_for(settled), a.text + b.text
    return _tokens(line_api).count(event["replyToken"]) == 1


def test_same_event_on_two_dynos_is_answered_once(dynos: tuple[Web, Web], line_api: HTTPServer) -> None:
    a, b = dynos
    for i in range(3):
        event = text_event(f"unknown host {i}")
        assert _send_everywhere(a, b, event) == [200] * 4
        assert _answered_once(a, b, line_api, event), _tokens(line_api)


def test_number_sent_to_dyno_b_picks_from_choices_offered_by_dyno_a(
    dynos: tuple[Web, Web], line_api: HTTPServer
) -> None:
    a, b = dynos
    question = text_event("timeout")
    assert a.post(body_of([question])) == 200
    assert wait_for(lambda: question["replyToken"] in _tokens(line_api))
    offered = next(r for r in replies(line_api) if r["replyToken"] == question["replyToken"])
    second = re.search(r"^2\. (.+)$", offered["messages"][0]["text"], re.MULTILINE)
    assert second, offered
    pick = text_event("2")
    assert b.post(body_of([pick])) == 200
    assert wait_for(lambda: pick["replyToken"] in _tokens(line_api))
    answer = next(r for r in replies(line_api) if r["replyToken"] == pick["replyToken"])
    assert answer["messages"][0]["altText"].startswith(second.group(1)), answer


def _health(web: Web) -> int:
    try:
        with urllib.request.urlopen(web.url("/healthz"), timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        assert "unreachable" in json.loads(exc.read())["reason"]
        return exc.code


def _worker_pids(web: Web) -> set[str]:
    return {m.group(1) for ln in web.output if (m := re.search(r"Booting worker with pid: (\d+)", ln))}


def _lines_per_pid(web: Web, text: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for line in web.output:
        if text in line and (m := re.search(r" pid=(\d+) ", line)):
            counts[m.group(1)] = counts.get(m.group(1), 0) + 1
    return counts


def test_redis_outage_webhooks_still_answered_and_one_warning(
    dynos: tuple[Web, Web], line_api: HTTPServer, redis_server: RedisServer
) -> None:
    a, b = dynos
    redis_server.stop()
    during = [text_event(f"unknown host {i}") for i in range(8)]
    for i, event in enumerate(during):
        assert (a if i % 2 else b).post(body_of([event])) == 200
    assert wait_for(lambda: all(e["replyToken"] in _tokens(line_api) for e in during)), a.text + b.text
    # Every worker process notices (its heartbeat fails) and says so once, however many events it handled.
    for web in (a, b):
        pids = _worker_pids(web)
        assert wait_for(lambda w=web, p=pids: set(_lines_per_pid(w, UNREACHABLE)) == p), web.text
        assert set(_lines_per_pid(web, UNREACHABLE).values()) == {1}, web.text
    assert _health(a) == 503  # degraded, with the reason

    redis_server.start()
    for web in (a, b):
        pids = _worker_pids(web)
        assert wait_for(lambda w=web, p=pids: set(_lines_per_pid(w, BACK)) == p), web.text
    assert set(_lines_per_pid(a, UNREACHABLE).values()) == {1}  # still one line per process for the outage
    after = text_event("unknown host after")
    assert _send_everywhere(a, b, after) == [200] * 4
    assert _answered_once(a, b, line_api, after), _tokens(line_api)
