"""The webhook through signed HTTP requests; replies asserted as the fake LINE API receives them."""

from __future__ import annotations

import json
import logging
from typing import Any

from conftest import (
    LOG_SINK,
    REPLY_PATH,
    SECRET,
    TOKEN,
    body_of,
    post,
    replies,
    sample_events,
    sign,
    text_event,
    wait_for,
)
from pytest_httpserver import HTTPServer

from bot.render import parse_postback


def _event(kind: str, **fields: Any) -> dict[str, Any]:
    """A 1:1 event of another type than message, e.g. _event("postback", postback={...})."""
    event = text_event("")
    event.pop("message")
    event.update(type=kind, **fields)
    return event


def _one_reply(line_api: HTTPServer) -> dict[str, Any]:
    assert wait_for(lambda: len(replies(line_api)) >= 1), "no reply reached the fake LINE API"
    got = replies(line_api)
    assert len(got) == 1, got
    return got[0]


def test_text_question_gets_flex_answer(client: Any, line_api: HTTPServer) -> None:
    event = text_event("TLSハンドシェイク失敗")
    response = post(client, [event])
    assert response.status_code == 200
    sent = _one_reply(line_api)
    request, _ = line_api.log[0]
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert sent["replyToken"] == event["replyToken"]
    (message,) = sent["messages"]
    assert message["type"] == "flex"
    assert "TLS handshake failure" in message["altText"]
    bubble = json.dumps(message["contents"], ensure_ascii=False)
    assert "fullchain.pem" in bubble and "/ja/docs/messaging-api/ssl-tls-spec-of-the-webhook-source/" in bubble
    related = [parse_postback(i["action"]["data"]) for i in message["quickReply"]["items"]]
    assert ("webhook.reason.could_not_connect", "ja", None) in related
    assert ("bot.help", "ja", None) in related


def test_ambiguous_question_asks_back_with_postbacks(client: Any, line_api: HTTPServer) -> None:
    post(client, [text_event("500エラーが出ます")])
    (message,) = _one_reply(line_api)["messages"]
    assert message["type"] == "text"
    picked = {parse_postback(i["action"]["data"])[0] for i in message["quickReply"]["items"]}
    assert picked == {"line_app.500", "webhook.status.500", "messaging_api.5xx"}
    labels = [i["action"]["label"] for i in message["quickReply"]["items"]]
    assert all(len(label) <= 20 for label in labels)


def test_postback_answers_that_entry(client: Any, line_api: HTTPServer) -> None:
    event = _event("postback", postback={"data": "topic=webhook.status.502&lang=en"})
    post(client, [event])
    (message,) = _one_reply(line_api)["messages"]
    assert message["type"] == "flex" and message["altText"].startswith("Webhook answers 502")


def test_postback_with_code_names_the_code(client: Any, line_api: HTTPServer) -> None:
    event = _event("postback", postback={"data": "topic=webhook.status.other&lang=en&code=418"})
    post(client, [event])
    (message,) = _one_reply(line_api)["messages"]
    assert "418" in message["altText"] and "I'm a Teapot" in message["altText"]


def test_unknown_postback_gets_menu(client: Any, line_api: HTTPServer) -> None:
    event = _event("postback", postback={"data": "action=buy&itemid=111"})
    post(client, [event])
    (message,) = _one_reply(line_api)["messages"]
    assert "使い方" in message["altText"]


def test_follow_gets_welcome(client: Any, line_api: HTTPServer) -> None:
    event = _event("follow", follow={"isUnblocked": False})
    post(client, [event])
    # The fake API has no profile to give: the language is unknown, so Japanese first, then a line in English.
    message, also = _one_reply(line_api)["messages"]
    assert message["altText"].startswith("エラー案内ボットの使い方")
    assert also["type"] == "text" and "English" in also["text"]
    assert len(also["quickReply"]["items"]) >= 3


def test_join_group_gets_introduction(client: Any, line_api: HTTPServer) -> None:
    event = _event("join", source={"type": "group", "groupId": "Cabc"})
    post(client, [event])
    (message,) = _one_reply(line_api)["messages"]
    assert message["type"] == "text" and "メンション" in message["text"]


def test_sticker_gets_hint(client: Any, line_api: HTTPServer) -> None:
    event = text_event("")
    event["message"] = {
        "id": "1",
        "type": "sticker",
        "packageId": "1",
        "stickerId": "1",
        "stickerResourceType": "STATIC",
        "quoteToken": "q",
    }
    post(client, [event])
    (message,) = _one_reply(line_api)["messages"]
    assert "could_not_connect" in message["text"]


