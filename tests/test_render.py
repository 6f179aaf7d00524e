"""Rendering: message dicts exactly as the reply API takes them, within LINE's limits."""

import json
import re
from urllib.parse import urlsplit

import pytest
from linebot.v3.messaging import ReplyMessageRequest

from bot import feedback, limits, menus, render
from bot.knowledge import KnowledgeBase
from bot.matcher import Matcher
from bot.types import Match


def test_every_entry_renders_and_parses_with_the_sdk(kb: KnowledgeBase) -> None:
    for entry_id in kb.entries:
        for lang in ("ja", "en"):
            messages = render.answer_messages(kb, entry_id, lang)
            assert limits.check_messages(messages) == [], entry_id
            request = ReplyMessageRequest.from_dict({"replyToken": "t", "messages": messages})
            assert len(request.messages) == len(messages)


def test_answer_bubble_has_title_steps_and_link_buttons(kb: KnowledgeBase) -> None:
    (message,) = render.answer_messages(kb, "webhook.detail.tls_handshake_failure", "en")
    bubble = message["contents"]
    assert bubble["header"]["contents"][0]["text"] == "Detail: TLS handshake failure"
    numbers = [box["contents"][0]["text"] for box in bubble["body"]["contents"] if box["type"] == "box"]
    assert numbers == ["1.", "2.", "3.", "4."]
    uris = [b["action"]["uri"] for b in bubble["footer"]["contents"]]
    assert uris[0] == "https://developers.line.biz/en/docs/messaging-api/ssl-tls-spec-of-the-webhook-source/"
    assert "quickReply" in message and "altText" in message  # camelCase, as the API takes it


def test_japanese_answer_links_japanese_pages(kb: KnowledgeBase) -> None:
    (message,) = render.answer_messages(kb, "webhook.error_statistics", "ja")
    uris = [b["action"]["uri"] for b in message["contents"]["footer"]["contents"]]
    assert all("/ja/docs/" in uri for uri in uris)


def test_clarify_has_one_postback_per_choice(kb: KnowledgeBase, matcher: Matcher) -> None:
    match = matcher.match("timeout")
    (message,) = render.render(kb, match)
    data = [render.parse_postback(i["action"]["data"]) for i in message["quickReply"]["items"]]
    assert [d[0] for d in data] == list(match.choices)
    assert all(
        item["action"]["label"] == kb[d[0]].text["en"].label
        for item, d in zip(message["quickReply"]["items"], data, strict=True)
    )


def test_fallback_suggests_at_most_three_and_menu(kb: KnowledgeBase, matcher: Matcher) -> None:
    (message,) = render.render(kb, matcher.match("明日の天気"))
    assert "見つかりませんでした" in message["text"] and "could_not_connect" in message["text"]
    ids = [render.parse_postback(i["action"]["data"])[0] for i in message["quickReply"]["items"]]
    assert ids[-1] == "bot.help" and 1 <= len(ids) - 1 <= 3


@pytest.mark.parametrize("question", ["明日の天気", "what time is it", "webhook asdf"])
def test_fallback_numbers_its_suggestions_in_the_text(kb: KnowledgeBase, matcher: Matcher, question: str) -> None:
    """ "Did you mean one of these?" ended the text with nothing after it: the topics were quick replies only,
    which LINE for PC does not show, though a number picks them. Now numbered as a question back is, in the
    order of the buttons (and once in the terminal)."""
    match = matcher.match(question)
    assert match.kind == "fallback" and not match.entry_id
    (message,) = render.render(kb, match)
    ids = [render.parse_postback(i["action"]["data"])[0] for i in message["quickReply"]["items"]][:-1]
    titles = [render.entry_text(kb, i, match.lang)[0] for i in ids]
    assert ids and message["text"].endswith("\n".join(f"{n}. {t}" for n, t in enumerate(titles, 1)))
    assert render.render_text(kb, match) == message["text"]


def test_other_status_names_code_and_phrase(kb: KnowledgeBase) -> None:
    (message,) = render.render(kb, Match("answer", "ja", entry_id="webhook.status.other", code=422))
    assert "422" in message["altText"] and "Unprocessable" in message["altText"]
    assert "{code}" not in json.dumps(message, ensure_ascii=False)


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_other_status_without_a_code_asks_for_it(kb: KnowledgeBase, lang: str) -> None:
    """Its button (under error_status_code) carries no code: the summary said 'answered a non-2xx code
    (error) ... The standard meaning of this code is "error"'; it now asks for the code instead."""
    (message,) = render.answer_messages(kb, kb.ui.other_status, lang)
    summary = message["contents"]["body"]["contents"][0]["text"]
    assert summary == kb.ui.text(lang, "other_summary") and "error_status_code 418" in summary
    phrase = kb.ui.text(lang, "other_phrase")
    assert f"（{phrase}）" not in message["altText"] and f"({phrase})" not in message["altText"]
    assert "{code}" not in json.dumps(message, ensure_ascii=False) and "{phrase}" not in message["altText"]


