"""Feedback buttons under answers and the reply to a tap (pure parts)."""

from __future__ import annotations

import pytest

from bot import feedback, limits, render
from bot.knowledge import KnowledgeBase
from bot.questionlog import Feedback

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJmYWtlIn0.c2lnbmF0dXJlX2Zha2U"


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_every_answer_gets_both_buttons_within_limits(kb: KnowledgeBase, lang: str) -> None:
    question = "LINEで500エラー & token " + JWT + " が出る。" * 40  # long, with a secret and an "&"
    for entry_id in (i for i, entry in kb.entries.items() if entry.text[lang].steps):
        messages = feedback.with_buttons(kb, render.answer_messages(kb, entry_id, lang), entry_id, lang, question)
        assert limits.check_messages(messages) == [], entry_id
        items = messages[-1]["quickReply"]["items"]
        taps = [feedback.parse(item["action"]["data"]) for item in items[:2]]
        assert taps[0] == Feedback(True, entry_id, lang, None)
        assert taps[1] is not None and (taps[1].helpful, taps[1].entry_id) == (False, entry_id)
        assert taps[1].text and taps[1].text.startswith("LINEで500エラー & token [token]")
        assert JWT not in items[1]["action"]["data"]
        assert items[-1]["action"]["data"] == render.postback_data(kb.ui.help, lang)  # the menu stays


def test_small_talk_and_menus_get_no_feedback_buttons(kb: KnowledgeBase) -> None:
    """ "hello", "thanks" and a rich-menu area's menu are answered with their buttons only: "was 'You're
    welcome!' helpful?" asks nothing, the menu's topics came after two feedback buttons, and a tap would count
    them among the answers in the report's helpful ratios. Entries without steps explain nothing to rate."""
    stepless = [i for i, entry in kb.entries.items() if not entry.text["en"].steps]
    assert {"smalltalk.greeting", "smalltalk.thanks", "menu.webhook"} <= set(stepless)
    for entry_id in stepless:
        for lang in ("ja", "en"):
            messages = feedback.with_buttons(kb, render.answer_messages(kb, entry_id, lang), entry_id, lang, "hi")
            assert messages == render.answer_messages(kb, entry_id, lang), entry_id
            datas = [item["action"]["data"] for item in messages[-1]["quickReply"]["items"]]
            assert not any(feedback.parse(data) for data in datas) and datas[-1].startswith("topic=bot.help")


def test_a_question_of_emoji_keeps_the_postback_data_within_300_utf16_units(kb: KnowledgeBase) -> None:
    """ "Not helpful" carries the question cut to 300 characters of data counted as code points: 300 emoji
    made ~550 UTF-16 units, the way LINE counts (as for a text's 5,000), so the reply would be refused."""
    question = "webhook 502 " + "🙂" * 300
    messages = feedback.with_buttons(
        kb, render.answer_messages(kb, "webhook.status.502", "en"), "webhook.status.502", "en", question
    )
    for item in messages[-1]["quickReply"]["items"]:
        data = item["action"]["data"]
        assert len(data.encode("utf-16-le")) // 2 <= 300, len(data.encode("utf-16-le")) // 2
    tap = feedback.parse(messages[-1]["quickReply"]["items"][1]["action"]["data"])
    assert tap is not None and tap.text is not None and tap.text.startswith("webhook 502 🙂")


def test_the_answer_itself_is_not_changed(kb: KnowledgeBase) -> None:
    entry_id = next(iter(kb.entries))
    before = render.answer_messages(kb, entry_id, "ja")
    snapshot = repr(before)
    feedback.with_buttons(kb, before, entry_id, "ja", "q")
    assert repr(before) == snapshot


def test_parse_refuses_what_is_not_feedback() -> None:
    assert feedback.parse(render.postback_data("line_app.500", "ja")) is None
    assert feedback.parse("fb=2&topic=line_app.500&lang=ja") is None
    assert feedback.parse("fb=1&lang=ja") is None
    assert feedback.parse("fb=1&topic=x&lang=fr") is None
    assert feedback.parse("fb") is None


def test_acknowledgements(kb: KnowledgeBase) -> None:
    entry_id = next(i for i, e in kb.entries.items() if e.related and i != kb.ui.help)
    (thanks,) = feedback.ack_messages(kb, Feedback(True, entry_id, "en"))
    assert thanks == {"type": "text", "text": kb.ui.text("en", "feedback_thanks")}
    (sorry,) = feedback.ack_messages(kb, Feedback(False, entry_id, "ja", "q"))
    first, *numbered = sorry["text"].split("\n")
    assert first == kb.ui.text("ja", "feedback_sorry")
    offered = [render.parse_postback(i["action"]["data"])[0] for i in sorry["quickReply"]["items"]]
    assert offered[-1] == kb.ui.help and set(kb[entry_id].related) <= set(offered)
    # The topics a number picks are listed in the text, in the buttons' order (LINE for PC has no buttons).
    assert numbered == [f"{n}. {render.entry_text(kb, i, 'ja')[0]}" for n, i in enumerate(offered, 1)]
    assert offered == feedback.related(kb, Feedback(False, entry_id, "ja", "q"))
    assert limits.check_messages([sorry]) == []


def test_planner_returns_what_to_log(kb: KnowledgeBase) -> None:
    from conftest import text_event
    from linebot.v3.webhooks import Event

    from bot import events
    from bot.matcher import Matcher
    from bot.types import Question

    matcher = Matcher(kb)
    ctx = events.Context(kb, matcher.match, lambda m: render.render(kb, m), lambda: None)
    entry_id = next(i for i, e in kb.entries.items() if e.related and i != kb.ui.help)
    tap = text_event("")
    tap.pop("message")
    tap.update(type="postback", postback={"data": feedback.postback_data(False, entry_id, "en", "my question")})
    reply = events.plan(Event.from_dict(tap), ctx)
    assert reply.log == Feedback(False, entry_id, "en", "my question")
    assert reply.offered == tuple(feedback.related(kb, Feedback(False, entry_id, "en")))
    asked = events.plan(Event.from_dict(text_event("what time is it")), ctx)
    assert asked.log == Question("fallback", "en", None, asked.log.score, (), "what time is it")
