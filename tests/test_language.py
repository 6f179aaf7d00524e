"""A reply speaks the conversation's language throughout: a Japanese diagnosis states its measured facts in
Japanese, a group's introduction speaks both languages, and the replies that see no language (a bare
mention, a button that is not ours, a message type the SDK does not know) keep the conversation's.

"English" here is a lower-case English word left once URLs, LINE's console strings, quoted strings, codes
and names are taken out (tests/langcheck.py); "Japanese" is kana or kanji outside quoted strings."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from conftest import app_for, post, replies, text_event, wait_for
from diagnose_servers import Server, answer, self_signed_context
from facts import HOST, diagnose_problems, reached
from langcheck import console_strings, english_words, japanese, texts
from pytest_httpserver import HTTPServer
from test_cli import run

from bot import diagnose, diagnose_data, diagnose_render, limits, render, urlguard
from bot.diagnosis import Cert, Facts
from bot.diagnosis import diagnose as verdict
from bot.knowledge import KnowledgeBase
from bot.matcher import Matcher

NOW = datetime(2026, 11, 24, tzinfo=UTC)


def _facts(**fields: Any) -> Facts:
    """A probe that reached a good HTTP/2 server (with an IPv6 address too), with `fields` changed."""
    return reached(NOW, **{"addresses": ("93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"), **fields})


_REFUSED_TCP = {"address": None, "connect_to": "93.184.215.14:443"}
_TLS_FAILED = {"verified": False, "tls_version": None, "cipher": None, "alpn": None}
# Every path through the diagnosis, with the system's and the libraries' own (English) words where they
# give some: a Japanese reply states the fact in Japanese and leaves those out.
CASES: dict[str, dict[str, Any]] = {
    "ok": {},
    "ok over HTTP/1.1 without ALPN": {"alpn": None, "http_version": "HTTP/1.1"},
    "deprecated suite on HTTP/1.1": {"cipher": "ECDHE-RSA-AES128-SHA", "alpn": "http/1.1"},
    "deprecated suite on h2": {"cipher": "ECDHE-RSA-AES128-SHA", "tls_version": "TLSv1.2"},
    "certificate expiring soon": {"cert": Cert("CN=R11", f"CN={HOST}", (HOST,), NOW + timedelta(days=5))},
    "no expiry date": {"cert": Cert("CN=R11", f"CN={HOST}", (HOST,), None)},
    "connection refused": {
        **_REFUSED_TCP,
        "connect_error": "refused",
        "connect_info": "[Errno 111] Connection refused",
    },
    "no route": {**_REFUSED_TCP, "connect_error": "unreachable", "connect_info": "[Errno 113] No route to host"},
    "connect timeout": {**_REFUSED_TCP, "connect_error": "timeout"},
    "plain HTTP": {
        **_TLS_FAILED,
        "tls_error": "WRONG_VERSION_NUMBER",
        "tls_info": "[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1000)",
        "cert": None,
    },
    "no ALPN in common": {**_TLS_FAILED, "tls_error": "NO_APPLICATION_PROTOCOL", "tls_info": "no application protocol"},
    "closed in handshake": {**_TLS_FAILED, "tls_error": "eof", "tls_info": "EOF occurred in violation of protocol"},
    "handshake timeout": {**_TLS_FAILED, "tls_error": "timeout"},
    **{
        f"verify error {code}": {
            **_TLS_FAILED,
            "tls_error": "verify",
            "verify_code": code,
            "tls_info": "unable to get local issuer certificate",
        }
        for code in (2, 9, 10, 18, 19, 20, 21, 62, 64)
    },
    "expired certificate": {
        **_TLS_FAILED,
        "tls_error": "verify",
        "verify_code": 10,
        "cert": Cert("CN=R11", f"CN={HOST}", (HOST,), NOW - timedelta(days=3)),
    },
    "TLS 1.1 only": {**_TLS_FAILED, "tls_error": "UNSUPPORTED_PROTOCOL", "server_tls_version": "TLSv1.1"},
    "no TLS version in common": {**_TLS_FAILED, "tls_error": "UNSUPPORTED_PROTOCOL"},
    "other handshake failure": {
        **_TLS_FAILED,
        "tls_error": "SSLV3_ALERT_HANDSHAKE_FAILURE",
        "tls_info": "sslv3 alert handshake failure",
    },
    "no answer": {"status": None, "response_error": "timeout"},
    "body stalled": {"response_error": "timeout"},
    "GOAWAY": {"status": None, "response_error": "goaway", "response_info": "ErrorCodes.ENHANCE_YOUR_CALM"},
    "stream reset": {"status": None, "response_error": "stream_reset", "response_info": "ErrorCodes.INTERNAL_ERROR"},
    "cut mid-answer": {
        "alpn": "http/1.1",
        "status": None,
        "response_error": "closed",
        "response_info": "peer closed connection without sending complete message body",
    },
    "not HTTP": {
        "alpn": "http/1.1",
        "status": None,
        "response_error": "protocol",
        "response_info": "illegal status line",
    },
    "no response": {"status": None},
    "over 2 s": {"response_ms": 2300.0},
    "unsigned refused": {"status": 401},
    "redirect": {"status": 302, "location": f"https://{HOST}/moved"},
    "redirect without Location": {"status": 308},
    "502": {"status": 502},
}


def _whole_reply(finding: Any, kb: KnowledgeBase, data: diagnose_data.DiagnoseData, lang: str) -> str:
    """Everything the finding shows: the terminal's text and every string of the LINE messages."""
    return "\n".join(
        [diagnose_render.text(finding, kb, data, lang), *texts(diagnose_render.messages(finding, kb, data, lang))]
    )


