"""Decide the reply to one webhook event: a registry from event type to a pure handler, no network."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from linebot.v3.webhooks import (
    Event,
    EventMode,
    FollowEvent,
    GroupSource,
    JoinEvent,
    MessageEvent,
    PostbackEvent,
    RoomSource,
    TextMessageContent,
)

from bot import feedback, menus, render, richmenu
from bot.diagnose_data import DiagnoseData
from bot.diagnose_request import recognise
from bot.knowledge import KnowledgeBase
from bot.types import PROFILE, Match, Question, Reply

Offer = tuple[tuple[str, ...], str]  # the entry ids last offered in a chat, and their language


@dataclass(frozen=True)
class Context:
    """What a handler may use: the knowledge base, the matcher, and this chat's last offer."""

    kb: KnowledgeBase
    match: Callable[[str], Match]
    render: Callable[[Match], list[dict[str, Any]]]
    # The chat's last offer: asked only for a number, or a message that shows no language (a sticker, a URL
    # alone, console strings only).
    offered: Callable[[], Offer | None]
    diagnose: DiagnoseData | None = None  # set when the reply side can check webhook URLs
    # The offer of the bot's own message that this one quotes (LINE's reply-to), when it quotes one the bot
    # sent within the offer's 30 minutes: a number then picks from that message's list, and in a group the
    # quote addresses the bot as a mention does.
    quoted: Callable[[], Offer | None] = lambda: None


Handler = Callable[[Any, Context], Reply | None]
HANDLERS: dict[type[Event], Handler] = {}
E = TypeVar("E", bound=Handler)


def handles(*event_types: type[Event]) -> Callable[[E], E]:
    """Register a pure handler for these event types (the SDK's @handler.add idiom)."""

    def register(func: E) -> E:
        for event_type in event_types:
            HANDLERS[event_type] = func
        return func

    return register


def plan(event: Event, ctx: Context) -> Reply | None:
    """The reply to send for `event`, or None when the bot stays quiet."""
    if event.mode != EventMode.ACTIVE or not getattr(event, "reply_token", None):
        return None  # standby mode (another channel answers) or nothing to reply with
    handler = next((HANDLERS[t] for t in type(event).__mro__ if t in HANDLERS), None)
    return handler(event, ctx) if handler else None  # unfollow, leave, unsend, beacon, ...: quiet


def plan_unparsed(raw: dict[str, Any], kb: KnowledgeBase, lang: str = "ja") -> Reply | None:
    """An event the SDK cannot parse (a message type newer than the SDK): help in a 1:1 chat only, in the
    conversation's language (`lang`; Japanese before any)."""
    source = raw.get("source")
    direct = (
        raw.get("type") == "message"
        and raw.get("mode", "active") == "active"
        and isinstance(raw.get("replyToken"), str)
        and isinstance(source, dict)
        and source.get("type") == "user"
    )
    return Reply(render.hint_messages(kb, lang), "hint for an unknown message type", lang=lang) if direct else None


def quote_key(message_id: str) -> str:
    """Where the offer of one message the bot sent is kept (a message quoting it finds it there)."""
    return f"message/{message_id}"


def quoted_id(event: Event) -> str | None:
    """The id of the message a text message quotes, if it quotes one."""
    message = getattr(event, "message", None)
    return getattr(message, "quoted_message_id", None) if isinstance(message, TextMessageContent) else None


def chat_key(event: Event) -> str | None:
    """Who a reply's choices belong to: the user, or the user within a group or room."""
    source = getattr(event, "source", None)
    user = getattr(source, "user_id", None) or "-"
    place = getattr(source, "group_id", None) or getattr(source, "room_id", None)
    if place:
        return f"{place}/{user}"
    return user if user != "-" else None


def raw_chat_key(raw: dict[str, Any]) -> str | None:
    """chat_key of an event the SDK could not parse, from its raw `source`."""
    source = raw.get("source") if isinstance(raw.get("source"), dict) else {}
    user = source.get("userId") if isinstance(source.get("userId"), str) else None
    place = next((v for k in ("groupId", "roomId") if isinstance(v := source.get(k), str) and v), None)
    if place:
        return f"{place}/{user or '-'}"
    return user or None


