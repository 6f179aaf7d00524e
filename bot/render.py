"""Turn a match into LINE messages (camelCase dicts, as the reply API takes them) or plain text."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlencode

from bot.knowledge import Entry, KnowledgeBase, Problem
from bot.types import Match

HELP_ID = "bot.help"
MAX_SUGGESTIONS = 3
# Offered by a fallback when no topic came close: one per kind of person the bot serves.
DEFAULT_SUGGESTIONS = ("webhook.error_statistics", "line_app.500", "messaging_api.5xx")

# Messaging API limits (https://developers.line.biz/en/reference/messaging-api/).
MAX_MESSAGES = 5
MAX_TEXT = 5000  # UTF-16 code units
MAX_ALT_TEXT = 1500
MAX_BUBBLE_BYTES = 30_000
MAX_QUICK_REPLIES = 13
MAX_QUICK_LABEL = 20
MAX_BUTTON_LABEL = 40
MAX_POSTBACK_DATA = 300
MAX_URI = 1000

UI = {
    "ja": {
        "steps": "対処のしかた",
        "links": "確認先",
        "related": "関連",
        "clarify": "どれについて知りたいですか？下のボタンから選ぶか、番号を送ってください。",
        "fallback": "ごめんなさい、その内容に合う答えが見つかりませんでした。",
        "how_to_ask": (
            "Webhookのエラーなら、エラー統計の「理由」と「詳細」をそのまま貼り付けてください"
            "（例: could_not_connect / TLS handshake failure）。LINEアプリのエラーなら、"
            "どこで何が表示されたかを書いてください（例: スタンプショップで500エラー）。"
        ),
        "suggest": "こちらの話題ではありませんか？",
        "hint": "エラーの内容を文字で送ってください。例:「could_not_connect TLS handshake failure」",
        "join": (
            "エラー案内ボットです。LINEまわりのエラーの意味と直し方をお答えします。"
            "グループでは、メンションを付けてエラーを送ってください。"
        ),
        "other_code": ("2xx以外のコード", "エラー"),
    },
    "en": {
        "steps": "What to do",
        "links": "Check",
        "related": "Related",
        "clarify": "Which one do you mean? Pick a button below or send its number.",
        "fallback": "Sorry, I could not find an answer that fits.",
        "how_to_ask": (
            "For a webhook error, paste the reason and detail from the error statistics as they are "
            "(for example: could_not_connect / TLS handshake failure). For an error in the LINE app, "
            "tell me where it appeared and what it said (for example: 500 error in the sticker shop)."
        ),
        "suggest": "Did you mean one of these?",
        "hint": 'Please send the error as text, for example "could_not_connect TLS handshake failure".',
        "join": ("I explain LINE-related errors and how to fix them. In a group, mention me with the error."),
        "other_code": ("a non-2xx code", "error"),
    },
}


# -- postback data --------------------------------------------------------------------------


def postback_data(entry_id: str, lang: str, code: int | None = None) -> str:
    """Postback data for a button that asks for one entry."""
    fields = {"topic": entry_id, "lang": lang}
    if code is not None:
        fields["code"] = str(code)
    return urlencode(fields)


def parse_postback(data: str) -> tuple[str, str, int | None] | None:
    """(entry id, lang, code) from postback data, or None when it is not ours."""
    try:
        fields = {k: v[0] for k, v in parse_qs(data, strict_parsing=True).items()}
    except ValueError:
        return None
    entry_id, lang = fields.get("topic"), fields.get("lang", "ja")
    if not entry_id or lang not in UI:
        return None
    code = fields.get("code", "")
    return entry_id, lang, int(code) if code.isdigit() and len(code) == 3 else None


# -- entry text -----------------------------------------------------------------------------


def _fill(text: str, lang: str, code: int | None) -> str:
    if "{" not in text:
        return text
    if code is None:
        shown, phrase = UI[lang]["other_code"]
    else:
        shown = str(code)
        try:
            phrase = HTTPStatus(code).phrase
        except ValueError:
            phrase = "Unassigned" if lang == "en" else "未定義のコード"
    return text.replace("{code}", shown).replace("{phrase}", phrase)


def entry_text(entry: Entry, lang: str, code: int | None = None) -> tuple[str, str, list[str]]:
    """(title, summary, steps) of an entry, with {code} and {phrase} filled in."""
    text = entry.text[lang]
    return (
        _fill(text.title, lang, code),
        _fill(text.summary, lang, code),
        [_fill(step, lang, code) for step in text.steps],
    )


# -- LINE messages --------------------------------------------------------------------------


def _quick_item(kb: KnowledgeBase, entry_id: str, lang: str, code: int | None = None) -> dict[str, Any]:
    """A quick-reply button that asks for one entry (postback data carries its id)."""
    label = kb[entry_id].text[lang].label
    return {
        "type": "action",
        "action": {
            "type": "postback",
            "label": label,
            "data": postback_data(entry_id, lang, code),
            "displayText": label,
        },
    }


def _quick_reply(kb: KnowledgeBase, ids: list[str], lang: str) -> dict[str, Any]:
    if HELP_ID in kb and HELP_ID not in ids:
        ids = [*ids, HELP_ID]
    ids = list(dict.fromkeys(i for i in ids if i in kb))[:MAX_QUICK_REPLIES]
    return {"items": [_quick_item(kb, entry_id, lang) for entry_id in ids]}


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _bubble(entry: Entry, lang: str, code: int | None) -> dict[str, Any]:
    title, summary, steps = entry_text(entry, lang, code)
    body: list[dict[str, Any]] = [{"type": "text", "text": summary, "wrap": True, "size": "sm"}]
    if steps:
        body.append({"type": "separator", "margin": "md"})
        body.append({"type": "text", "text": UI[lang]["steps"], "weight": "bold", "size": "sm", "margin": "md"})
        for number, step in enumerate(steps, 1):
            body.append(
                {
                    "type": "box",
                    "layout": "baseline",
                    "spacing": "sm",
                    "contents": [
                        {"type": "text", "text": f"{number}.", "flex": 0, "size": "sm", "color": "#06C755"},
                        {"type": "text", "text": step, "wrap": True, "size": "sm", "flex": 1},
                    ],
                }
            )
    buttons = [
        {
            "type": "button",
            "style": "link",
            "height": "sm",
            "action": {"type": "uri", "label": link.label, "uri": link.url},
        }
        for link in entry.links[lang]
    ]
    return {
        "type": "bubble",
        "size": "giga",
        "header": {
            "type": "box",
            "layout": "vertical",
            "contents": [{"type": "text", "text": title, "weight": "bold", "size": "md", "wrap": True}],
        },
        "body": {"type": "box", "layout": "vertical", "spacing": "sm", "contents": body},
        "footer": {"type": "box", "layout": "vertical", "spacing": "none", "contents": buttons},
    }


def answer_messages(kb: KnowledgeBase, entry_id: str, lang: str, code: int | None = None) -> list[dict[str, Any]]:
    """One entry's answer: a Flex bubble (a text message for entries without steps)."""
    entry = kb[entry_id]
    title, summary, steps = entry_text(entry, lang, code)
    quick = _quick_reply(kb, list(entry.related), lang)
    if not steps:
        return [{"type": "text", "text": summary, "quickReply": quick}]
    numbered = "\n".join(f"{n}. {step}" for n, step in enumerate(steps, 1))
    alt = _clip(f"{title}\n{summary}\n{numbered}", MAX_ALT_TEXT)
    return [{"type": "flex", "altText": alt, "contents": _bubble(entry, lang, code), "quickReply": quick}]


