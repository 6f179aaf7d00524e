"""Decide the reply to one webhook event: pure, no network, easy to test."""

from __future__ import annotations

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
from bot.matcher import Match


@dataclass(frozen=True)
class Reply:
    """What to send for one event, and a short note for the log (never the user's text)."""

    messages: list[dict[str, Any]]
    note: str


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
) -> Reply | None:
    """The reply to send for `event`, or None when the bot stays quiet.

    `match` is Matcher.match (or a cached wrapper of it); `render_match` defaults to render.render."""
    if event.mode != EventMode.ACTIVE or not getattr(event, "reply_token", None):
        return None  # standby mode (another channel answers) or nothing to reply with
    in_group = _in_group(event)
    if isinstance(event, MessageEvent):
        if isinstance(event.message, TextMessageContent):
            text = _addressed_text(event.message, in_group)
            if text is None:
                return None
            found = match(text)
            if in_group and found.kind == "fallback":
                return None  # a group is no place for "I did not understand"
            note = f"{found.kind} {found.entry_id or ','.join(found.choices)} len={len(text)}"
            messages = render_match(found) if render_match else render.render(kb, found)
            return Reply(messages, note)
        if in_group:
            return None  # stickers and images in a group are not meant for the bot
        return Reply(render.hint_messages(kb), f"hint for {event.message.type}")
    if isinstance(event, PostbackEvent):
        picked = render.parse_postback(event.postback.data)
        if picked is None or picked[0] not in kb:
            return Reply(render.answer_messages(kb, render.HELP_ID, "ja"), "unknown postback: menu")
        entry_id, lang, code = picked
        return Reply(render.answer_messages(kb, entry_id, lang, code), f"postback {entry_id}")
    if isinstance(event, FollowEvent):
        return Reply(render.answer_messages(kb, render.HELP_ID, "ja"), "follow: welcome")
    if isinstance(event, JoinEvent):
        return Reply(render.join_messages(kb), "join: introduction")
    return None  # unfollow, leave, unsend, beacon, unknown, ...: nothing to say
