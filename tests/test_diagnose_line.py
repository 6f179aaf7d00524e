"""The LINE path: a message asking to check a URL -> 200 -> probe of a local server -> Flex reply at the fake API."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import trustme
from conftest import post, replies, text_event, wait_for
from diagnose_servers import Server, answer, self_signed_context, server_context
from linebot.v3.webhooks import Event
from pytest_httpserver import HTTPServer

from bot import diagnose_data, events, limits
from bot.diagnose import Diagnoser, Options
from bot.diagnose_request import recognise
from bot.ratelimit import MemoryRateLimiter
from bot.render import parse_postback
from bot.types import Match


@pytest.fixture
def loopback(monkeypatch: pytest.MonkeyPatch, ca: trustme.CA, tmp_path: Any) -> str:
    """The two test-only settings, as a test deployment would set them (before the app: read at start-up)."""
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    monkeypatch.setenv("DIAGNOSE_ALLOW_LOOPBACK", "1")
    monkeypatch.setenv("DIAGNOSE_CA_FILE", str(path))
    return str(path)


@pytest.fixture
def app(loopback: str, line_api: HTTPServer, tmp_path: Any, kb: Any, matcher: Any) -> Iterator[Any]:
    """conftest's app, made after the test-only settings are in the environment."""
    from conftest import settings_for

    from bot.app import create_app

    application = create_app(settings_for(line_api.url_for("/"), tmp_path), kb, matcher)
    yield application
    application.extensions["line_error_bot"].shutdown(5.0)


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        server.close()


def _one_reply(line_api: HTTPServer) -> dict[str, Any]:
    assert wait_for(lambda: len(replies(line_api)) >= 1), "no reply reached the fake LINE API"
    (got,) = replies(line_api)
    return got


def test_probe_runs_after_the_webhook_200_and_replies_with_the_finding(
    loopback: str, client: Any, line_api: HTTPServer, ca: trustme.CA, servers: list[Server]
) -> None:
    answered = threading.Event()  # set once the webhook's 200 is in hand

    def after_webhook(conn: Any, request: bytes) -> None:
        # Probed before the 200, this would wait out LINE's 2 s and the finding would be request_timeout.
        answered.wait(10)
        answer(200)(conn, request)

    server = Server(after_webhook, server_context(ca.issue_cert("127.0.0.1")))
    servers.append(server)
    event = text_event(f"{server.url()} を診断して")
    response = post(client, [event])
    assert response.status_code == 200
    answered.set()
    sent = _one_reply(line_api)
    assert sent["replyToken"] == event["replyToken"]
    (message,) = sent["messages"]
    assert message["type"] == "flex" and "問題なし" in message["altText"]
    assert len(server.requests) == 1 and b"/callback" in server.requests[0]
    assert not limits.check_messages(sent["messages"])


def test_bad_certificate_reply_names_line_reason_and_entry(
    loopback: str, client: Any, line_api: HTTPServer, servers: list[Server], tmp_path: Any
) -> None:
    server = Server(answer(200), self_signed_context(tmp_path))
    servers.append(server)
    post(client, [text_event(f"check {server.url()}")])
    messages = _one_reply(line_api)["messages"]
    assert [m["type"] for m in messages] == ["flex", "flex"]
    finding, entry = messages
    assert "could_not_connect" in finding["altText"] and "TLS handshake failure" in finding["altText"]
    assert "self-signed" in finding["altText"] and "LINE would fail" in finding["altText"]
    bubble = json.dumps(finding["contents"], ensure_ascii=False)
    assert "127.0.0.1" in bubble and "Measured" in bubble
    assert "fullchain.pem" in entry["altText"]  # the entry's steps, in English like the request
    related = [parse_postback(i["action"]["data"]) for i in entry["quickReply"]["items"]]
    assert ("webhook.reason.could_not_connect", "en", None) in related
    assert not limits.check_messages(messages)