@pytest.mark.parametrize("case", list(CASES))
def test_a_diagnosis_speaks_one_language_throughout(
    case: str, kb: KnowledgeBase, data: diagnose_data.DiagnoseData
) -> None:
    """Before: 「✗ TLS: the certificate is self-signed」「✓ 接続: connected to … in 1 ms」 in a Japanese reply."""
    finding = verdict(_facts(**CASES[case]), kb, data.supported_ciphers, data.deprecated_ciphers)
    assert english_words(_whole_reply(finding, kb, data, "ja"), console_strings(kb)) == []
    assert japanese(_whole_reply(finding, kb, data, "en")) == []


def _resolver(result: Any) -> urlguard.Resolver:
    def resolve(host: str, timeout: float) -> list[str]:
        if isinstance(result, Exception):
            raise result
        return list(result)

    return resolve


@pytest.mark.parametrize(
    "url",
    [
        "https://exa mple.com/callback",  # a space
        "https://" + "a" * 490 + ".example.com/",  # over LINE's 500 characters
        "https://example.com/コールバック",  # a path outside ASCII
        "https:///callback",  # no host
        "ftp://example.com/callback",
        "https://ex!ample.com/callback",
        "https://[::1/callback",  # cannot be parsed
        "https://exämple..com/callback",  # not a valid international name
    ],
)
def test_a_malformed_url_is_explained_in_the_conversations_language(
    url: str, kb: KnowledgeBase, data: diagnose_data.DiagnoseData
) -> None:
    finding = diagnose.run(url, kb, data, resolver=_resolver(AssertionError("no DNS")))
    assert finding.detail == "Invalid URL syntax", finding.checks
    assert english_words(_whole_reply(finding, kb, data, "ja"), console_strings(kb)) == []
    assert japanese(_whole_reply(finding, kb, data, "en").replace(url, "")) == []


@pytest.mark.parametrize(
    "error",
    [
        urlguard.UnknownHost("bot.example.com: no such domain (NXDOMAIN)", "nxdomain", host=HOST),
        urlguard.UnknownHost("bot.example.com: the name has no A or AAAA record", "no_record", host=HOST),
        urlguard.DNSTimeout("bot.example.com: no answer within 2 s", "timeout", host=HOST, seconds="2"),
        urlguard.DNSTimeout("bot.example.com: every name server failed", "servfail", host=HOST),
        urlguard.UnknownHost("no such domain"),  # a resolver that gives no rule: the default one, the URL's host
    ],
)
def test_dns_failures_in_the_conversations_language(
    error: Exception, kb: KnowledgeBase, data: diagnose_data.DiagnoseData
) -> None:
    finding = diagnose.run(f"https://{HOST}/callback", kb, data, resolver=_resolver(error))
    reply = _whole_reply(finding, kb, data, "ja")
    assert english_words(reply, console_strings(kb)) == [] and HOST in reply
    assert japanese(_whole_reply(finding, kb, data, "en")) == []


