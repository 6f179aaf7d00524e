"""A finding as LINE messages (a Flex bubble of the verdict and facts, then the entry's answer) or text."""

from __future__ import annotations

from typing import Any

from bot import render
from bot.diagnose_data import DiagnoseData, address_kind, detail_key
from bot.diagnosis import Finding, Note
from bot.knowledge import KnowledgeBase
from bot.types import Match

MAX_INFO = 160  # characters of one fact in the bubble; the altText and CLI carry the whole of it
MAX_URL_SHOWN = 200  # of the URL, in the bubble and the altText: the verdict after it must stay in the altText
OK_COLOR, BAD_COLOR = "#06C755", "#E5483F"


def _code(finding: Finding) -> int | None:
    return finding.status if finding.reason == "error_status_code" else None


def note_text(note: Note, data: DiagnoseData, lang: str) -> str:
    """One measured fact (or a refusal's rule) in the words of knowledge/diagnose.yaml for `lang`."""
    text = data.text[lang]
    fields = _Fields(note.fields)
    if "what" in fields:  # a refused address's kind, in this language too
        fields["what"] = address_kind(text, fields["what"], fields.get("of", ""), fields.get("inner", ""))
    template = text.get(note.key)
    return template.format_map(fields) if template else note.key


def headline(finding: Finding, data: DiagnoseData, lang: str) -> tuple[str, str]:
    """(title, verdict sentence) of a finding that was probed."""
    text = data.text[lang]
    status = finding.facts.status
    if finding.unsigned_rejected:
        return text["title_unsigned"], text["unsigned"].format(status=status)
    if finding.ok:
        return text["title_ok"], text["ok"].format(status=status)
    # LINE's reason and detail stay as the console writes them (its Japanese pages keep them in English too);
    # a language that wants them explained says so with {explanation}.
    explained = text.get(detail_key(finding.detail or "", finding.status), "").format(status=finding.status)
    verdict = text["line_would_say"].format(reason=finding.reason, detail=finding.detail, explanation=explained)
    return text["title_problem"], verdict


def refused_text(finding: Finding, data: DiagnoseData, lang: str) -> str:
    """What a refused URL gets: the rule it broke and what can be checked."""
    text = data.text[lang]
    facts = finding.facts
    why = note_text(Note(f"refused_{facts.refused_rule}", facts.refused_fields), data, lang)
    return f"{text['refused'].format(why=why)}\n{text['refused_hint']}"


class _Fields(dict[str, str]):
    """Fields for a text; one the text names but the rule did not give shows as "?"."""

    def __missing__(self, key: str) -> str:
        return "?"


def _fact_lines(finding: Finding, data: DiagnoseData, lang: str) -> list[tuple[bool, str, str]]:
    text = data.text[lang]
    return [(c.ok, text.get(f"check_{c.name}", c.name), note_text(c.note, data, lang)) for c in finding.checks]


def as_json(finding: Finding, data: DiagnoseData, lang: str = "en") -> dict[str, Any]:
    """The CLI's --json object; each check's `info` in `lang` (English unless asked)."""
    return {
        "url": finding.url,
        "ok": finding.ok,
        "reason": finding.reason,
        "detail": finding.detail,
        "status": finding.status,
        "entry": finding.entry,
        "elapsed_ms": round(finding.facts.elapsed_ms, 1),
        "checks": [{"name": c.name, "ok": c.ok, "info": note_text(c.note, data, lang)} for c in finding.checks],
    }


def messages(finding: Finding, kb: KnowledgeBase, data: DiagnoseData, lang: str) -> list[dict[str, Any]]:
    """The reply to a diagnosis request: the finding's bubble, then its entry's answer when there is one."""
    if finding.refused:
        return [{"type": "text", "text": refused_text(finding, data, lang)}]
    title, verdict = headline(finding, data, lang)
    facts = _fact_lines(finding, data, lang)
    warnings = [note_text(w, data, lang) for w in finding.warnings]
    rows: list[dict[str, Any]] = [
        {
            "type": "box",
            "layout": "baseline",
            "spacing": "sm",
            "contents": [
                {
                    "type": "text",
                    "text": "✓" if ok else "✗",
                    "flex": 0,
                    "size": "sm",
                    "color": OK_COLOR if ok else BAD_COLOR,
                },
                {"type": "text", "text": label, "flex": 3, "size": "xs", "weight": "bold", "wrap": True},
                {"type": "text", "text": render.clip(info, MAX_INFO), "flex": 8, "size": "xs", "wrap": True},
            ],
        }
        for ok, label, info in facts
    ]
    body: list[dict[str, Any]] = [
        {"type": "text", "text": verdict, "wrap": True, "size": "sm", "weight": "bold"},
        *({"type": "text", "text": "⚠ " + w, "wrap": True, "size": "xs", "color": BAD_COLOR} for w in warnings),
        {"type": "separator", "margin": "md"},
        {"type": "text", "text": data.text[lang]["facts"], "weight": "bold", "size": "sm", "margin": "md"},
        *rows,
        {"type": "text", "text": data.text[lang]["probe_note"], "wrap": True, "size": "xxs", "color": "#888888"},
    ]
    color = OK_COLOR if finding.ok else BAD_COLOR
    bubble = {
        "type": "bubble",
        "size": "giga",
        "header": {
            "type": "box",
            "layout": "vertical",
            "contents": [
                {"type": "text", "text": title, "weight": "bold", "size": "md", "wrap": True, "color": color},
                {
                    "type": "text",
                    "text": render.clip(finding.url, MAX_URL_SHOWN),
                    "size": "xxs",
                    "wrap": True,
                    "color": "#888888",
                },
            ],
        },
        "body": {"type": "box", "layout": "vertical", "spacing": "sm", "contents": body},
    }
    lines = [
        title,
        render.clip(finding.url, MAX_URL_SHOWN),
        verdict,
        *warnings,
        *(f"{'✓' if ok else '✗'} {k}: {v}" for ok, k, v in facts),
    ]
    alt = render.clip("\n".join(lines), render.MAX_ALT_TEXT)
    out: list[dict[str, Any]] = [{"type": "flex", "altText": alt, "contents": bubble}]
    if finding.entry and finding.entry in kb:
        out += render.answer_messages(kb, finding.entry, lang, _code(finding))
    return out


def text(finding: Finding, kb: KnowledgeBase, data: DiagnoseData, lang: str) -> str:
    """The finding for a terminal: verdict, every fact, then the entry's answer."""
    if finding.refused:
        return refused_text(finding, data, lang)
    title, verdict = headline(finding, data, lang)
    out = [f"■ {title}", finding.url, verdict]
    out += [f"⚠ {note_text(w, data, lang)}" for w in finding.warnings]
    out.append(f"\n{data.text[lang]['facts']}:")
    out += [f"  {'✓' if ok else '✗'} {label}: {info}" for ok, label, info in _fact_lines(finding, data, lang)]
    out.append("  " + data.text[lang]["elapsed"].format(ms=f"{finding.facts.elapsed_ms:.0f}"))
    if finding.entry and finding.entry in kb:
        entry = Match("answer", lang, entry_id=finding.entry, score=100.0, code=_code(finding))
        out.append("\n" + render.render_text(kb, entry))
    return "\n".join(out)