def test_a_number_after_a_finding_picks_among_its_related_topics(
    loopback: str, client: Any, line_api: HTTPServer, servers: list[Server], tmp_path: Any, kb: Any
) -> None:
    server = Server(answer(200), self_signed_context(tmp_path))
    servers.append(server)
    post(client, [text_event(f"check {server.url()}")])
    assert wait_for(lambda: len(replies(line_api)) == 1)
    first = kb["webhook.detail.tls_handshake_failure"].related[0]
    post(client, [text_event("1")])
    assert wait_for(lambda: len(replies(line_api)) == 2), "the number got no reply"
    picked = replies(line_api)[1]["messages"][0]
    assert kb[first].text["en"].title in picked["altText"]


def test_refused_url_gets_a_clear_reply_and_no_connection(loopback: str, client: Any, line_api: HTTPServer) -> None:
    post(client, [text_event("https://169.254.169.254/latest/meta-data を診断して")])
    (message,) = _one_reply(line_api)["messages"]
    assert message["type"] == "text" and "診断できません" in message["text"] and "リンクローカル" in message["text"]


@pytest.mark.parametrize(
    "text",
    [
        "check example.com/callback",
        "example.com/callback を診断して",
        "bot.example.com/callback",
        "check ftp://example.com/cb",
    ],
)
def test_a_url_without_https_is_invalid_url_syntax(loopback: str, client: Any, line_api: HTTPServer, text: str) -> None:
    """A webhook URL sent without https:// (or with another scheme) when asked to check it, or alone after
    the menu's "send your webhook URL", got "no answer fits" and three unrelated topics. LINE's console
    refuses it as "Invalid URL syntax": so does the check, before any DNS or connection."""
    post(client, [text_event(text)])
    finding, answer = _one_reply(line_api)["messages"]
    assert "Invalid URL syntax" in finding["altText"] and "https://" in finding["altText"]
    assert answer["altText"].split("\n")[0].endswith("Invalid URL syntax")  # the detail's own entry
    # In a question, such a word is the question's: "I checked node.js/express" asks nothing to be checked.
    data = diagnose_data.load()
    assert recognise("I checked node.js/express and it fails", data, addressed=True) is None
    assert recognise("api.line.me/v2/bot/message/push returns 400", data, addressed=True) is None


def test_a_long_url_of_emoji_width_letters_still_gets_a_reply_within_lines_limits(
    loopback: str, client: Any, line_api: HTTPServer
) -> None:
    """A URL of 2,000 letters outside the BMP (𠀀: two UTF-16 units each, as LINE counts) put ~2,900 units in
    the finding's altText, cut at 1,500 characters: LINE refuses such a reply and the user got nothing."""
    post(client, [text_event("check https://" + "\U00020000" * 2000 + ".jp/callback")])
    messages = _one_reply(line_api)["messages"]
    assert "Invalid URL syntax" in messages[0]["altText"]  # over 500 characters: before any DNS
    assert limits.check_messages(messages) == []


@pytest.mark.parametrize(
    "text",
    [
        "Testing push with curl and I get 415, what header am I missing?\n\n$ curl -i -X POST "
        "https://api.line.me/v2/bot/message/push -H 'Authorization: Bearer xxx' -d '{}'\nHTTP/1.1 415",
        "Not working when verifying webhook URL on LINE platform. I press the Verify on "
        "https://developers.line.biz/console/ after setting a new webhook URL and it fails every time",
        "APIでWebhook URLを変更して、その直後にテストしたら404でした。1分後にもう一度やったら成功。"
        "何だったんでしょう？ "
        "PUT https://api.line.me/v2/bot/channel/webhook/endpoint",
    ],
)
def test_a_question_holding_a_url_and_a_request_word_is_answered_not_probed(
    kb: Any, data: diagnose_data.DiagnoseData, text: str
) -> None:
    """A question or paste holding a URL and "test", "check" or 「テスト」 anywhere ("Testing push with curl …
    https://api.line.me/…") was taken for a request: the bot probed api.line.me or LINE's console and answered
    with that finding instead of the question. 19 questions of the question files were; now none is but a
    URL alone."""
    matched: list[str] = []
    ctx = events.Context(kb, lambda t: matched.append(t) or Match("fallback", "en"), lambda m: [], lambda: None, data)
    planned = events.plan(Event.from_dict(text_event(text)), ctx)
    assert planned is not None and planned.probe is None and matched == [text]
    # A request still may say a sentence around its URL.
    for request in (
        "Could you please check whether my webhook URL works? https://bot.example.com/callback",
        "このWebhook URLがLINEから届くか確認してもらえますか？ https://example.com/callback",
        "Webhook URL:\nhttps://example.com/callback\n確認お願いします",
    ):
        assert recognise(request, data, addressed=True) is not None, request