@pytest.mark.parametrize(
    ("url", "addresses"),
    [
        ("https://webhook.example.com/", ["::ffff:10.0.0.1"]),  # IPv4-mapped
        ("https://webhook.example.com/", ["64:ff9b::a00:1"]),  # NAT64
        ("https://webhook.example.com/", ["2002:c0a8:101::1"]),  # 6to4 of a private address
        ("https://webhook.example.com/", ["2001::1"]),  # Teredo
        ("https://webhook.example.com/", ["100.64.0.1"]),
        ("https://webhook.example.com/", ["0.0.0.0"]),
        ("https://webhook.example.com/", ["224.0.0.1"]),
        ("https://webhook.example.com/", ["240.0.0.1"]),
        ("https://webhook.example.com/", ["192.0.2.1"]),
        ("https://webhook.example.com/", ["not-an-address"]),
        ("https://[::ffff:127.0.0.1]/callback", []),
        ("https://localhost/callback", []),
        ("https://0x7f.0.0.1/callback", []),
        ("http://webhook.example.com/callback", []),
        ("https://user:pass@webhook.example.com/callback", []),
        ("https://webhook.example.com:22/callback", []),
    ],
)
def test_a_refusal_names_its_reason_in_the_conversations_language(
    url: str, addresses: list[str], kb: KnowledgeBase, data: diagnose_data.DiagnoseData
) -> None:
    """Before: 「… 公開されたアドレスではありません（IPv4-mapped IPv6 address (of 10.0.0.1)）。」"""
    finding = diagnose.run(url, kb, data, resolver=_resolver(addresses))
    assert finding.refused
    host = {urlsplit(url).hostname or ""}  # a host name is no English
    assert english_words(diagnose_render.refused_text(finding, data, "ja"), host) == []
    assert japanese(diagnose_render.refused_text(finding, data, "en")) == []
    assert english_words("\n".join(texts(diagnose_render.messages(finding, kb, data, "ja"))), host) == []


def test_a_fact_text_that_names_a_field_it_cannot_have_stops_start_up(tmp_path: Path) -> None:
    lines = diagnose_problems(
        tmp_path,
        ('fact_connect_ok: "{address} に{ms}ミリ秒で接続"', 'fact_connect_ok: "{addr} に接続"'),
        ('  fact_dns_resolved: "resolved to {addresses}"\n', ""),
    )
    assert "diagnose.yaml: entry ja: field fact_connect_ok: names {addr}; it may use {address}, {ms}" in lines
    assert "diagnose.yaml: entry en: field fact_dns_resolved: is missing or empty" in lines


# -- the real webhook path ------------------------------------------------------------------------------


@pytest.fixture
def loopback_client(monkeypatch: pytest.MonkeyPatch, line_api: HTTPServer, tmp_path: Path, kb: Any) -> Iterator[Any]:
    """An app that may check 127.0.0.1 (a test-only setting, read at start-up), one reply thread (in order)."""
    monkeypatch.setenv("DIAGNOSE_ALLOW_LOOPBACK", "1")
    with app_for(line_api.url_for("/"), tmp_path, kb, reply_threads=1) as application:
        yield application.test_client()


def _reply(line_api: HTTPServer, count: int) -> list[dict[str, Any]]:
    assert wait_for(lambda: len(replies(line_api)) >= count), f"reply {count} did not reach the fake LINE API"
    return replies(line_api)[count - 1]["messages"]


def test_a_japanese_diagnosis_on_line_is_japanese_throughout(
    loopback_client: Any, line_api: HTTPServer, kb: KnowledgeBase, tmp_path: Path
) -> None:
    """A self-signed server checked from a Japanese conversation: the verdict, every measured fact, the
    finding's explanation and the entry's answer are Japanese; LINE's console strings stay as it writes them."""
    server = Server(answer(200), self_signed_context(tmp_path, "localhost"))
    try:
        post(loopback_client, [text_event(f"{server.url()} を診断して")])
        messages = _reply(line_api, 1)
    finally:
        server.close()
    whole = "\n".join(texts(messages))
    assert "could_not_connect" in whole and "TLS handshake failure" in whole and "自己署名" in whole
    assert english_words(whole, {*console_strings(kb), "localhost"}) == []


def _group(text: str, **extra: Any) -> dict[str, Any]:
    source = {"type": "group", "groupId": "C" + "1" * 32, "userId": "U" + "2" * 32}
    raw = text_event("@bot " + text, source=source, **extra)
    raw["message"]["mention"] = {"mentionees": [{"index": 0, "length": 4, "type": "user", "isSelf": True}]}
    return raw