def test_a_deflection_shown_by_id_keeps_its_links(kb: KnowledgeBase) -> None:
    """`show outside.payments` (and a postback naming a deflection) rendered its summary alone: the Help
    Center link that is its whole answer was dropped (step-less entries became a bare text). Now it is the
    same deflection a question gets."""
    deflections = [i for i, entry in kb.entries.items() if entry.audience == "outside"]
    assert deflections
    for entry_id in deflections:
        for lang in ("ja", "en"):
            asked = render.render(kb, Match("fallback", lang, entry_id=entry_id))
            assert render.answer_messages(kb, entry_id, lang) == asked
            text = render.answer_text(kb, entry_id, lang)
            assert text == asked[0]["text"]
            assert all(link.url in text for link in kb[entry_id].links[lang]), entry_id


@pytest.mark.parametrize("data", ["", "topic=", "a=b", "topic=x&lang=fr", "%%%", "topic=bot.help&code=99999"])
def test_parse_postback_rejects_or_sanitises(data: str) -> None:
    parsed = render.parse_postback(data)
    assert parsed is None or parsed[2] is None


def test_postback_roundtrip() -> None:
    data = render.postback_data("webhook.status.other", "en", 418)
    assert render.parse_postback(data) == ("webhook.status.other", "en", 418)
    assert len(data) <= 300


def test_check_messages_catches_limits() -> None:
    too_many = [{"type": "text", "text": "x"}] * 6
    assert limits.check_messages(too_many)
    long_text = [{"type": "text", "text": "😀" * 2501}]  # 5,002 UTF-16 units
    assert any("UTF-16" in p for p in limits.check_messages(long_text))


def test_every_message_kind_parses_with_the_sdk(kb: KnowledgeBase, matcher: Matcher) -> None:
    """The sender hands these dicts to the SDK without re-validating them: prove they are valid."""
    kinds = [
        render.render(kb, matcher.match("timeout")),
        render.render(kb, matcher.match("500")),
        render.render(kb, matcher.match("明日の天気")),
        render.render(kb, matcher.match("what time is it")),
        render.render(kb, Match("answer", "en", entry_id="webhook.status.other", code=418)),
        render.hint_messages(kb),
        render.join_messages(kb),
    ]
    for messages in kinds:
        assert limits.check_messages(messages) == []
        request = ReplyMessageRequest.from_dict({"replyToken": "t", "messages": messages})
        assert request.to_dict()["messages"] == messages


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_an_answers_related_topics_are_numbered_on_screen(kb: KnowledgeBase, lang: str) -> None:
    # LINE for PC shows no quick-reply buttons: the numbers a typed "2" picks must be in the message itself,
    # in the order the reply offers them (menus.options), for a Flex answer and for a text-only one.
    flex_entry = next(e for e in kb.entries.values() if e.related and e.text[lang].steps and e.audience != "outside")
    text_entry = next((e for e in kb.entries.values() if e.related and not e.text[lang].steps), None)
    for entry in (flex_entry, text_entry):
        if entry is None:
            continue
        (message,) = render.answer_messages(kb, entry.id, lang)
        shown = json.dumps(message.get("contents") or message["text"], ensure_ascii=False)
        for number, related in enumerate(menus.options(kb, Match("answer", lang, entry_id=entry.id)), 1):
            assert f"{number}. {kb[related].text[lang].label}" in shown


def _strings(node: object, key: str = "") -> list[tuple[str, str]]:
    """Every (key, string) in a message tree."""
    if isinstance(node, dict):
        return [pair for k, v in node.items() for pair in _strings(v, k)]
    if isinstance(node, list):
        return [pair for v in node for pair in _strings(v, key)]
    return [(key, node)] if isinstance(node, str) else []


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_every_entry_as_sent_has_no_placeholder_empty_text_or_bad_link(kb: KnowledgeBase, lang: str) -> None:
    """Every entry, as a user gets it (feedback buttons, a long question in "not helpful", with and without a
    status code): no `{code}`-style placeholder left, no empty text, https links of the reply's language,
    steps numbered from 1."""
    for entry_id in kb.entries:
        for code in (None, 418):
            messages = render.answer_messages(kb, entry_id, lang, code)
            messages = feedback.with_buttons(kb, messages, entry_id, lang, "質問 question " * 40)
            assert limits.check_messages(messages) == [], (entry_id, lang)
            for key, value in _strings(messages):
                where = (entry_id, lang, key, value[:60])
                assert value.strip(), where
                if key != "data":  # postback data carries the question as typed
                    assert not re.search(r"\{[a-z_]+\}", value), where  # API paths' {userId} are camelCase
                if key == "uri":
                    parts = urlsplit(value)
                    assert parts.scheme == "https" and parts.hostname and " " not in value, where
                    if parts.hostname == "developers.line.biz":
                        assert f"/{lang}/" in parts.path, where
            for message in messages:
                if message["type"] == "flex":
                    body = message["contents"]["body"]["contents"]
                    numbers = [box["contents"][0]["text"] for box in body if box["type"] == "box"]
                    assert numbers == [f"{n}." for n in range(1, len(numbers) + 1)], entry_id
                    assert len(numbers) == len(kb[entry_id].text[lang].steps), entry_id