def clarify_messages(
    kb: KnowledgeBase, choices: tuple[str, ...], lang: str, code: int | None = None
) -> list[dict[str, Any]]:
    """Ask back: a short question listing the choices, one quick-reply button each."""
    lines = [UI[lang]["clarify"]]
    lines += [f"{n}. {entry_text(kb[c], lang, code)[0]}" for n, c in enumerate(choices, 1)]
    items = [_quick_item(kb, entry_id, lang, code) for entry_id in choices]
    return [{"type": "text", "text": "\n".join(lines), "quickReply": {"items": items}}]


def fallback_messages(kb: KnowledgeBase, suggestions: tuple[str, ...], lang: str) -> list[dict[str, Any]]:
    """Nothing fits: say so, show how to ask, offer up to three topics and the menu."""
    ui = UI[lang]
    text = f"{ui['fallback']}\n\n{ui['how_to_ask']}"
    picks = suggestion_ids(kb, suggestions)
    if picks:
        text += f"\n\n{ui['suggest']}"
    return [{"type": "text", "text": text, "quickReply": _quick_reply(kb, picks, lang)}]


def deflection_messages(kb: KnowledgeBase, entry_id: str, lang: str) -> list[dict[str, Any]]:
    """A near-domain question the bot does not cover: a short text saying so and where to go instead."""
    entry = kb[entry_id]
    text = entry.text[lang]
    lines = [text.title, text.summary, *(f"{link.label}: {link.url}" for link in entry.links[lang])]
    return [{"type": "text", "text": _clip("\n".join(lines), MAX_TEXT), "quickReply": _quick_reply(kb, [], lang)}]


def suggestion_ids(kb: KnowledgeBase, suggestions: tuple[str, ...]) -> list[str]:
    """The topics a fallback offers: the nearest ones, else one per audience; never a deflection."""
    picks = [s for s in (suggestions or DEFAULT_SUGGESTIONS) if s in kb and kb[s].audience != "outside"]
    return picks[:MAX_SUGGESTIONS]


def options(kb: KnowledgeBase, match: Match) -> list[str]:
    """The entry ids a reply offers as buttons, in the order the terminal numbers them."""
    if match.kind == "answer" and match.entry_id:
        return list(kb[match.entry_id].related)
    if match.kind == "clarify":
        return list(match.choices)
    if match.entry_id:  # a deflection offers only the menu
        return []
    return suggestion_ids(kb, match.suggestions)