@pytest.mark.parametrize("source", [{"type": "group", "groupId": "Cabc"}, {"type": "room", "roomId": "Rabc"}])
def test_a_join_introduction_speaks_japanese_then_english(
    source: dict[str, str], loopback_client: Any, line_api: HTTPServer, kb: KnowledgeBase
) -> None:
    """A join event names no user and a group member's profile no language: Japanese first, then English."""
    event = text_event("")
    event.pop("message")
    event.update(type="join", source=source)
    post(loopback_client, [event])
    (message,) = _reply(line_api, 1)
    first, second = message["text"].split("\n\n")
    assert japanese(first) and english_words(first) == []
    assert english_words(second) and japanese(second) == []
    labels = [item["action"]["label"] for item in message["quickReply"]["items"]]
    assert labels == [kb[kb.ui.help].text["ja"].label, kb[kb.ui.help].text["en"].label]


@pytest.mark.parametrize(
    "second",
    [
        _group(""),  # a bare mention: the menu
        text_event("", type="postback", postback={"data": "action=buy&itemid=111"}),  # a button not ours
        {**text_event(""), "message": {"id": "9", "type": "hologram", "quoteToken": "q"}},  # unknown to the SDK
    ],
    ids=["bare mention", "unknown postback", "unknown message type"],
)
def test_replies_that_see_no_language_keep_an_english_conversations(
    second: dict[str, Any], loopback_client: Any, line_api: HTTPServer, kb: KnowledgeBase
) -> None:
    """Before: the menu or the hint in Japanese, whatever the conversation had been."""
    first = _group("my webhook returns 404") if second["source"]["type"] == "group" else text_event("webhook 404")
    post(loopback_client, [first])
    assert japanese("\n".join(texts(_reply(line_api, 1)))) == []
    if second.get("type") == "postback":
        second.pop("message")
    post(loopback_client, [second])
    assert japanese("\n".join(texts(_reply(line_api, 2)))) == []


@pytest.mark.parametrize(
    "body",
    [
        '{"message":"Invalid reply token"}',
        '{"message": "The API rate limit has been exceeded. Try again later."}',
        'LineBotApiError: status_code=400, request_id=3c1a, error_response={"message":"Invalid reply token"}',
        "Invalid reply token",
    ],
)
def test_an_api_error_body_pasted_in_a_japanese_conversation_is_answered_in_japanese(
    body: str, loopback_client: Any, line_api: HTTPServer, kb: KnowledgeBase
) -> None:
    """The Japanese help asks for the error body as it is, and the API writes it in English for everyone:
    before, the answer (and the conversation from then on) turned English."""
    post(loopback_client, [text_event("Messaging APIでエラーが返ります")])
    _reply(line_api, 1)
    post(loopback_client, [text_event(body)])
    answer = "\n".join(texts(_reply(line_api, 2)))
    assert japanese(answer) and english_words(answer, console_strings(kb)) == []
    post(loopback_client, [text_event("I get that error when my bot calls reply")])  # a sentence shows its language
    assert japanese("\n".join(texts(_reply(line_api, 3)))) == []


PASTES = {
    "Python SDK": (
        "linebot.v3.messaging.exceptions.ApiException: (400)\nReason: Bad Request\n"
        "HTTP response headers: HTTPHeaderDict({'Server': 'legy', 'x-line-request-id': '7c2e4a1b-9f3d'})\n"
        'HTTP response body: {"message":"Invalid reply token"}'
    ),
    "Node": (
        "Error: Request failed with status code 401\n"
        "    at createError (/app/node_modules/axios/lib/core/createError.js:16:15)\n"
        "    at settle (/app/node_modules/axios/lib/core/settle.js:17:12)"
    ),
    "Heroku router": (
        '2026-11-23T00:05:12.318Z heroku[router]: at=error code=H12 desc="Request timeout" method=POST '
        'path="/callback" host=bot.example.com request_id=9c8b7a6d status=503 bytes=0 protocol=https'
    ),
    "Python traceback": (
        'Traceback (most recent call last):\n  File "/srv/bot/app.py", line 38, in callback\n'
        "    handler.handle(body, signature)\n"
        "linebot.v3.exceptions.InvalidSignatureError: Invalid signature. signature=kQ3uXw0bYt6mZ2c5Vn8rT1pL="
    ),
}


