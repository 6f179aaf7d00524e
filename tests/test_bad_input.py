"""Bad input from LINE or users: 200 or 400 (or the server's own 413), never 500; nothing dies."""

from __future__ import annotations

import copy
import json
import logging
import os
import random
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import app_for, body_of, post, replies, sample_events, sign, text_event, wait_for
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pytest_httpserver import HTTPServer

from bot.logfmt import Formatter
from scripts.fake_line import FakeLine

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


def test_several_hundred_events(fake_line: FakeLine, tmp_path: Any, kb: Any) -> None:
    events = [text_event(f"question {i} unknown host") for i in range(400)]
    with app_for(fake_line.url, tmp_path, kb, reply_threads=16) as app:
        assert post(app.test_client(), events).status_code == 200
        assert fake_line.wait(lambda f: len(f.accepted) == 400, timeout=60)
    assert fake_line.accepted == {e["replyToken"]: 1 for e in events}


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


def test_bad_signature_headers(client: Any, line_api: HTTPServer) -> None:
    refused = text_event("unknown host")
    body = body_of([refused])
    for signature in [None, "", "   ", "not-base64!!", sign("another body"), "A" * 10_000]:
        headers = {"Content-Type": "application/json"}
        if signature is not None:
            headers["X-Line-Signature"] = signature
        assert client.post("/callback", data=body, headers=headers).status_code == 400, signature
    _still_answers(client, line_api)  # processed after the refused ones: they would have shown by now
    assert refused["replyToken"] not in {r["replyToken"] for r in replies(line_api)}


def test_body_over_one_megabyte_is_413(client: Any) -> None:
    body = json.dumps({"events": [], "pad": "x" * (1024 * 1024)})
    response = client.post(
        "/callback", data=body, headers={"Content-Type": "application/json", "X-Line-Signature": sign(body)}
    )
    assert response.status_code == 413


def test_get_on_callback_is_405_not_500(client: Any) -> None:
    assert client.get("/callback").status_code == 405


# -- property: every input is answered or refused, never a 500, never silence in a 1:1 chat ---------

# Every character that str.isdigit() accepts: decimal digits of every script, and the ones int() refuses
# (circled ❶ ⓶, superscripts, Ethiopic ፩ ...).
DIGITS = [chr(c) for c in range(0x110000) if chr(c).isdigit()]
SURROGATES = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
ODD_TEXT = st.lists(st.one_of(st.characters(), SURROGATES, st.sampled_from(DIGITS)), max_size=40).map(
    "".join
)  # st.text drops surrogates
ODD_ID = st.one_of(ODD_TEXT, st.integers(1_000, 200_000).map(lambda n: "U" * n))
MENTIONEE = st.fixed_dictionaries(
    {},
    optional={
        "index": st.integers(-(2**40), 2**40),
        "length": st.integers(-5, 2**40),
        "type": st.sampled_from(["user", "all", "bot", ""]),
        "userId": ODD_ID,
        "isSelf": st.booleans(),
    },
)


NEST = "@@nested@@"  # stands for a value nested too deep for json.dumps, spliced into the body text


def _nested(depth: int, leaf: str) -> str:
    """JSON text of `leaf` (JSON) inside `depth` alternating objects and lists."""
    opening = "".join("[" if i % 2 else '{"a":' for i in range(depth))
    closing = "".join("]" if i % 2 else "}" for i in reversed(range(depth)))
    return opening + leaf + closing


def _body(event: dict[str, Any], nested: str) -> str:
    return body_of([event]).replace(json.dumps(NEST), nested)


@st.composite
def direct_text(draw: st.DrawFn) -> tuple[dict[str, Any], bool]:
    """A 1:1 text message with odd text, ids, user id and mentions: it must get a reply."""
    text = draw(st.one_of(ODD_TEXT, st.tuples(st.sampled_from(DIGITS), st.sampled_from(DIGITS)).map("".join)))
    event = text_event(text or "?", source={"type": "user", "userId": draw(ODD_ID)})
    event["webhookEventId"] = draw(ODD_ID) + event["webhookEventId"]  # unique, or the dedupe would be right
    if draw(st.booleans()):
        event["message"]["mention"] = {"mentionees": draw(st.lists(MENTIONEE, max_size=3))}
    if draw(st.booleans()):
        event["extra"] = NEST
    return event, True