def render(kb: KnowledgeBase, match: Match) -> list[dict[str, Any]]:
    """The reply messages for a match."""
    if match.kind == "answer" and match.entry_id:
        return answer_messages(kb, match.entry_id, match.lang, match.code)
    if match.kind == "clarify":
        return clarify_messages(kb, match.choices, match.lang, match.code)
    if match.entry_id:
        return deflection_messages(kb, match.entry_id, match.lang)
    return fallback_messages(kb, match.suggestions, match.lang)


def hint_messages(kb: KnowledgeBase, lang: str = "ja") -> list[dict[str, Any]]:
    """For stickers, images and other non-text messages."""
    return [{"type": "text", "text": UI[lang]["hint"], "quickReply": _quick_reply(kb, [], lang)}]


def join_messages(kb: KnowledgeBase, lang: str = "ja") -> list[dict[str, Any]]:
    """Introduction when the bot joins a group or room."""
    return [{"type": "text", "text": UI[lang]["join"], "quickReply": _quick_reply(kb, [], lang)}]


# -- plain text (terminal) ------------------------------------------------------------------


def render_text(kb: KnowledgeBase, match: Match) -> str:
    """A readable reply for the terminal: the same content as the LINE messages, choices numbered."""
    ui = UI[match.lang]
    numbered = [f"  {n}. {kb[i].text[match.lang].label}" for n, i in enumerate(options(kb, match), 1)]
    if match.kind == "answer" and match.entry_id:
        entry = kb[match.entry_id]
        title, summary, steps = entry_text(entry, match.lang, match.code)
        out = [f"■ {title}", summary]
        if steps:
            out.append(f"\n{ui['steps']}:")
            out += [f"  {n}. {step}" for n, step in enumerate(steps, 1)]
            out.append(f"\n{ui['links']}:")
            out += [f"  - {link.label}: {link.url}" for link in entry.links[match.lang]]
        if numbered:
            out += [f"\n{ui['related']}:", *numbered]
        return "\n".join(out)
    if match.kind == "clarify":
        return clarify_messages(kb, match.choices, match.lang, match.code)[0]["text"]
    if match.entry_id:
        return deflection_messages(kb, match.entry_id, match.lang)[0]["text"]
    text = fallback_messages(kb, match.suggestions, match.lang)[0]["text"]
    return "\n".join([text, *numbered])


# -- limits ---------------------------------------------------------------------------------


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _walk(node: Any) -> Any:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def check_messages(messages: list[dict[str, Any]]) -> list[str]:
    """Every way these messages would be refused by the Messaging API (empty when fine)."""
    problems = []
    if not 1 <= len(messages) <= MAX_MESSAGES:
        problems.append(f"{len(messages)} messages (1 to {MAX_MESSAGES} allowed)")
    for message in messages:
        if message.get("type") == "text" and _utf16(message["text"]) > MAX_TEXT:
            problems.append(f"text is over {MAX_TEXT} UTF-16 units")
        if message.get("type") == "flex":
            if _utf16(message["altText"]) > MAX_ALT_TEXT:
                problems.append(f"altText is over {MAX_ALT_TEXT} characters")
            size = len(json.dumps(message["contents"], ensure_ascii=False).encode())
            if size > MAX_BUBBLE_BYTES:
                problems.append(f"bubble JSON is {size} bytes (over {MAX_BUBBLE_BYTES})")
            for node in _walk(message["contents"]):
                if node.get("type") == "button" and len(node["action"]["label"]) > MAX_BUTTON_LABEL:
                    problems.append(f"button label over {MAX_BUTTON_LABEL}: {node['action']['label']!r}")
        items = message.get("quickReply", {}).get("items", [])
        if len(items) > MAX_QUICK_REPLIES:
            problems.append(f"{len(items)} quick-reply items (at most {MAX_QUICK_REPLIES})")
        for item in items:
            if len(item["action"]["label"]) > MAX_QUICK_LABEL:
                problems.append(f"quick-reply label over {MAX_QUICK_LABEL}: {item['action']['label']!r}")
        for node in _walk(message):
            if len(node.get("data", "")) > MAX_POSTBACK_DATA:
                problems.append(f"postback data over {MAX_POSTBACK_DATA}: {node['data']!r}")
            if len(node.get("uri", "")) > MAX_URI:
                problems.append(f"URI over {MAX_URI} characters")
    return problems


def check_all(kb: KnowledgeBase) -> list[Problem]:
    """Render every entry in both languages and report what LINE would refuse."""
    problems = []
    for entry in kb.entries.values():
        file, _, line = entry.source.partition(":")
        for lang in entry.text:
            # 511 has the longest standard reason phrase: the worst case for {phrase}.
            code = 511 if entry.status and "other" in entry.status else None
            for message in check_messages(answer_messages(kb, entry.id, lang, code)):
                problems.append(Problem(file, entry.id, lang, f"rendered answer: {message}", int(line)))
    return problems