def test_url_alone_in_a_one_to_one_chat_is_a_request(data: diagnose_data.DiagnoseData) -> None:
    assert recognise("https://example.com/callback", data, addressed=True).url == "https://example.com/callback"
    request = recognise("「https://example.com/callback」を診断して", data, addressed=True)
    assert request.url == "https://example.com/callback" and request.lang == "ja"
    assert recognise("please check https://example.com/cb.", data, addressed=True).lang == "en"
    assert (
        recognise("（https://example.com/callback）を確認して", data, addressed=True).url
        == "https://example.com/callback"
    )
    typo = recognise("https://example.com／callback を診断", data, addressed=True)
    assert typo.url == "https://example.com／callback"  # checked as written: LINE's "Invalid URL syntax"
    assert recognise("TLS handshake failure on https://example.com/callback", data, addressed=True) is None
    assert recognise("could_not_connect TLS handshake failure", data, addressed=True) is None


def test_a_url_with_only_filler_words_is_a_url_alone(data: diagnose_data.DiagnoseData) -> None:
    # What people send after the menu's "check a URL": the URL with a label or a copula, nothing more.
    for text in (
        "URL: https://example.com/callback",
        "https://example.com/callback です",
        "my webhook is https://example.com/cb",
    ):
        assert recognise(text, data, addressed=True) is not None, text
        assert recognise(text, data, addressed=False) is None, text  # a group member must still ask
    assert not recognise("URL: https://example.com/callback", data, addressed=True).lang_sure
    assert recognise("https://example.com/callback です", data, addressed=True).lang == "ja"
    assert recognise("my webhook is https://example.com/cb", data, addressed=True).lang_sure
    # Words that say something else still make it a question, not a request.
    assert recognise("my webhook https://example.com/cb returns 502", data, addressed=True) is None


def test_a_url_alone_is_checked_in_the_conversations_language(kb: Any, data: diagnose_data.DiagnoseData) -> None:
    assert not recognise("https://example.com/callback", data, addressed=True).lang_sure
    english = events.Context(kb, lambda text: Match("fallback", "en"), lambda m: [], lambda: ((), "en"), diagnose=data)
    planned = events.plan(Event.from_dict(text_event("https://example.com/callback")), english)
    assert planned is not None and planned.probe == "https://example.com/callback" and planned.lang == "en"
    asked = events.plan(Event.from_dict(text_event("https://example.com/callback を診断して")), english)
    assert asked is not None and asked.lang == "ja"  # the request's own words say Japanese


