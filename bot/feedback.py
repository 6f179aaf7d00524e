"""Helpful / not helpful buttons under every answer, and what a tap on one gets back (pure)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from bot import menus, render
from bot.knowledge import KnowledgeBase
from bot.linelimits import MAX_POSTBACK_DATA, MAX_QUICK_REPLIES
from bot.mask import mask
from bot.types import Feedback


def _escape(text: str) -> str:
    # Only what parse_qs would misread; other characters stay as they are (a %XX for each byte of
    # Japanese would leave room for about 30 characters in LINE's 300).
    return text.replace("%", "%25").replace("&", "%26").replace("+", "%2B").replace("=", "%3D")


def _clip_utf16(text: str, units: int) -> str:
    """The longest start of `text` within `units` UTF-16 code units. LINE counts a text message's 5,000 that
    way (an emoji is two); the postback data's 300 is counted the same here, to be safe: a question of emoji
    cut to 300 code points was ~550 units, and one data over the limit makes LINE refuse the whole reply."""
    used = 0
    for i, char in enumerate(text):
        used += 2 if ord(char) > 0xFFFF else 1
        if used > units:
            return text[:i]
    return text


def postback_data(helpful: bool, entry_id: str, lang: str, question: str | None = None) -> str:
    """Postback data for a feedback button; "not helpful" carries the masked question (clipped to fit)."""
    data = f"fb={int(helpful)}&{render.postback_data(entry_id, lang)}"
    if helpful or not question:
        return data
    room = MAX_POSTBACK_DATA - len(data) - len("&q=")  # data so far is ASCII: characters = UTF-16 units
    text = _clip_utf16(_escape(mask(question.strip())), room)
    if "%" in text[-2:]:  # never cut an escape in half
        text = text[: text.rindex("%")]
    return f"{data}&q={text}" if text else data


def parse(data: str) -> Feedback | None:
    """The feedback tap in postback data, or None when the data is not feedback."""
    if not data.startswith("fb="):
        return None
    picked = render.parse_postback(data)
    try:
        fields = parse_qs(data, strict_parsing=True)
    except ValueError:
        return None
    flag = fields.get("fb", [""])[0]
    if picked is None or flag not in {"0", "1"}:
        return None
    entry_id, lang, _ = picked
    return Feedback(flag == "1", entry_id, lang, fields.get("q", [None])[0])


def _item(label: str, data: str) -> dict[str, Any]:
    return {"type": "action", "action": {"type": "postback", "label": label, "data": data, "displayText": label}}


def with_buttons(
    kb: KnowledgeBase, messages: list[dict[str, Any]], entry_id: str, lang: str, question: str | None = None
) -> list[dict[str, Any]]:
    """A copy of `messages` (an answer) with helpful / not helpful first in the last message's quick replies;
    `messages` itself for an entry without steps (small talk, a rich-menu area's menu, a deflection), which
    explains nothing to rate."""
    if entry_id in kb and not kb[entry_id].text[lang].steps:
        return messages
    buttons = [
        _item(kb.ui.text(lang, "feedback_helpful"), postback_data(True, entry_id, lang)),
        _item(kb.ui.text(lang, "feedback_not_helpful"), postback_data(False, entry_id, lang, question)),
    ]
    items = messages[-1].get("quickReply", {}).get("items", [])
    # Keep within LINE's 13: drop related topics from the end, but keep the menu (the last item).
    keep = MAX_QUICK_REPLIES - len(buttons)
    if len(items) > keep:
        items = [*items[: keep - 1], items[-1]]
    # Copy only what changes: the rendered answer is cached and shared between threads.
    last = {**messages[-1], "quickReply": {"items": [*buttons, *items]}}
    return [*messages[:-1], last]


def ack_messages(kb: KnowledgeBase, tap: Feedback) -> list[dict[str, Any]]:
    """One short line for a tap; "not helpful" also offers the entry's related topics and the menu."""
    if tap.helpful:
        return [{"type": "text", "text": kb.ui.text(tap.lang, "feedback_thanks")}]
    offered = related(kb, tap)
    items = [_item(kb[i].text[tap.lang].label, render.postback_data(i, tap.lang)) for i in offered]
    # Numbered under the line, as a question back's choices are: a number picks them, and LINE for PC
    # shows no quick replies.
    lines = [f"{n}. {render.entry_text(kb, i, tap.lang)[0]}" for n, i in enumerate(offered, 1)]
    text = "\n".join([kb.ui.text(tap.lang, "feedback_sorry"), *lines])
    return [{"type": "text", "text": text, "quickReply": {"items": items}}]


def related(kb: KnowledgeBase, tap: Feedback) -> list[str]:
    """What "not helpful" offers: the entry's related topics, then the menu (a number picks them too)."""
    ids = [*kb[tap.entry_id].related] if tap.entry_id in kb else []
    return menus.buttons(kb, [i for i in ids if i != tap.entry_id])
