"""What the Messaging API would refuse: checked on every rendered entry before anything is served."""

from __future__ import annotations

import json
from typing import Any

from bot import feedback, render
from bot.knowledge import LANGS, UI_FILE, KnowledgeBase, KnowledgeError, Problem
from bot.linelimits import (
    MAX_ALT_TEXT,
    MAX_BUBBLE_BYTES,
    MAX_BUTTON_LABEL,
    MAX_MESSAGES,
    MAX_POSTBACK_DATA,
    MAX_QUICK_LABEL,
    MAX_QUICK_REPLIES,
    MAX_TEXT,
    MAX_URI,
)


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


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
            # With the feedback buttons and a long question in "not helpful": the largest an answer gets.
            messages = feedback.with_buttons(
                kb, render.answer_messages(kb, entry.id, lang, code), entry.id, lang, "?" * 300
            )
            for message in check_messages(messages):
                problems.append(Problem(file, entry.id, lang, f"rendered answer: {message}", int(line)))
    # The replies made of several languages' strings: a group's introduction, a welcome with the other line.
    welcome = render.also_messages(kb, render.answer_messages(kb, kb.ui.help, LANGS[0]), LANGS[0])
    for name, messages in (("join", render.join_messages(kb)), ("also", welcome)):
        problems += [Problem(UI_FILE, "strings", name, f"rendered reply: {m}") for m in check_messages(messages)]
    return problems


def checked(kb: KnowledgeBase) -> KnowledgeBase:
    """`kb` itself once every entry renders within LINE's limits; else KnowledgeError naming each."""
    problems = check_all(kb)
    if problems:
        raise KnowledgeError(problems)
    return kb