def test_unknown_message_type_in_direct_chat_gets_hint(client: Any, line_api: HTTPServer) -> None:
    event = text_event("")
    event["message"] = {"id": "1", "type": "hologram"}
    assert post(client, [event]).status_code == 200
    (message,) = _one_reply(line_api)["messages"]
    assert message["type"] == "text"


def _group_text(text: str, mention_self: bool) -> dict[str, Any]:
    event = text_event(text, source={"type": "group", "groupId": "Cabc", "userId": "U1"})
    if mention_self:
        event["message"]["mention"] = {
            "mentionees": [{"index": 0, "length": 4, "type": "user", "userId": "Ubot", "isSelf": True}]
        }
    return event


def test_group_answers_only_when_mentioned(serial_client: Any, line_api: HTTPServer) -> None:
    post(serial_client, [_group_text("@bot unknown host", mention_self=False)])
    mentioned = _group_text("@bot unknown host", mention_self=True)
    post(serial_client, [mentioned])
    sent = _one_reply(line_api)  # one reply thread: the unmentioned event was handled before
    assert sent["replyToken"] == mentioned["replyToken"]
    assert "Unknown host" in sent["messages"][0]["altText"]


def test_group_never_gets_fallback(client: Any, line_api: HTTPServer) -> None:
    post(client, [_group_text("@bot おすすめのラーメン屋", mention_self=True)])
    post(client, [text_event("おすすめのラーメン屋")])  # a 1:1 chat does get the fallback
    sent = _one_reply(line_api)
    assert "見つかりませんでした" in sent["messages"][0]["text"]


def test_standby_and_quiet_events_get_no_reply(client: Any, line_api: HTTPServer) -> None:
    standby = text_event("unknown host", mode="standby")
    unfollow = _event("unfollow")
    unfollow.pop("replyToken")
    marker = text_event("hi")
    post(client, [standby, unfollow, marker])
    sent = _one_reply(line_api)
    assert sent["replyToken"] == marker["replyToken"]


def test_an_event_that_gets_no_reply_still_ends_in_one_log_line(
    serial_client: Any, line_api: HTTPServer, caplog: Any
) -> None:
    """Standby, unfollow and a group message without a mention logged nothing at all: an operator asking
    "why did the bot not answer in my group?" found no trace. Now one line each, without the user id."""
    caplog.set_level(logging.INFO, logger="bot")
    standby = text_event("unknown host", mode="standby")
    unfollow = _event("unfollow")
    unfollow.pop("replyToken")
    unmentioned = _group_text("unknown host", mention_self=False)
    newer = _event("somethingLineAddsLater")  # a type this SDK cannot parse: was "event skipped reason=ValueError"
    marker = text_event("hi")
    post(serial_client, [standby, unfollow, unmentioned, newer, marker])
    _one_reply(line_api)  # one reply thread: the quiet events were handled before the marker
    assert wait_for(lambda: any("msg=replied" in r.getMessage() for r in caplog.records))
    for event, fields in [
        (standby, "type=message mode=standby source=user"),
        (unfollow, "type=unfollow mode=active source=user"),
        (unmentioned, "type=message mode=active source=group"),
        (newer, "type=somethingLineAddsLater mode=active source=user"),
    ]:
        lines = [r.getMessage() for r in caplog.records if event["webhookEventId"] in r.getMessage()]
        parse = " parse=ValueError" if event is newer else ""
        assert lines == [f'msg="no reply" {fields} webhookEventId={event["webhookEventId"]}{parse}'], lines
    assert not any(standby["source"]["userId"] in r.getMessage() for r in caplog.records)


def test_verify_button_body_is_200(client: Any, line_api: HTTPServer) -> None:
    assert post(client, body='{"destination":"U1","events":[]}').status_code == 200
    assert line_api.log == []


def test_duplicate_and_redelivered_event_replied_once(serial_client: Any, line_api: HTTPServer) -> None:
    event = text_event("unknown host")
    again = dict(event, deliveryContext={"isRedelivery": True})
    marker = text_event("hi")
    for events in ([event], [again], [event, event], [marker]):
        assert post(serial_client, events).status_code == 200
    assert wait_for(lambda: any(r["replyToken"] == marker["replyToken"] for r in replies(line_api)))
    assert [r["replyToken"] for r in replies(line_api)] == [event["replyToken"], marker["replyToken"]]


