"""Turn a match into LINE messages (camelCase dicts, as the reply API takes them) or plain text."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlencode

from bot import menus
from bot.knowledge import LANGS, OUTSIDE, Entry, KnowledgeBase
from bot.linelimits import MAX_ALT_TEXT, MAX_QUICK_REPLIES
from bot.types import Match

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
    if not entry_id or lang not in ("ja", "en"):
        return None
    code = fields.get("code", "")
    return entry_id, lang, int(code) if code.isdecimal() and code.isascii() and len(code) == 3 else None


# -- entry text -----------------------------------------------------------------------------


def _fill(kb: KnowledgeBase, text: str, lang: str, code: int | None) -> str:
    if "{" not in text:
        return text
    ui = kb.ui.strings[lang]
    if code is None:
        shown, phrase = ui["other_code"], ui["other_phrase"]
    else:
        shown = str(code)
        try:
            phrase = HTTPStatus(code).phrase
        except ValueError:
            phrase = ui["unassigned_phrase"]
    return text.replace("{code}", shown).replace("{phrase}", phrase)


def entry_text(kb: KnowledgeBase, entry_id: str, lang: str, code: int | None = None) -> tuple[str, str, list[str]]:
    """(title, summary, steps) of an entry, with {code} and {phrase} filled in."""
    text = kb[entry_id].text[lang]
    summary = text.summary
    if code is None and entry_id == kb.ui.other_status:
        # Its summary explains the code it was given; with none (its button) that read 'answered a non-2xx
        # code (error) ... The standard meaning of this code is "error"'.
        summary = kb.ui.text(lang, "other_summary")
    return (
        _fill(kb, text.title, lang, code),
        _fill(kb, summary, lang, code),
        [_fill(kb, step, lang, code) for step in text.steps],
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
    return {"items": [_quick_item(kb, entry_id, lang) for entry_id in menus.buttons(kb, ids)]}


def clip(text: str, limit: int) -> str:
    """`text` within `limit` UTF-16 code units (an emoji is two, as LINE counts), "…" ending a cut one."""
    units = len(text.encode("utf-16-le", "surrogatepass")) // 2
    if units <= limit:
        return text
    used = 0
    for i, char in enumerate(text):
        used += 2 if ord(char) > 0xFFFF else 1
        if used > limit - 1:  # room for the "…"
            return text[:i] + "…"
    return text


def _bubble(kb: KnowledgeBase, entry: Entry, lang: str, code: int | None) -> dict[str, Any]:
    title, summary, steps = entry_text(kb, entry.id, lang, code)
    body: list[dict[str, Any]] = [{"type": "text", "text": summary, "wrap": True, "size": "sm"}]
    if steps:
        body.append({"type": "separator", "margin": "md"})
        body.append({"type": "text", "text": kb.ui.text(lang, "steps"), "weight": "bold", "size": "sm", "margin": "md"})
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
    if entry.related:
        # Numbered as a typed number picks them: LINE for PC shows no quick-reply buttons, and a bare "2"
        # after an answer must have something on screen to refer to.
        body.append({"type": "separator", "margin": "md"})
        body.append(
            {"type": "text", "text": kb.ui.text(lang, "related"), "weight": "bold", "size": "sm", "margin": "md"}
        )
        for number, entry_id in enumerate(entry.related, 1):
            label = f"{number}. {kb[entry_id].text[lang].label}"
            body.append({"type": "text", "text": label, "size": "sm", "color": "#555555", "wrap": True})
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
    """One entry's answer: a Flex bubble (a text message for entries without steps; a deflection's text)."""
    entry = kb[entry_id]
    if entry.audience == OUTSIDE:  # its links are the answer: the text below would drop them
        return deflection_messages(kb, entry_id, lang)
    title, summary, steps = entry_text(kb, entry_id, lang, code)
    quick = _quick_reply(kb, list(entry.related), lang)
    if not steps:
        related = _numbered(kb, list(entry.related), lang)
        text = (
            f"{summary}\n\n{kb.ui.text(lang, 'related')}:\n" + "\n".join(r.strip() for r in related)
            if related
            else summary
        )
        return [{"type": "text", "text": text, "quickReply": quick}]
    numbered = "\n".join(f"{n}. {step}" for n, step in enumerate(steps, 1))
    alt = clip(f"{title}\n{summary}\n{numbered}", MAX_ALT_TEXT)
    return [{"type": "flex", "altText": alt, "contents": _bubble(kb, entry, lang, code), "quickReply": quick}]


def clarify_messages(
    kb: KnowledgeBase, choices: tuple[str, ...], lang: str, code: int | None = None, prompt: str = "clarify"
) -> list[dict[str, Any]]:
    """Ask back: a short question (ui.yaml's `prompt`) listing the choices, one quick-reply button each."""
    lines = [kb.ui.text(lang, prompt)]
    lines += [f"{n}. {entry_text(kb, c, lang, code)[0]}" for n, c in enumerate(choices, 1)]
    items = [_quick_item(kb, entry_id, lang, code) for entry_id in choices]
    return [{"type": "text", "text": "\n".join(lines), "quickReply": {"items": items}}]


def fallback_messages(kb: KnowledgeBase, suggestions: tuple[str, ...], lang: str) -> list[dict[str, Any]]:
    """Nothing fits: say so, show how to ask, offer up to three topics and the menu."""
    text = f"{kb.ui.text(lang, 'fallback')}\n\n{kb.ui.text(lang, 'how_to_ask')}"
    picks = menus.suggestion_ids(kb, suggestions)
    if picks:
        # Numbered in the text too, as a question back is: LINE for PC shows no quick replies, and a number
        # picks them (the order of menus.options).
        lines = [f"{n}. {entry_text(kb, p, lang)[0]}" for n, p in enumerate(picks, 1)]
        text += "\n\n" + "\n".join([kb.ui.text(lang, "suggest"), *lines])
    return [{"type": "text", "text": text, "quickReply": _quick_reply(kb, picks, lang)}]


def number_messages(kb: KnowledgeBase, offered: tuple[str, ...] | list[str], lang: str | None) -> list[dict[str, Any]]:
    """A message of just a number that picks nothing: the offered choices again with their range, or that
    there is nothing to pick (never offered, or forgotten); in every language when no conversation says
    which (`lang` None: a number shows none, and after 30 minutes the bot no longer knows)."""
    ids = [i for i in offered if i in kb]
    if not ids or lang is None:
        langs = [lang] if lang else list(LANGS)
        text = "\n\n".join(kb.ui.text(each, "number_none") for each in langs)
        return [
            {
                "type": "text",
                "text": text,
                "quickReply": {"items": [_quick_item(kb, kb.ui.help, each) for each in langs]},
            }
        ]
    lines = [kb.ui.text(lang, "number_range").replace("{count}", str(len(ids)))]
    lines += [f"{n}. {entry_text(kb, i, lang)[0]}" for n, i in enumerate(ids, 1)]
    return [{"type": "text", "text": "\n".join(lines), "quickReply": _quick_reply(kb, ids, lang)}]


def deflection_messages(kb: KnowledgeBase, entry_id: str, lang: str) -> list[dict[str, Any]]:
    """Outside the bot's field: say so plainly and point where to go (the entry's text and links)."""
    entry = kb[entry_id]
    lines = [kb.ui.text(lang, "outside"), "", entry.text[lang].summary]
    lines += [f"- {link.label}: {link.url}" for link in entry.links[lang]]
    return [{"type": "text", "text": "\n".join(lines), "quickReply": _quick_reply(kb, [], lang)}]


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
    return [{"type": "text", "text": kb.ui.text(lang, "hint"), "quickReply": _quick_reply(kb, [], lang)}]


def join_messages(kb: KnowledgeBase) -> list[dict[str, Any]]:
    """Introduction when the bot joins a group or room: LINE says nothing of the members' languages (a join
    event has no user, a group member's profile no language), so one short text in every language the bot
    speaks, Japanese first, and the menu button in each."""
    text = "\n\n".join(kb.ui.text(lang, "join") for lang in LANGS)
    return [
        {"type": "text", "text": text, "quickReply": {"items": [_quick_item(kb, kb.ui.help, lang) for lang in LANGS]}}
    ]


def also_messages(kb: KnowledgeBase, messages: list[dict[str, Any]], lang: str) -> list[dict[str, Any]]:
    """`messages` (a welcome in one language) followed by a line in every other language saying it is spoken
    too; the welcome's buttons move under that line (LINE shows only the last message's) with each menu."""
    others = [other for other in LANGS if other != lang]
    items = messages[-1].get("quickReply", {}).get("items", [])
    items = [*items, *(_quick_item(kb, kb.ui.help, other) for other in others)][:MAX_QUICK_REPLIES]
    text = "\n".join(kb.ui.text(other, "also") for other in others)
    last = {k: v for k, v in messages[-1].items() if k != "quickReply"}
    return [*messages[:-1], last, {"type": "text", "text": text, "quickReply": {"items": items}}]


# -- plain text (terminal) ------------------------------------------------------------------


def answer_text(kb: KnowledgeBase, entry_id: str, lang: str, code: int | None = None) -> str:
    """One entry's answer for the terminal: title, summary, numbered steps, links, related topics."""
    entry = kb[entry_id]
    if entry.audience == OUTSIDE:
        return deflection_messages(kb, entry_id, lang)[0]["text"]
    title, summary, steps = entry_text(kb, entry_id, lang, code)
    out = [f"■ {title}", summary]
    if steps:
        out.append(f"\n{kb.ui.text(lang, 'steps')}:")
        out += [f"  {n}. {step}" for n, step in enumerate(steps, 1)]
        out.append(f"\n{kb.ui.text(lang, 'links')}:")
        out += [f"  - {link.label}: {link.url}" for link in entry.links[lang]]
    if entry.related:
        out += [f"\n{kb.ui.text(lang, 'related')}:", *_numbered(kb, list(entry.related), lang)]
    return "\n".join(out)


def _numbered(kb: KnowledgeBase, ids: list[str], lang: str) -> list[str]:
    return [f"  {n}. {kb[i].text[lang].label}" for n, i in enumerate(ids, 1)]


def render_text(kb: KnowledgeBase, match: Match) -> str:
    """A readable reply for the terminal: the same content as the LINE messages, choices numbered."""
    if match.kind == "answer" and match.entry_id:
        return answer_text(kb, match.entry_id, match.lang, match.code)
    text = render(kb, match)[0]["text"]
    if match.kind == "clarify" or not match.entry_id:
        return text  # a question back or a fallback: already numbered
    return "\n".join([text, *_numbered(kb, menus.options(kb, match), match.lang)])