@pytest.mark.parametrize("paste", PASTES.values(), ids=PASTES.keys())
def test_printed_output_pasted_in_a_japanese_conversation_is_answered_in_japanese(
    paste: str, loopback_client: Any, line_api: HTTPServer, kb: KnowledgeBase
) -> None:
    """A traceback, an SDK's exception or a log line pasted alone is what a program printed, in English for
    everyone: before, it turned a Japanese conversation English. The asker's own English sentence still does."""
    post(loopback_client, [text_event("ボットのサーバーでエラーが出ます")])
    assert japanese("\n".join(texts(_reply(line_api, 1))))
    post(loopback_client, [text_event(paste)])
    answer = "\n".join(texts(_reply(line_api, 2)))
    # "message": the API's JSON field, which the 401 answer names as it is written
    assert japanese(answer) and english_words(answer, {*console_strings(kb), "message"}) == []
    post(loopback_client, [text_event("I keep getting this when my bot replies:\n" + paste)])
    assert japanese("\n".join(texts(_reply(line_api, 3)))) == []


@pytest.mark.parametrize("said", ["OK", "ok!", "Okay"])
def test_ok_typed_in_a_japanese_conversation_is_answered_in_japanese(
    said: str, loopback_client: Any, line_api: HTTPServer
) -> None:
    """Japanese users type "OK" too: before, it turned the conversation English."""
    post(loopback_client, [text_event("Webhookの検証に失敗します")])
    assert japanese("\n".join(texts(_reply(line_api, 1))))
    post(loopback_client, [text_event(said)])
    assert japanese("\n".join(texts(_reply(line_api, 2))))


@pytest.mark.parametrize("paste", PASTES.values(), ids=PASTES.keys())
def test_printed_output_with_no_conversation_is_answered_as_before(
    paste: str, loopback_client: Any, line_api: HTTPServer
) -> None:
    """No earlier message and no profile language to keep: the paste's own language, English."""
    post(loopback_client, [text_event(paste)])
    assert japanese("\n".join(texts(_reply(line_api, 1)))) == []


def test_make_chat_keeps_its_language_for_a_paste(
    monkeypatch: pytest.MonkeyPatch, kb: KnowledgeBase, matcher: Matcher
) -> None:
    """`make chat` as on LINE: a paste alone first is answered in English; after a Japanese question, in Japanese."""
    paste = PASTES["Heroku router"]  # one line: the terminal's question is a line
    answer = {lang: render.render_text(kb, matcher.match(paste, lang)) for lang in ("ja", "en")}
    assert answer["ja"] != answer["en"]
    code, out = run(monkeypatch, "chat", stdin=f"{paste}\nexit\n")
    assert code == 0 and answer["en"] in out and answer["ja"] not in out
    code, out = run(monkeypatch, "chat", stdin=f"Webhookでエラーが出ます\n{paste}\nexit\n")
    assert code == 0 and answer["ja"] in out and answer["en"] not in out


def test_make_chat_greets_in_japanese_then_english(monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: an English-only first line, though the chat answers Japanese until someone speaks."""
    code, out = run(monkeypatch, "chat", stdin="exit\n")
    first, second = out.splitlines()[:2]
    assert code == 0 and japanese(first) and english_words(first) == []
    assert english_words(second) and japanese(second) == []


def test_make_chat_diagnoses_in_japanese(monkeypatch: pytest.MonkeyPatch, kb: KnowledgeBase, tmp_path: Path) -> None:
    server = Server(answer(200), self_signed_context(tmp_path, "localhost"))
    monkeypatch.setenv("DIAGNOSE_ALLOW_LOOPBACK", "1")
    try:
        code, out = run(monkeypatch, "chat", stdin=f"{server.url()} を診断して\nexit\n")
    finally:
        server.close()
    reply = out.split("\n", 2)[2]  # after the two greeting lines
    assert code == 0 and "自己署名" in reply
    assert english_words(reply, {*console_strings(kb), "localhost"}) == []


def test_an_introduction_too_long_for_line_is_a_validation_error(kb: KnowledgeBase) -> None:
    """The introduction joins every language's `join`: each may fit LINE's 5,000 while both together do not."""
    strings = {lang: {**texts_, "join": "あ" * 2600} for lang, texts_ in kb.ui.strings.items()}
    longer = dataclasses.replace(kb, ui=dataclasses.replace(kb.ui, strings=strings))
    problems = [str(p) for p in limits.check_all(longer)]
    assert problems == ["ui.yaml: entry strings: field join: rendered reply: text is over 5000 UTF-16 units"]
    assert limits.check_all(kb) == []