@st.composite
def other_event(draw: st.DrawFn) -> tuple[dict[str, Any], bool]:
    """A group message, a postback with odd data, or an event nested deep: a reply or quiet, no 500."""
    kind = draw(st.sampled_from(["group", "postback", "nested"]))
    event = text_event(draw(ODD_TEXT))
    if kind == "group":
        event["source"] = {"type": "group", "groupId": draw(ODD_ID), "userId": draw(ODD_ID)}
        event["message"]["mention"] = {"mentionees": draw(st.lists(MENTIONEE, max_size=3))}
    elif kind == "postback":
        event.pop("message")
        event.update(type="postback", postback={"data": "topic=" + draw(ODD_TEXT) + "&lang=" + draw(ODD_TEXT)})
    else:
        event["message"] = NEST
    return event, False


@pytest.fixture(scope="module")
def shared(tmp_path_factory: Any, kb: Any) -> Iterator[tuple[Any, FakeLine]]:
    """One app and fake API for every hypothesis example (a function-scoped fixture would be reused anyway)."""
    with FakeLine() as fake, app_for(fake.url, tmp_path_factory.mktemp("prop"), kb) as application:
        yield application.test_client(), fake


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=st.one_of(direct_text(), other_event()), depth=st.integers(0, 3000), wrap=st.booleans())
def test_any_signed_body_is_answered_or_refused(
    shared: tuple[Any, FakeLine], case: tuple[dict[str, Any], bool], depth: int, wrap: bool
) -> None:
    client, fake = shared
    event, must_reply = case
    body = _body(event, _nested(depth, json.dumps(text_event("nested")["message"])))
    if wrap:  # the whole body nested: a 400 at worst
        response = post(client, body=_nested(depth, body))
        assert response.status_code in (200, 400), response.status_code
        must_reply = must_reply and response.status_code == 200
    else:  # an event with a field nested `depth` deep: answered, or refused as a whole
        response = post(client, body=body)
        assert response.status_code == 200 or (response.status_code == 400 and depth > 500), response.status_code
        must_reply = must_reply and response.status_code == 200
    if must_reply:
        assert fake.wait(lambda f: event["replyToken"] in f.accepted, timeout=10), event


def test_outside_fields_cannot_forge_a_log_line(client: Any, line_api: HTTPServer, caplog: Any) -> None:
    caplog.set_level(logging.DEBUG, logger="bot")
    forged = "01X\ntime=now level=ERROR logger=bot msg=forged\x00\u2028" + "Z" * 500_000
    event = text_event("unknown host", webhookEventId=forged)
    duplicate = text_event("hi", webhookEventId=forged)  # logged as a duplicate, by intake or the store
    assert post(client, [event, duplicate]).status_code == 200
    assert wait_for(lambda: any(r["replyToken"] == event["replyToken"] for r in replies(line_api)))
    assert wait_for(lambda: len([r for r in caplog.records if "01X" in r.getMessage()]) >= 2)
    formatter = Formatter()
    for record in caplog.records:
        line = formatter.format(record)
        assert "\n" not in line and "\x00" not in line and "\u2028" not in line, line[:200]
        assert len(line) < 1000 and "Z" * 100 not in line
    assert not any(r.getMessage().startswith("msg=forged") for r in caplog.records)


def test_free_text_log_lines_are_logfmt_too() -> None:
    """Lines logged as free text ("profile lookup failed: error=ValidationError", "ready: 74 entries, …")
    came out after pid= as bare words, which a logfmt reader (Heroku's tools) splits into keys; they are now
    one quoted msg value, like the kv() lines, which stay as they were."""
    formatter = Formatter()

    def line(msg: str, *args: Any) -> str:
        return formatter.format(logging.LogRecord("bot.sender", logging.WARNING, __file__, 1, msg, args, None))

    assert line("profile lookup failed: %s", "error=ValidationError").endswith(
        f'pid={os.getpid()} msg="profile lookup failed: error=ValidationError"'
    )
    assert line("replied").endswith("msg=replied")
    assert line('msg=replied status=200 note="answer x"').endswith('msg=replied status=200 note="answer x"')
    forged = line("store error (%s)", "x\ntime=now msg=forged")
    assert "\n" not in forged and forged.endswith(r'msg="store error (x\ntime=now msg=forged)"')
