"""Decide the reply to one webhook event: pure, no network, easy to test."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

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

from bot import render
from bot.knowledge import KnowledgeBase
from bot.types import Match


@dataclass(frozen=True)
class Reply:
    """What to send for one event, and a short note for the log (never the user's text)."""

    messages: list[dict[str, Any]]
    note: str
    offered: tuple[str, ...] = ()  # entry ids a number can pick next ("2" for the second)
    lang: str = "ja"


def chat_key(event: Event) -> str | None:
    """Who a reply's choices belong to: the user, or the user within a group or room."""
    source = getattr(event, "source", None)
    user = getattr(source, "user_id", None) or "-"
    place = getattr(source, "group_id", None) or getattr(source, "room_id", None)
    if place:
        return f"{place}/{user}"
    return user if user != "-" else None


def picked_number(event: Event) -> int | None:
    """The number in a text message that is only a number (a choice picked from a list)."""
    if not isinstance(event, MessageEvent) or not isinstance(event.message, TextMessageContent):
        return None
    return _as_number(_addressed_text(event.message, _in_group(event)) or "")


def _as_number(text: str) -> int | None:
    text = unicodedata.normalize("NFKC", text).strip().rstrip(".)")
    return int(text) if text.isdigit() and 0 < len(text) <= 2 else None


def _entry_reply(kb: KnowledgeBase, entry_id: str, lang: str, note: str, code: int | None = None) -> Reply:
    """One entry's answer; its related topics are what a number picks next."""
    return Reply(render.answer_messages(kb, entry_id, lang, code), note, kb[entry_id].related, lang)


def _in_group(event: Event) -> bool:
    return isinstance(event.source, GroupSource | RoomSource)


def _addressed_text(message: TextMessageContent, in_group: bool) -> str | None:
    """The question in a text message; in a group only when the bot is mentioned, minus the mention."""
    if not in_group:
        return message.text
    mentionees = message.mention.mentionees if message.mention else []
    mine = [m for m in mentionees if getattr(m, "is_self", False)]
    if not mine:
        return None
    # Mention positions count UTF-16 code units; cut every "@name" out, last first.
    units = message.text.encode("utf-16-le")
    for mention in sorted(mentionees, key=lambda m: m.index, reverse=True):
        start, end = mention.index * 2, (mention.index + mention.length) * 2
        if 0 <= start <= end <= len(units):
            units = units[:start] + units[end:]
    return units.decode("utf-16-le", "ignore")


def plan(
    event: Event,
    kb: KnowledgeBase,
    match: Callable[[str], Match],
    render_match: Callable[[Match], list[dict[str, Any]]] | None = None,
    offered: tuple[tuple[str, ...], str] | None = None,
) -> Reply | None:
    """The reply to send for `event`, or None when the bot stays quiet.

    `match` is Matcher.match (or a cached wrapper of it); `render_match` defaults to render.render;
    `offered` is what this chat was last offered (Store.offered), for a reply that is just a number."""
    if event.mode != EventMode.ACTIVE or not getattr(event, "reply_token", None):
        return None  # standby mode (another channel answers) or nothing to reply with
    in_group = _in_group(event)
    if isinstance(event, MessageEvent):
        if isinstance(event.message, TextMessageContent):
            text = _addressed_text(event.message, in_group)
            if text is None:
                return None
            if in_group and not text.strip():
                # Mentioned with nothing else: show what the bot can do.
                return _entry_reply(kb, render.HELP_ID, "ja", "mention: menu")
            number = _as_number(text)
            if number is not None and offered and number <= len(offered[0]) and offered[0][number - 1] in kb:
                entry_id, lang = offered[0][number - 1], offered[1]
                found = Match("answer", lang, entry_id=entry_id, score=100.0)
            else:
                found = match(text)
            if in_group and found.kind == "fallback":
                return None  # a group is no place for "I did not understand"
            note = f"{found.kind} {found.entry_id or ','.join(found.choices)} len={len(text)}"
            messages = render_match(found) if render_match else render.render(kb, found)
            return Reply(messages, note, tuple(render.options(kb, found)), found.lang)
        if in_group:
            return None  # stickers and images in a group are not meant for the bot
        return Reply(render.hint_messages(kb), f"hint for {event.message.type}")
    if isinstance(event, PostbackEvent):
        picked = render.parse_postback(event.postback.data)
        if picked is None or picked[0] not in kb:
            return _entry_reply(kb, render.HELP_ID, "ja", "unknown postback: menu")
        entry_id, lang, code = picked
        return _entry_reply(kb, entry_id, lang, f"postback {entry_id}", code)
    if isinstance(event, FollowEvent):
        return _entry_reply(kb, render.HELP_ID, "ja", "follow: welcome")
    if isinstance(event, JoinEvent):
        return Reply(render.join_messages(kb), "join: introduction")
    return None  # unfollow, leave, unsend, beacon, unknown, ...: nothing to say