def test_bad_signature_is_400_and_nothing_processed(client: Any, line_api: HTTPServer, caplog: Any) -> None:
    body = body_of([text_event("unknown host")])
    with caplog.at_level(logging.WARNING, logger="bot"):
        wrong = client.post(
            "/callback",
            data=body,
            headers={"Content-Type": "application/json", "X-Line-Signature": sign(body, "other-secret")},
        )
        missing = client.post("/callback", data=body, headers={"Content-Type": "application/json"})
    assert wrong.status_code == 400 and missing.status_code == 400
    assert "invalid X-Line-Signature" in caplog.text and "missing X-Line-Signature" in caplog.text
    assert line_api.log == []  # refused before anything was queued: the 400 came after intake


def test_signature_header_name_is_case_insensitive(client: Any, line_api: HTTPServer) -> None:
    body = body_of([text_event("hi")])
    response = client.post(
        "/callback", data=body, headers={"content-type": "application/json", "x-line-signature": sign(body)}
    )
    assert response.status_code == 200
    _one_reply(line_api)


def test_every_sample_event_is_taken_without_5xx(client: Any, line_api: HTTPServer) -> None:
    events = sample_events()
    for event in events:
        response = post(client, [event])
        assert response.status_code == 200, (event["type"], response.status_code)
    # text, image (room: quiet), video, audio, location, sticker, follow, join, postbacks, file, ...
    assert wait_for(lambda: len(replies(line_api)) >= 10)
    assert all(r["replyToken"] for r in replies(line_api))


def test_healthz_reports_entries_and_version(client: Any, kb: Any) -> None:
    data = client.get("/healthz").get_json()
    assert data["status"] == "ok" and data["entries"] == len(kb) and data["version"] == kb.version


def test_reply_path_is_the_sdk_endpoint(client: Any, line_api: HTTPServer) -> None:
    post(client, [text_event("hi")])
    _one_reply(line_api)
    request, response = line_api.log[0]
    assert request.path == REPLY_PATH and request.method == "POST" and response.status_code == 200


def test_logs_are_collected_and_carry_no_user_text_or_secret(client: Any, line_api: HTTPServer) -> None:
    """The run-wide secret check (conftest) sees the bot's log lines; user text stays out at info."""
    before = len(LOG_SINK)
    question = "秘密の質問 unknown host 1234"
    post(client, [text_event(question)])
    _one_reply(line_api)
    assert wait_for(lambda: any("msg=replied status=200" in line for line in LOG_SINK[before:]))
    new = "\n".join(LOG_SINK[before:])
    assert question not in new and SECRET not in new and TOKEN not in new


def test_reply_json_is_exactly_the_rendered_messages(client: Any, line_api: HTTPServer, kb: Any) -> None:
    from bot import feedback, render
    from bot.matcher import Matcher

    question = "could_not_connect TLS handshake failure"
    post(client, [text_event(question)])
    sent = _one_reply(line_api)
    found = Matcher(kb).match(question)
    assert found.entry_id
    rendered = feedback.with_buttons(kb, render.render(kb, found), found.entry_id, found.lang, question)
    assert sent["messages"] == rendered
    assert sent.keys() - {"notificationDisabled"} == {"replyToken", "messages"}
    assert sent.get("notificationDisabled", False) is False  # the SDK model's default


def test_number_picks_a_choice_from_the_last_question(client: Any, line_api: HTTPServer, kb: Any) -> None:
    """LINE for PC shows no quick replies: the clarify text is numbered and "2" picks the second."""
    from bot.render import parse_postback

    post(client, [text_event("timeout")])
    (ask,) = _one_reply(line_api)["messages"]
    second = parse_postback(ask["quickReply"]["items"][1]["action"]["data"])[0]
    post(client, [text_event("２")])  # full-width digits too
    assert wait_for(lambda: len(replies(line_api)) == 2)
    (answer,) = replies(line_api)[1]["messages"]
    assert answer["altText"].startswith(kb[second].text["en"].title)


def test_number_without_a_previous_question_says_there_is_nothing_to_pick(
    client: Any, line_api: HTTPServer, kb: Any
) -> None:
    event = text_event("7", source={"type": "user", "userId": "Unever-asked"})
    post(client, [event])
    (message,) = _one_reply(line_api)["messages"]
    assert message["text"] == "\n\n".join(kb.ui.text(lang, "number_none") for lang in ("ja", "en"))


def test_bare_mention_in_group_gets_menu(client: Any, line_api: HTTPServer) -> None:
    post(client, [_group_text("@bot", mention_self=True)])
    (message,) = _one_reply(line_api)["messages"]
    assert message["altText"].startswith("エラー案内ボットの使い方")