def _spoken(ctx: Context) -> str:
    """The conversation's language (its last reply's, within the offer's 30 minutes), else Japanese."""
    offer = ctx.offered()
    return offer[1] if offer else "ja"


def _entry_reply(kb: KnowledgeBase, entry_id: str, lang: str, note: str, code: int | None = None) -> Reply:
    """One entry's answer; its related topics are what a number picks next."""
    return Reply(render.answer_messages(kb, entry_id, lang, code), note, kb[entry_id].related, lang)


def _answer(kb: KnowledgeBase, entry_id: str, lang: str, note: str, log: Question, code: int | None = None) -> Reply:
    """An entry given as the answer to a question or a pick: with the helpful / not helpful buttons."""
    messages = feedback.with_buttons(kb, render.answer_messages(kb, entry_id, lang, code), entry_id, lang, log.text)
    return Reply(messages, note, kb[entry_id].related, lang, log)


def _outcome(found: Match) -> str:
    if found.kind == "fallback" and found.entry_id:
        return "deflection"
    return found.kind


def _in_group(event: Event) -> bool:
    return isinstance(event.source, GroupSource | RoomSource)


def _addressed_text(message: TextMessageContent, in_group: bool, quotes_bot: bool) -> str | None:
    """The question in a text message; in a group only when the bot is mentioned (minus the mention) or
    one of its messages quoted."""
    if not in_group:
        return message.text
    mentionees = message.mention.mentionees if message.mention else []
    if not any(getattr(m, "is_self", False) for m in mentionees):
        return message.text if quotes_bot else None
    # Mention positions count UTF-16 code units; cut every "@name" out, last first.
    units = message.text.encode("utf-16-le", "surrogatepass")
    for mention in sorted(mentionees, key=lambda m: m.index, reverse=True):
        start, end = mention.index * 2, (mention.index + mention.length) * 2
        if 0 <= start <= end <= len(units):
            units = units[:start] + units[end:]
    return units.decode("utf-16-le", "replace")


@handles(MessageEvent)
def on_message(event: MessageEvent, ctx: Context) -> Reply | None:
    """Text: answer, ask back or fall back; other message types get a hint (in a 1:1 chat)."""
    in_group = _in_group(event)
    if not isinstance(event.message, TextMessageContent):
        if in_group:
            return None
        lang = _spoken(ctx)  # a sticker says no language: the conversation's, else Japanese
        return Reply(render.hint_messages(ctx.kb, lang), f"hint for {event.message.type}", lang=lang)
    # Asked once, and only when needed: in a group (a quote of the bot addresses it), or for a pick.
    quoted = functools.cache(ctx.quoted) if event.message.quoted_message_id else lambda: None
    text = _addressed_text(event.message, in_group, in_group and quoted() is not None)
    if text is None:
        return None
    if in_group and not text.strip():
        return _entry_reply(ctx.kb, ctx.kb.ui.help, _spoken(ctx), "mention: menu")  # a bare mention
    if ctx.diagnose is not None and (request := recognise(text, ctx.diagnose, addressed=True)):
        # Only recognised here: the reply side probes the URL (never before the webhook's 200).
        lang = request.lang
        if not request.lang_sure and (offer := ctx.offered()):
            lang = offer[1]  # a URL alone says no language: the conversation's
        return Reply([], f"diagnose len={len(text)}", lang=lang, probe=request.url)
    if menus.as_number(text, ctx.kb.ui.numbers):  # "2": a pick, never a question ("0" and "123" are questions)
        offer = quoted() or ctx.offered()  # a quoted list is the one meant
        picked = menus.pick(text, offer[0], ctx.kb.ui.numbers) if offer else None
        if offer and picked in ctx.kb:
            return _answer(ctx.kb, picked, offer[1], f"picked {picked}", Question("pick", offer[1], picked, 100.0))
        # Out of range, or nothing on offer (never, or forgotten after 30 minutes): say so, in the
        # conversation's language, rather than "no answer fits" and three unrelated topics.
        ids, lang = offer if offer else ((), None)
        messages = render.number_messages(ctx.kb, ids, lang)
        return Reply(messages, "number: nothing picked", tuple(i for i in ids if i in ctx.kb), lang or "ja")
    if (names := menus.named(ctx.kb, text)) and (offer := quoted() or ctx.offered()):
        # A choice's label or title typed (or copied from the numbered list) instead of tapped: that choice.
        picked = next((i for i in offer[0] if i in names), None)
        if picked in ctx.kb:
            note = f"picked {picked} by name"
            return _answer(ctx.kb, picked, offer[1], note, Question("pick", offer[1], picked, 100.0))
    found = ctx.match(text)
    if not found.lang_sure and (offer := ctx.offered()) and offer[1] != found.lang:
        # "could_not_connect / TLS handshake failure", pasted as the bot's own help said: no sign of a
        # language, so the conversation's (its last reply's, within the offer's 30 minutes) is kept.
        found = replace(found, lang=offer[1])
    if in_group and found.kind == "fallback":
        return None  # a group is no place for "I did not understand"
    note = " ".join(filter(None, (found.kind, found.entry_id or ",".join(found.choices), f"len={len(text)}")))
    log = Question(_outcome(found), found.lang, found.entry_id, found.score, found.choices, text)
    messages = ctx.render(found)
    if in_group and found.kind == "clarify":  # the group hears the bot only when mentioned: say so
        messages = render.clarify_messages(ctx.kb, found.choices, found.lang, found.code, prompt="clarify_group")
    if found.kind == "answer" and found.entry_id:
        messages = feedback.with_buttons(ctx.kb, messages, found.entry_id, found.lang, text)
    return Reply(messages, note, tuple(menus.options(ctx.kb, found)), found.lang, log)


