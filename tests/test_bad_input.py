"""Bad input from LINE or users: 200 or 400 (or the server's own 413), never 500; nothing dies."""

from __future__ import annotations

import copy
import json
import random
from typing import Any

import pytest
from conftest import body_of, post, replies, sample_events, sign, text_event, wait_for
from pytest_httpserver import HTTPServer

OK = {200, 400}


def _still_answers(client: Any, line_api: HTTPServer) -> None:
    event = text_event("unknown host")
    assert post(client, [event]).status_code == 200
    assert wait_for(lambda: any(r["replyToken"] == event["replyToken"] for r in replies(line_api)))


def test_truncated_json(client: Any, line_api: HTTPServer) -> None:
    body = body_of(sample_events())
    for cut in range(0, len(body), max(1, len(body) // 60)):
        assert post(client, body=body[:cut]).status_code == 400
    _still_answers(client, line_api)


def test_mutated_json(client: Any, line_api: HTTPServer) -> None:
    rng = random.Random(20261122)
    body = body_of(sample_events()[:6])
    for _ in range(150):
        chars = list(body)
        for _ in range(rng.randint(1, 8)):
            chars[rng.randrange(len(chars))] = rng.choice('{}[]",:0aZ\\ \x00é😀')
        mutated = "".join(chars)
        assert post(client, body=mutated).status_code in OK
    _still_answers(client, line_api)


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _paths(value, (*prefix, i))
    return found


def _set(node: Any, path: tuple, value: Any) -> None:
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


def _drop(node: Any, path: tuple) -> None:
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]


@pytest.mark.parametrize("wrong", [None, 0, -1, 1.5, True, "", "x" * 300, [], {}, ["a"], {"a": 1}])
def test_wrong_type_in_every_field(client: Any, line_api: HTTPServer, wrong: Any) -> None:
    templates = [text_event("unknown host"), *sample_events()[6:12]]
    for template in templates:
        for path in _paths(template):
            event = copy.deepcopy(template)
            _set(event, path, wrong)
            assert post(client, [event]).status_code in OK, (path, wrong)
    _still_answers(client, line_api)


def test_missing_fields(client: Any, line_api: HTTPServer) -> None:
    for template in [text_event("unknown host"), *sample_events()]:
        for path in _paths(template):
            event = copy.deepcopy(template)
            _drop(event, path)
            assert post(client, [event]).status_code in OK, path
    for body in ['{"events": null}', "{}", "[]", '"events"', "null", '{"events": [1, "a", null]}']:
        assert post(client, body=body).status_code in OK, body
    _still_answers(client, line_api)


def test_unknown_event_and_message_types(client: Any, line_api: HTTPServer) -> None:
    weird_event = text_event("x", type="teleport")
    weird_message = text_event("x")
    weird_message["message"]["type"] = "smell"
    assert post(client, [weird_event, weird_message]).status_code == 200
    _still_answers(client, line_api)


@pytest.mark.parametrize(
    "text",
    [
        "あ" * 5000,
        "😀" * 5000,
        "\u200b\u200d\ufeff" * 1500,
        "".join(chr(c) for c in range(0, 32)) * 100,
        "could_not_connect\x00\x1b[31mTLS handshake failure\u202e",
        "🇯🇵👨‍👩‍👧 500 エラー ﷽",
    ],
)
def test_hostile_texts(client: Any, line_api: HTTPServer, text: str) -> None:
    event = text_event(text)
    assert post(client, [event]).status_code == 200
    assert wait_for(lambda: any(r["replyToken"] == event["replyToken"] for r in replies(line_api)))


def test_several_hundred_events(client: Any, line_api: HTTPServer) -> None:
    events = [text_event(f"question {i} unknown host") for i in range(400)]
    assert post(client, events).status_code == 200
    assert wait_for(lambda: len(replies(line_api)) == 400, timeout=60)


def test_invalid_utf8_and_wrong_content_type(client: Any) -> None:
    raw = b'{"events": [], "x": "\xff\xfe"}'
    response = client.post(
        "/callback", data=raw, headers={"Content-Type": "application/json", "X-Line-Signature": sign(raw)}
    )
    assert response.status_code == 400
    body = body_of([])
    for content_type in ("text/plain", "application/x-www-form-urlencoded", ""):
        response = client.post(
            "/callback", data=body, headers={"Content-Type": content_type, "X-Line-Signature": sign(body)}
        )
        assert response.status_code == 400, content_type


@pytest.mark.parametrize(
    "signature",
    [None, "", "   ", "not-base64!!", sign("another body"), "A" * 10_000],
)
def test_bad_signature_headers(client: Any, line_api: HTTPServer, signature: str | None) -> None:
    body = body_of([text_event("unknown host")])
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["X-Line-Signature"] = signature
    assert client.post("/callback", data=body, headers=headers).status_code == 400
    assert wait_for(lambda: False, timeout=0.1) is False
    assert replies(line_api) == []


def test_body_over_one_megabyte_is_413(client: Any) -> None:
    body = json.dumps({"events": [], "pad": "x" * (1024 * 1024)})
    response = client.post(
        "/callback", data=body, headers={"Content-Type": "application/json", "X-Line-Signature": sign(body)}
    )
    assert response.status_code == 413


def test_get_on_callback_is_405_not_500(client: Any) -> None:
    assert client.get("/callback").status_code == 405