def test_a_url_with_a_japanese_host_name_is_checked(kb: Any, data: diagnose_data.DiagnoseData) -> None:
    """「https://例え.jp/callback を診断して」 got "no answer fits" (and "check https://例え.jp/…" a Japanese
    answer about HTTPS): the URL was not seen, as it ran only over ASCII. The guard encodes such a host."""
    asked: list[str] = []
    diagnoser = Diagnoser(
        kb, data, Options(), MemoryRateLimiter(), resolver=lambda h, t: asked.append(h) or ["10.0.0.1"]
    )
    ctx = events.Context(kb, lambda text: Match("fallback", "ja"), lambda m: [], lambda: None, diagnose=data)
    for text, lang in (("https://例え.jp/callback を診断して", "ja"), ("check https://例え.jp/callback", "en")):
        planned = events.plan(Event.from_dict(text_event(text)), ctx)
        assert planned is not None and planned.probe == "https://例え.jp/callback" and planned.lang == lang, text
        messages, note, _ = diagnoser.reply(planned.probe, planned.lang, "U1")
        assert note.startswith("diagnose: refused") and "xn--r8jz45g.jp" in messages[0]["text"]  # 10.0.0.1
    assert asked == ["xn--r8jz45g.jp"] * 2  # the stub resolver only: nothing was connected to
    # Japanese right after an ASCII host or path still ends the URL.
    assert recognise("https://example.comを診断して", data, addressed=True).url == "https://example.com"
    assert recognise("https://例え.jp/cbを診断して", data, addressed=True).url == "https://例え.jp/cb"


def _group_event(text: str, mentioned: bool) -> Event:
    raw = text_event(text, source={"type": "group", "groupId": "C" + "1" * 32, "userId": "U" + "2" * 32})
    if mentioned:
        raw["message"]["text"] = "@bot " + text
        raw["message"]["mention"] = {"mentionees": [{"index": 0, "length": 4, "type": "user", "isSelf": True}]}
    return Event.from_dict(raw)


def test_groups_only_when_mentioned(kb: Any, data: diagnose_data.DiagnoseData) -> None:
    ctx = events.Context(kb, lambda text: Match("fallback", "ja"), lambda match: [], lambda: None, diagnose=data)
    assert events.plan(_group_event("https://example.com/callback を診断して", False), ctx) is None
    planned = events.plan(_group_event("https://example.com/callback を診断して", True), ctx)
    assert planned is not None and planned.probe == "https://example.com/callback" and planned.messages == []


def test_rate_limits_per_chat_without_probing(kb: Any, data: diagnose_data.DiagnoseData) -> None:
    diagnoser = Diagnoser(kb, data, Options(), MemoryRateLimiter(), resolver=lambda host, timeout: ["10.0.0.1"])
    notes = [diagnoser.reply("https://example.com/cb", "en", "U1")[1] for _ in range(data.per_chat.count)]
    assert all(note.startswith("diagnose: refused") for note in notes)  # probed (and refused: 10.0.0.1)
    messages, note, _ = diagnoser.reply("https://example.com/cb", "en", "U1")
    assert note == "diagnose: rate limited" and "wait" in messages[0]["text"]
    assert diagnoser.reply("https://example.com/cb", "en", "U2")[1].startswith("diagnose: refused")


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_worst_case_finding_fits_line_limits(kb: Any, data: diagnose_data.DiagnoseData, lang: str) -> None:
    from bot import diagnose_render
    from bot.diagnosis import Cert, Facts, diagnose

    facts = Facts(
        url="https://" + "a" * 60 + ".example.com/" + "p" * 420,
        addresses=tuple(f"2606:4700:{i:x}::1111" for i in range(40)),
        address="2606:4700::1111",
        connect_ms=12.0,
        tls_error="verify",
        verify_code=62,
        tls_info="x" * 2000,
        cert=Cert("CN=" + "i" * 300, "CN=s", tuple(f"name{i}.example.com" for i in range(200)), None),
        verified=False,
    )
    finding = diagnose(facts, kb)
    messages = diagnose_render.messages(finding, kb, data, lang)
    assert finding.detail == "TLS handshake failure" and len(messages) == 2
    assert not limits.check_messages(messages)


def test_missing_test_ca_file_stops_start_up(monkeypatch: pytest.MonkeyPatch, kb: Any, tmp_path: Any) -> None:
    from conftest import settings_for

    from bot.app import create_app
    from bot.config import ConfigError

    monkeypatch.setenv("DIAGNOSE_CA_FILE", str(tmp_path / "missing.pem"))
    with pytest.raises(ConfigError, match="DIAGNOSE_CA_FILE"):
        create_app(settings_for("http://127.0.0.1:9", tmp_path), kb)