@handles(PostbackEvent)
def on_postback(event: PostbackEvent, ctx: Context) -> Reply:
    """A button: a feedback tap's acknowledgement, the entry it names, a rich-menu language switch, or the
    menu for data that is not ours."""
    tap = feedback.parse(event.postback.data)
    if tap is not None and tap.entry_id in ctx.kb:
        offered = () if tap.helpful else tuple(feedback.related(ctx.kb, tap))
        note = f"feedback {'helpful' if tap.helpful else 'not helpful'} {tap.entry_id}"
        return Reply(feedback.ack_messages(ctx.kb, tap), note, offered, tap.lang, tap)
    switch = richmenu.parse_switch(event.postback.data)
    if switch:  # answer in the new language; the reply side links that language's rich menu
        return replace(_entry_reply(ctx.kb, ctx.kb.ui.help, switch, f"menu switch: {switch}"), menu=switch)
    picked = render.parse_postback(event.postback.data)
    if picked is None or picked[0] not in ctx.kb:  # an older menu's button, or forged data
        return _entry_reply(ctx.kb, ctx.kb.ui.help, _spoken(ctx), "unknown postback: menu")
    entry_id, lang, code = picked
    return _answer(ctx.kb, entry_id, lang, f"postback {entry_id}", Question("pick", lang, entry_id, 100.0), code)


@handles(FollowEvent)
def on_follow(event: FollowEvent, ctx: Context) -> Reply:
    """A new friend: the menu as a welcome, in the language of their profile (the reply side looks it up).

    Japanese is the default menu; an English reader also gets the English one linked. A profile that shares
    no language (or a failed lookup) gets the Japanese welcome and a line saying English is spoken too."""
    welcome = {lang: _entry_reply(ctx.kb, ctx.kb.ui.help, lang, f"follow: welcome {lang}") for lang in ("ja", "en")}
    unknown = replace(welcome["ja"], messages=render.also_messages(ctx.kb, welcome["ja"].messages, "ja"))
    return replace(unknown, menu=PROFILE, by_language=(welcome["ja"], replace(welcome["en"], menu="en")))


@handles(JoinEvent)
def on_join(event: JoinEvent, ctx: Context) -> Reply:
    """Added to a group or room: a short introduction in every language (nobody has spoken yet)."""
    return Reply(render.join_messages(ctx.kb), "join: introduction")
