"""Helpful / not helpful buttons under every answer, and what a tap on one gets back (pure)."""

from __future__ import annotations

import copy
from typing import Any
from urllib.parse import parse_qs

from bot import render
from bot.knowledge import KnowledgeBase
from bot.mask import mask
from bot.questionlog import Feedback

# Fixed reply strings (labels at most 20 characters: LINE's quick-reply limit).
STRINGS = {
    "ja": {
        "helpful": "👍 役に立った",
        "not_helpful": "👎 役に立たなかった",
        "thanks": "ありがとうございます。今後の改善に使います。",
        "sorry": "ごめんなさい。関連する話題から選ぶか、別の言葉でもう一度聞いてください。",
    },
    "en": {
        "helpful": "👍 Helpful",
        "not_helpful": "👎 Not helpful",
        "thanks": "Thanks, noted: it helps improve the answers.",
        "sorry": "Sorry about that. Pick a related topic below, or ask again in other words.",
    },
}


def _escape(text: str) -> str:
    # Only what parse_qs would misread; other characters stay as they are (a %XX for each byte of
    # Japanese would leave room for about 30 characters in LINE's 300).
    return text.replace("%", "%25").replace("&", "%26").replace("+", "%2B").replace("=", "%3D")


def postback_data(helpful: bool, entry_id: str, lang: str, question: str | None = None) -> str:
    """Postback data for a feedback button; "not helpful" carries the masked question (clipped to fit)."""
    data = f"fb={int(helpful)}&{render.postback_data(entry_id, lang)}"
    if helpful or not question:
        return data
    room = render.MAX_POSTBACK_DATA - len(data) - len("&q=")
    text = _escape(mask(question.strip()))[:room]
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
    messages: list[dict[str, Any]], entry_id: str, lang: str, question: str | None = None
) -> list[dict[str, Any]]:
    """`messages` (an answer) with helpful / not helpful first in the last message's quick replies."""
    out = copy.deepcopy(messages)
    last = out[-1]
    items = last.setdefault("quickReply", {"items": []})["items"]
    ui = STRINGS[lang]
    buttons = [
        _item(ui["helpful"], postback_data(True, entry_id, lang)),
        _item(ui["not_helpful"], postback_data(False, entry_id, lang, question)),
    ]
    # Keep within LINE's 13: drop related topics from the end, but keep the menu (the last item).
    keep = render.MAX_QUICK_REPLIES - len(buttons)
    if len(items) > keep:
        items[:] = [*items[: keep - 1], items[-1]]
    items[:0] = buttons
    return out


def ack_messages(kb: KnowledgeBase, tap: Feedback) -> list[dict[str, Any]]:
    """One short line for a tap; "not helpful" also offers the entry's related topics and the menu."""
    ui = STRINGS[tap.lang]
    if tap.helpful:
        return [{"type": "text", "text": ui["thanks"]}]
    ids = [*kb[tap.entry_id].related, render.HELP_ID] if tap.entry_id in kb else [render.HELP_ID]
    ids = list(dict.fromkeys(i for i in ids if i in kb and i != tap.entry_id))[: render.MAX_QUICK_REPLIES]
    items = [_item(kb[i].text[tap.lang].label, render.postback_data(i, tap.lang)) for i in ids]
    return [{"type": "text", "text": ui["sorry"], "quickReply": {"items": items}}]
