"""Conversations of several turns and several people, as LINE delivers them: signed webhooks -> the app ->
the reply pool -> the SDK client -> the scripted fake LINE API (scripts/fake_line.py), one reply thread so
each turn is handled in order."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import app_for, post, text_event

from bot import limits, menus, render
from bot.knowledge import KnowledgeBase
from bot.matcher import Matcher
from scripts.fake_line import FakeLine

ASKER = "U" + "a" * 32
OTHER = "U" + "b" * 32
GROUP = "C" + "c" * 32
BOT = "U" + "f" * 32


class Chat:
    """Sends events one webhook at a time and returns the reply each gets, waiting on the fake's record."""

    def __init__(self, client: Any, fake: FakeLine) -> None:
        self.client = client
        self.fake = fake

    def send(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        """The messages of the reply to `event` (the event must get one)."""
        before = len(self.fake.requests)
        assert post(self.client, [event]).status_code == 200
        assert self.fake.wait(lambda f: len(f.requests) > before), "no reply reached the fake LINE API"
        body = json.loads(self.fake.requests[before][1])
        assert body["replyToken"] == event["replyToken"]
        return body["messages"]

    def quiet(self, event: dict[str, Any]) -> None:
        """Send `event`, which must get no reply: the next event's reply is the signal it was handled."""
        before = len(self.fake.requests)
        assert post(self.client, [event]).status_code == 200
        marker = text_event("hello", source={"type": "user", "userId": "U" + "0" * 32})
        self.send(marker)
        tokens = [json.loads(body)["replyToken"] for _, body in self.fake.requests[before:]]
        assert tokens == [marker["replyToken"]], tokens


@pytest.fixture
def chat(fake_line: FakeLine, tmp_path: Path, kb: KnowledgeBase) -> Iterator[Chat]:
    with app_for(fake_line.url, tmp_path, kb, reply_threads=1) as application:
        yield Chat(application.test_client(), fake_line)


def said(user: str, text: str) -> dict[str, Any]:
    return text_event(text, source={"type": "user", "userId": user})


def said_in_group(user: str, text: str, mention: bool = True) -> dict[str, Any]:
    """A group message; with `mention`, "@ErrorBot " before the text, mentioning the bot (isSelf)."""
    source = {"type": "group", "groupId": GROUP, "userId": user}
    event = text_event(("@ErrorBot " if mention else "") + text, source=source)
    if mention:
        mentionee = {"index": 0, "length": 9, "type": "user", "userId": BOT, "isSelf": True}
        event["message"]["mention"] = {"mentionees": [mentionee]}
    return event


def tapped(user: str, data: str) -> dict[str, Any]:
    event = said(user, "")
    event.pop("message")
    event.update(type="postback", postback={"data": data})
    return event


def picks(message: dict[str, Any]) -> list[str]:
    """The entry ids a message's quick replies ask for."""
    return [render.parse_postback(item["action"]["data"])[0] for item in message["quickReply"]["items"]]


def nothing_to_pick(kb: KnowledgeBase) -> str:
    """ "Nothing to pick by number" in every language, as said to someone with no conversation yet."""
    return "\n\n".join(kb.ui.text(lang, "number_none") for lang in ("ja", "en"))


def title(kb: KnowledgeBase, entry_id: str, lang: str) -> str:
    return render.entry_text(kb, entry_id, lang)[0]


def test_a_number_out_of_range_lists_the_choices_again_and_they_still_count(chat: Chat, kb: KnowledgeBase) -> None:
    (ask,) = chat.send(said(ASKER, "timeout"))
    choices = picks(ask)[:4]
    (again,) = chat.send(said(ASKER, "7"))  # four were offered
    assert again["type"] == "text"
    assert again["text"].startswith(kb.ui.text("en", "number_range").replace("{count}", "4"))
    assert [f"{n}. {title(kb, c, 'en')}" for n, c in enumerate(choices, 1)] == again["text"].splitlines()[1:]
    assert picks(again) == [*choices, kb.ui.help]
    (answer,) = chat.send(said(ASKER, "2"))
    assert answer["altText"].startswith(title(kb, choices[1], "en"))


def test_a_number_with_nothing_to_pick_says_so_instead_of_a_fallback(chat: Chat, kb: KnowledgeBase) -> None:
    """ "2" from someone never offered choices (or whose choices expired: the store forgets them after 30
    minutes) picked nothing and was matched as a question: "Sorry, no answer fits", three unrelated topics."""
    (reply,) = chat.send(said(OTHER, "2"))
    assert reply["text"] == nothing_to_pick(kb)  # no conversation says which language: both
    assert picks(reply) == [kb.ui.help, kb.ui.help]


def test_choices_survive_a_restart(fake_line: FakeLine, tmp_path: Path, kb: KnowledgeBase) -> None:
    with app_for(fake_line.url, tmp_path, kb, reply_threads=1) as application:
        (ask,) = Chat(application.test_client(), fake_line).send(said(ASKER, "timeout"))
    with app_for(fake_line.url, tmp_path, kb, reply_threads=1) as application:  # same store file
        (answer,) = Chat(application.test_client(), fake_line).send(said(ASKER, "3"))
    assert answer["altText"].startswith(title(kb, picks(ask)[2], "en"))


def test_in_a_group_numbers_need_a_mention_and_stay_with_their_asker(chat: Chat, kb: KnowledgeBase) -> None:
    """The bot answers a group only when mentioned, so its question back there says to mention it with the
    number (it said "send its number", and a bare "2" got silence); another member's "@bot 2" never picks the
    asker's choice."""
    (ask,) = chat.send(said_in_group(ASKER, "timeout"))
    assert ask["text"].splitlines()[0] == kb.ui.text("en", "clarify_group")
    choices = picks(ask)
    (other,) = chat.send(said_in_group(OTHER, "2"))
    assert other["text"] == nothing_to_pick(kb)
    chat.quiet(said_in_group(ASKER, "2", mention=False))
    (answer,) = chat.send(said_in_group(ASKER, "2"))
    assert answer["altText"].startswith(title(kb, choices[1], "en"))
    (one_to_one,) = chat.send(said(ASKER, "timeout"))  # a 1:1 chat keeps the plain prompt
    assert one_to_one["text"].splitlines()[0] == kb.ui.text("en", "clarify")


def test_the_menu_keeps_the_conversations_language(chat: Chat, kb: KnowledgeBase) -> None:
    """A bare mention and a button the bot no longer knows (an old rich menu's, or forged data) got the
    Japanese menu in an English conversation."""
    english_menu = render.answer_messages(kb, kb.ui.help, "en")[0]["altText"]
    chat.send(said_in_group(ASKER, "my webhook returns 404"))
    (menu,) = chat.send(said_in_group(ASKER, ""))
    assert menu["altText"] == english_menu
    chat.send(said(ASKER, "my webhook returns 404"))
    (menu,) = chat.send(tapped(ASKER, "action=old-menu&item=3"))
    assert menu["altText"] == english_menu
    (menu,) = chat.send(tapped(OTHER, "action=old-menu&item=3"))  # no conversation yet: Japanese
    assert menu["altText"] == render.answer_messages(kb, kb.ui.help, "ja")[0]["altText"]


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_a_choice_typed_or_copied_instead_of_tapped_picks_it(chat: Chat, kb: KnowledgeBase, lang: str) -> None:
    """On LINE for PC there are no buttons: people type what they see. "Cannot reach api.line.me" (the first
    choice for "timeout") fell back, and "APIの404" asked the same question again."""
    question = {"ja": "タイムアウト", "en": "timeout"}[lang]
    (ask,) = chat.send(said(ASKER, question))
    choices = picks(ask)
    listed = ask["text"].splitlines()[1:]
    (answer,) = chat.send(said(ASKER, listed[0].removeprefix("1. ")))  # the title, as the list shows it
    assert answer["altText"].startswith(title(kb, choices[0], lang))
    (ask,) = chat.send(said(ASKER, question))
    (answer,) = chat.send(said(ASKER, f" {listed[2].upper()} "))  # copied with its number, shouting
    assert answer["altText"].startswith(title(kb, choices[2], lang))
    (ask,) = chat.send(said(ASKER, {"ja": "404エラー", "en": "404 error"}[lang]))
    api = next(i for i in picks(ask) if i.startswith("messaging_api."))
    (answer,) = chat.send(said(ASKER, kb[api].text[lang].label))  # a button's label
    assert answer["altText"].startswith(title(kb, api, lang))


def test_a_number_picks_only_from_the_last_reply_which_also_sets_the_language(chat: Chat, kb: KnowledgeBase) -> None:
    """A reply that offers nothing (a deflection, a thanks for feedback, a sticker's hint) left the choices of
    an older reply in the store: "2" then answered an old Japanese question back's second choice, and a paste
    of console strings, which shows no language, was answered in that old reply's Japanese."""
    chat.send(said(ASKER, "500エラーが出ます"))  # a Japanese question back
    (deflection,) = chat.send(said(ASKER, "LINE Pay returnMessage error"))  # English, offers nothing
    assert deflection["text"].startswith(kb.ui.text("en", "outside"))
    (reply,) = chat.send(said(ASKER, "2"))
    assert reply["text"] == kb.ui.text("en", "number_none")
    (answer,) = chat.send(said(ASKER, "could_not_connect / TLS handshake failure"))
    assert answer["altText"].startswith(title(kb, "webhook.detail.tls_handshake_failure", "en"))
    chat.send(tapped(ASKER, "fb=1&topic=webhook.detail.tls_handshake_failure&lang=en"))
    (reply,) = chat.send(said(ASKER, "1"))  # the thanks offered nothing: the answer's topics are gone
    assert reply["text"] == kb.ui.text("en", "number_none")


@pytest.mark.parametrize(
    "typed", ["2番", "２番です", "2番目でお願いします", "#2", "No. 2", "2nd", "option 2", "the 2nd one"]
)
def test_a_number_with_words_around_it_picks_too(chat: Chat, kb: KnowledgeBase, typed: str) -> None:
    """「2番」 is how many people answer a numbered list in Japanese: it was matched as a question and fell
    back. The words are ui.yaml's `numbers`."""
    (ask,) = chat.send(said(ASKER, "500エラーが出ます"))
    (answer,) = chat.send(said(ASKER, typed))
    assert answer["altText"].startswith(title(kb, picks(ask)[1], "ja"))


@pytest.mark.parametrize("lang", ["ja", "en", None])
def test_the_choices_listed_again_fit_lines_limits_for_every_entry(kb: KnowledgeBase, lang: str | None) -> None:
    """The longest offers are an answer's related topics plus the menu (what "not helpful" offers)."""
    for entry_id, entry in kb.entries.items():
        offered = [*entry.related, kb.ui.help]
        assert limits.check_messages(render.number_messages(kb, offered, lang)) == [], entry_id
    for each in ("ja", "en"):
        choices = tuple(list(kb.entries)[:4])
        assert limits.check_messages(render.clarify_messages(kb, choices, each, prompt="clarify_group")) == []


def quoting(event: dict[str, Any], message_id: str) -> dict[str, Any]:
    """`event` as LINE sends a reply-to: quoting the message with this id."""
    event["message"]["quotedMessageId"] = message_id
    return event


def test_a_quoted_list_is_the_one_a_number_picks_from(chat: Chat, kb: KnowledgeBase) -> None:
    """LINE's reply-to names the message answered: "2" quoting an earlier question back picks from that one,
    not from the last reply."""
    timeout = said(ASKER, "timeout")
    (ask,) = chat.send(timeout)
    chat.send(said(ASKER, "500エラーが出ます"))  # a later question back, in Japanese
    (answer,) = chat.send(quoting(said(ASKER, "2"), "an-id-the-bot-never-sent"))  # not one of the bot's
    assert answer["altText"].startswith(title(kb, "messaging_api.5xx", "ja"))  # the last reply's list
    (first,) = chat.fake.sent[timeout["replyToken"]]
    (answer,) = chat.send(quoting(said(ASKER, "2"), first))
    assert answer["altText"].startswith(title(kb, picks(ask)[1], "en"))


def test_in_a_group_quoting_the_bot_addresses_it_as_a_mention_does(chat: Chat, kb: KnowledgeBase) -> None:
    """In a group people answer a bot's message with LINE's reply-to rather than a mention: that was ignored.
    A quote of the bot's question back answers whoever quotes it from that list; a quote of a member's
    message stays group talk."""
    asked = said_in_group(ASKER, "timeout")
    (ask,) = chat.send(asked)
    (question_back,) = chat.fake.sent[asked["replyToken"]]
    (answer,) = chat.send(quoting(said_in_group(OTHER, "2", mention=False), question_back))
    assert answer["altText"].startswith(title(kb, picks(ask)[1], "en"))
    (answer,) = chat.send(quoting(said_in_group(ASKER, "Unknown host", mention=False), question_back))
    assert answer["altText"].startswith(title(kb, "webhook.detail.unknown_host", "en"))
    chat.quiet(quoting(said_in_group(OTHER, "2", mention=False), "a-members-message"))


@pytest.mark.parametrize(("typed", "lang"), [("no", "en"), ("No.", "en"), ("いいえ", "ja"), ("違います", "ja")])
def test_a_bare_no_said_back_gets_a_short_reply_not_an_answer(
    chat: Chat, kb: KnowledgeBase, typed: str, lang: str
) -> None:
    """ "no" said back to a fallback's "Did you mean one of these?" was a fragment of "no permission" and got
    the LINE app's 403 answer, 「違います」 one of 「URLが違う」 and got the webhook's 404."""
    chat.send(said(ASKER, "what time is it" if lang == "en" else "今何時"))  # a fallback: "did you mean …?"
    (reply,) = chat.send(said(ASKER, typed))
    assert reply["type"] == "text" and "altText" not in reply  # not some entry's answer
    assert reply["text"].startswith(kb["smalltalk.reply"].text[lang].summary)
    assert picks(reply) == [kb.ui.help]


@pytest.mark.parametrize("typed", ["2\u200b", "\ufeff2", "2\u2060", "2\ufe0f\u20e3", "②"])
def test_a_number_with_invisible_marks_or_as_a_keycap_or_circled_picks(
    chat: Chat, kb: KnowledgeBase, typed: str
) -> None:
    """A "2" carrying a zero-width space or a BOM (pasted), typed as the keycap emoji 2️⃣ or as ② (how Japanese
    lists are numbered) was matched as a question: "no answer fits" and three unrelated topics."""
    (ask,) = chat.send(said(ASKER, "500エラーが出ます"))
    (answer,) = chat.send(said(ASKER, typed))
    assert answer["altText"].startswith(title(kb, picks(ask)[1], "ja"))


@pytest.mark.parametrize(
    ("typed", "lang"), [("thanks, but it still doesn't work", "en"), ("ありがとう、でも動かない", "ja")]
)
def test_thanks_with_a_problem_is_not_answered_youre_welcome(
    chat: Chat, kb: KnowledgeBase, typed: str, lang: str
) -> None:
    """ "Thanks, but it still doesn't work" after an answer got "You're welcome! Send me any other error
    whenever you need.": small talk took the whole message."""
    chat.send(said(ASKER, "could_not_connect"))
    (reply,) = chat.send(said(ASKER, typed))
    assert not reply.get("text", "").startswith(kb["smalltalk.thanks"].text[lang].summary)


def test_a_language_asked_for_by_name_gets_the_menu_in_it(chat: Chat, kb: KnowledgeBase) -> None:
    """「日本語」 alone (asking for Japanese) was a fragment of 「URLに日本語」 and got the answer about "Invalid URL
    syntax"; "English" alone got "no answer fits"."""
    for typed, lang in (
        ("English", "en"),
        ("日本語", "ja"),
        ("in English please", "en"),
        ("日本語でお願いします", "ja"),
    ):
        (reply,) = chat.send(said(ASKER, typed))
        assert reply["altText"].startswith(title(kb, kb.ui.help, lang)), typed


def test_a_paste_keeps_the_language_the_conversation_has_now(chat: Chat, kb: KnowledgeBase, matcher: Matcher) -> None:
    """What a program printed shows nobody's language: it keeps the conversation's, whichever that is at the
    time; the asker's own sentence sets it. Before, any English paste turned a Japanese conversation English."""
    paste = (
        "linebot.v3.messaging.exceptions.ApiException: (401)\nReason: Unauthorized\n"
        "HTTP response headers: HTTPHeaderDict({'x-line-request-id': '5e6f7a8b-0c1d'})\n"
        'HTTP response body: {"message":"Authentication failed. Confirm that the access token in the '
        'authorization header is valid."}'
    )
    answer = {
        lang: render.answer_messages(kb, "messaging_api.unauthorized", lang)[0]["altText"] for lang in ("ja", "en")
    }
    chat.send(said(ASKER, "プッシュメッセージを送るとエラーになります"))
    (reply, *_) = chat.send(said(ASKER, paste))
    assert reply["altText"] == answer["ja"]
    first = menus.options(kb, matcher.match(paste))[0]
    (reply, *_) = chat.send(said(ASKER, "1"))  # a number then picks from it, in Japanese
    assert reply["altText"].startswith(title(kb, first, "ja"))
    chat.send(said(ASKER, "I reissued the token and my push still fails"))  # the asker's English
    (reply, *_) = chat.send(said(ASKER, paste))
    assert reply["altText"] == answer["en"]
    (reply, *_) = chat.send(said(OTHER, paste))  # someone with no conversation yet: the paste's own English
    assert reply["altText"] == answer["en"]
