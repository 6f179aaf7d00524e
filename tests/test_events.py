"""The event planner: a pure registry from event type to reply, tested without HTTP or a store."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import sample_events, text_event
from linebot.v3.webhooks import Event

from bot import events, feedback, menus, render
from bot.knowledge import KnowledgeBase
from bot.matcher import Matcher
from bot.types import Match, Question


class Offers:
    """A stand-in for the store's offer lookup that records whether it was asked."""

    def __init__(self, offer: events.Offer | None) -> None:
        self.offer = offer
        self.asked = 0

    def __call__(self) -> events.Offer | None:
        self.asked += 1
        return self.offer


def _ctx(kb: KnowledgeBase, matcher: Matcher, offers: Offers | None = None) -> events.Context:
    return events.Context(kb, matcher.match, lambda m: render.render(kb, m), offers or Offers(None))


def _plan(raw: dict[str, Any], ctx: events.Context) -> Any:
    return events.plan(Event.from_dict(raw), ctx)


def test_follow_gets_the_menu_named_in_ui_yaml(kb: KnowledgeBase, matcher: Matcher) -> None:
    follow = next(e for e in sample_events() if e["type"] == "follow")
    reply = _plan(follow, _ctx(kb, matcher))
    japanese, english = reply.by_language
    assert japanese.messages == render.answer_messages(kb, kb.ui.help, "ja")
    assert english.messages == render.answer_messages(kb, kb.ui.help, "en")
    # A profile that shares no language: the Japanese welcome, then a line saying English is spoken too.
    assert reply.messages[:-1] == [{k: v for k, v in m.items() if k != "quickReply"} for m in japanese.messages]
    assert reply.messages[-1]["text"] == kb.ui.text("en", "also")
    assert reply.offered == kb[kb.ui.help].related


def test_a_number_picks_from_the_last_offer_and_asks_the_store_only_then(kb: KnowledgeBase, matcher: Matcher) -> None:
    offers = Offers((("webhook.status.404", "webhook.status.405"), "en"))
    reply = _plan(text_event("２"), _ctx(kb, matcher, offers))
    answer = render.answer_messages(kb, "webhook.status.405", "en")
    assert reply.messages == feedback.with_buttons(kb, answer, "webhook.status.405", "en")
    assert reply.log == Question("pick", "en", "webhook.status.405", 100.0)
    assert offers.asked == 1
    _plan(text_event("my webhook answers 404"), _ctx(kb, matcher, offers))
    assert offers.asked == 1


def test_a_message_showing_no_language_keeps_the_conversations(kb: KnowledgeBase, matcher: Matcher) -> None:
    # The bot's Japanese help says: paste the reason and the detail. They are English in either console.
    pasted = "could_not_connect / TLS handshake failure"
    assert not matcher.match(pasted).lang_sure
    offers = Offers((("webhook.error_statistics",), "ja"))
    reply = _plan(text_event(pasted), _ctx(kb, matcher, offers))
    assert reply.lang == "ja" and offers.asked == 1
    japanese = matcher.match(pasted, "ja")
    assert japanese.entry_id is not None
    assert reply.messages == feedback.with_buttons(kb, render.render(kb, japanese), japanese.entry_id, "ja", pasted)
    # No conversation yet: the matcher's own guess stands. A sentence shows its language and is kept.
    assert _plan(text_event(pasted), _ctx(kb, matcher)).lang == "en"
    assert _plan(text_event("my webhook says TLS handshake failure"), _ctx(kb, matcher, offers)).lang == "en"


@pytest.mark.parametrize("text", ["❶", "⓶", "፩", "²", "0", "123"])
def test_digits_that_are_not_numbers_are_questions_not_picks(kb: KnowledgeBase, matcher: Matcher, text: str) -> None:
    ctx = _ctx(kb, matcher, Offers((("webhook.status.404",), "ja")))
    reply = _plan(text_event(text), ctx)
    found = matcher.match(text)
    expected = render.render(kb, found)
    if found.kind == "answer" and found.entry_id:
        expected = feedback.with_buttons(kb, expected, found.entry_id, found.lang, text)
    assert reply is not None and reply.messages == expected
    assert reply.log is not None and reply.log.text == text and reply.log.entry_id == found.entry_id


def test_menu_numbers_follow_the_buttons(kb: KnowledgeBase) -> None:
    """The terminal's numbers and LINE's buttons come from one list, the menu button last."""
    match = Match("answer", "ja", entry_id="webhook.status.404")
    numbered = menus.options(kb, match)
    (message,) = render.render(kb, match)
    labels = [item["action"]["label"] for item in message["quickReply"]["items"]]
    assert labels == [kb[i].text["ja"].label for i in [*numbered, kb.ui.help]]
    assert menus.pick("1", numbered) == numbered[0]
    assert menus.pick(str(len(numbered) + 1), numbered) is None


def test_events_without_a_handler_or_in_standby_are_quiet(kb: KnowledgeBase, matcher: Matcher) -> None:
    for raw in sample_events():
        if raw["type"] in {"unfollow", "leave", "unsend", "memberLeft"}:
            assert _plan(raw, _ctx(kb, matcher)) is None, raw["type"]
    assert _plan(text_event("webhook 404", mode="standby"), _ctx(kb, matcher)) is None


def test_a_sticker_gets_the_hint_in_the_conversations_language(kb: KnowledgeBase, matcher: Matcher) -> None:
    sticker = next(e for e in sample_events() if e["type"] == "message" and e["message"]["type"] == "sticker")
    sticker = {**sticker, "source": {"type": "user", "userId": "U" + "1" * 32}}
    english = _plan(sticker, _ctx(kb, matcher, Offers((("bot.help",), "en"))))
    assert english.messages == render.hint_messages(kb, "en") and english.lang == "en"
    assert _plan(sticker, _ctx(kb, matcher)).messages == render.hint_messages(kb, "ja")  # no conversation yet


def test_unparsed_message_gets_a_hint_only_in_a_one_to_one_chat(kb: KnowledgeBase) -> None:
    raw = text_event("x", message={"id": "1", "type": "hologram"})
    assert events.plan_unparsed(raw, kb).messages == render.hint_messages(kb)
    raw["source"] = {"type": "group", "groupId": "C" + "0" * 32, "userId": "U" + "1" * 32}
    assert events.plan_unparsed(raw, kb) is None
