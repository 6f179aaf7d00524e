"""The gap report: what people asked, what the bot could not answer, and which answers helped."""

from __future__ import annotations

import base64
import html
import io
import json
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from rapidfuzz import fuzz, process

from bot import analyze
from bot.questionlog import OUTCOMES, FeedbackRow, QuestionRow

# Two unanswered questions are one row when their words (token_set_ratio) or their letters (ratio)
# are this similar: 「LINEのIDを変更したい」 = 「LINE IDを変えたい」, but not 「グループの作り方」 and
# 「LINE公式アカウントの作り方」 (71).
SIMILAR = 75
TOP_UNANSWERED = 20
PICK_WINDOW = 30 * 60  # a pick counts for a clarify this long after it (as a typed number does)
# Chart colours per outcome (LINE green for answers); the HTML test looks for them in a screenshot.
COLOURS = {
    "answer": "#06C755",
    "pick": "#7BD88F",
    "clarify": "#F5A623",
    "fallback": "#E5484D",
    "deflection": "#3E63DD",
}


@dataclass
class Group:
    """Unanswered questions that read alike: the commonest spelling, how many, and a few others."""

    question: str
    count: int
    variants: list[str] = field(default_factory=list)
    langs: list[str] = field(default_factory=list)


@dataclass
class ClarifyPicks:
    """One set of choices the bot offered, how often, and what people picked."""

    choices: list[str]
    asked: int
    picked: dict[str, int]
    none: int


@dataclass
class Helpfulness:
    """Feedback on one entry's answers."""

    entry_id: str
    answers: int
    helpful: int
    not_helpful: int
    ratio: float | None  # helpful / taps; None before any tap
    complaints: list[str] = field(default_factory=list)  # masked questions marked "not helpful"


@dataclass
class Report:
    """Everything `python -m bot report` shows."""

    days: int
    start: str
    end: str
    questions: int
    taps: int
    per_day: dict[str, dict[str, int]]
    unanswered: list[Group]
    clarify: list[ClarifyPicks]
    helpful: list[Helpfulness]


def _day(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d")


def _nearest(text: str, by_words: list[str], by_letters: list[str]) -> tuple[int, str, str]:
    """(index of the most similar spelling seen or -1, words key, letters key)."""
    words, letters = " ".join(analyze.words(text)), analyze.compact(text)
    # A one-word question is a subset of every question with that word: compare its letters only.
    words = words if " " in words else ""
    found = [
        process.extractOne(words, by_words, scorer=fuzz.token_set_ratio, processor=None, score_cutoff=SIMILAR)
        if words
        else None,
        process.extractOne(letters, by_letters, scorer=fuzz.ratio, processor=None, score_cutoff=SIMILAR),
    ]
    best = max((f for f in found if f), key=lambda f: f[1], default=None)
    return (best[2] if best else -1), words, letters


def group_similar(texts: Sequence[tuple[str, str]], limit: int = TOP_UNANSWERED) -> list[Group]:
    """Group (text, lang) pairs that read like any spelling already in a group (SIMILAR), commonest first."""
    spellings = Counter(texts)
    groups: list[Group] = []
    spelled: list[Counter[str]] = []
    by_words: list[str] = []  # one key per spelling seen, and the group it went to
    by_letters: list[str] = []
    owner: list[int] = []
    # Commonest spellings first, so each group is named after the way most people put it.
    for (text, lang), count in sorted(spellings.items(), key=lambda item: (-item[1], item[0])):
        nearest, words, letters = _nearest(text, by_words, by_letters)
        if nearest < 0:
            groups.append(Group(text, 0))
            spelled.append(Counter())
            index = len(groups) - 1
        else:
            index = owner[nearest]
        by_words.append(words)
        by_letters.append(letters)
        owner.append(index)
        group = groups[index]
        group.count += count
        spelled[index][text] += count
        if lang not in group.langs:
            group.langs.append(lang)
    for group, counter in zip(groups, spelled, strict=True):
        group.variants = [text for text, _ in counter.most_common(6) if text != group.question][:5]
    groups.sort(key=lambda g: (-g.count, g.question))
    return groups[:limit]


def _clarify_picks(rows: Sequence[QuestionRow]) -> list[ClarifyPicks]:
    by_chat: dict[str, list[QuestionRow]] = defaultdict(list)
    for row in rows:
        by_chat[row.chat_hash].append(row)
    offered: dict[tuple[str, ...], ClarifyPicks] = {}
    for chat_rows in by_chat.values():
        for i, row in enumerate(chat_rows):
            if row.outcome != "clarify" or not row.choices:
                continue
            stats = offered.setdefault(row.choices, ClarifyPicks(list(row.choices), 0, {}, 0))
            stats.asked += 1
            picked = None
            for later in chat_rows[i + 1 :]:
                if later.at - row.at > PICK_WINDOW or later.outcome in {"clarify", "fallback"}:
                    break
                if later.outcome in {"pick", "answer"} and later.entry_id in row.choices:
                    picked = later.entry_id
                    break
            if picked is None:
                stats.none += 1
            else:
                stats.picked[picked] = stats.picked.get(picked, 0) + 1
    return sorted(offered.values(), key=lambda c: (-c.asked, c.choices))


def _helpfulness(rows: Sequence[QuestionRow], taps: Sequence[FeedbackRow]) -> list[Helpfulness]:
    answers = Counter(r.entry_id for r in rows if r.outcome in {"answer", "pick"} and r.entry_id)
    entries: dict[str, Helpfulness] = {}
    for tap in taps:
        entry = entries.setdefault(tap.entry_id, Helpfulness(tap.entry_id, answers[tap.entry_id], 0, 0, None))
        if tap.helpful:
            entry.helpful += 1
        else:
            entry.not_helpful += 1
            if tap.text and tap.text not in entry.complaints and len(entry.complaints) < 5:
                entry.complaints.append(tap.text)
    for entry in entries.values():
        entry.ratio = round(entry.helpful / (entry.helpful + entry.not_helpful), 3)
    # Worst first: the entries most worth a maintainer's time, among those with enough taps to tell.
    return sorted(entries.values(), key=lambda e: (e.ratio or 0.0, -(e.helpful + e.not_helpful), e.entry_id))


def build(questions: Sequence[QuestionRow], taps: Sequence[FeedbackRow], days: int, now: float | None = None) -> Report:
    """The report over the last `days` days of rows (rows older than that are ignored)."""
    now = now or time.time()
    since = now - days * 86400
    questions = [q for q in questions if q.at >= since]
    taps = [t for t in taps if t.at >= since]
    per_day: dict[str, dict[str, int]] = {}
    for offset in range(days - 1, -1, -1):  # every day of the range, quiet ones too
        per_day[_day(now - offset * 86400)] = dict.fromkeys(OUTCOMES, 0)
    for q in questions:
        day = per_day.setdefault(_day(q.at), dict.fromkeys(OUTCOMES, 0))
        day[q.outcome] = day.get(q.outcome, 0) + 1
    unanswered = [(q.text, q.lang) for q in questions if q.outcome == "fallback" and q.text]
    return Report(
        days=days,
        start=_day(since),
        end=_day(now),
        questions=len(questions),
        taps=len(taps),
        per_day=dict(sorted(per_day.items())),
        unanswered=group_similar(unanswered),
        clarify=_clarify_picks(questions),
        helpful=_helpfulness(questions, taps),
    )


def to_json(report: Report) -> str:
    """The report as one JSON document."""
    return json.dumps(asdict(report), ensure_ascii=False, indent=2)


def to_text(report: Report) -> str:
    """The report as plain text for a terminal."""
    out = [
        f"Question log {report.start} to {report.end} ({report.days} days): "
        f"{report.questions} questions, {report.taps} feedback taps",
        "",
        "Day (UTC)   " + "".join(f"{o:>11}" for o in OUTCOMES),
    ]
    busy = {day: counts for day, counts in report.per_day.items() if any(counts.values())}
    for day, counts in busy.items():
        out.append(day + "  " + "".join(f"{counts.get(o, 0):>11}" for o in OUTCOMES))
    if not busy:
        out.append("  (no questions)")
    totals = {o: sum(c.get(o, 0) for c in report.per_day.values()) for o in OUTCOMES}
    out.append("total       " + "".join(f"{totals[o]:>11}" for o in OUTCOMES))
    out += ["", "Top unanswered questions (fallbacks; similar spellings grouped)"]
    for group in report.unanswered:
        others = f"  (also: {' | '.join(group.variants)})" if group.variants else ""
        out.append(f"{group.count:>5}  {group.question}{others}")
    if not report.unanswered:
        out.append("  (none)")
    out += ["", "Clarify: choices offered -> what people picked"]
    for c in report.clarify:
        picks = ", ".join(f"{k} {v}" for k, v in sorted(c.picked.items(), key=lambda kv: -kv[1]))
        out.append(f"{c.asked:>5}  {' / '.join(c.choices)} -> {picks or '-'}; none picked {c.none}")
    if not report.clarify:
        out.append("  (none)")
    out += ["", "Helpful ratio per entry (worst first)"]
    width = max([24, *(len(h.entry_id) + 2 for h in report.helpful)])
    out.append(f"{'entry':<{width}}{'answers':>8}{'helpful':>8}{'not':>6}{'ratio':>7}")
    for h in report.helpful:
        ratio = f"{h.ratio:.2f}" if h.ratio is not None else "-"
        out.append(f"{h.entry_id:<{width}}{h.answers:>8}{h.helpful:>8}{h.not_helpful:>6}{ratio:>7}")
        out += [f"{'':<8}not helpful for: {text}" for text in h.complaints]
    if not report.helpful:
        out.append("  (no feedback yet)")
    return "\n".join(out)


def chart_svg(report: Report) -> str:
    """Outcomes per day as a stacked bar chart, an inline SVG drawn by matplotlib (no pyplot, no display)."""
    from matplotlib.figure import Figure

    days = list(report.per_day)
    fig = Figure(figsize=(10, 3.6), dpi=96)
    ax = fig.subplots()
    bottom = [0] * len(days)
    for outcome in OUTCOMES:
        values = [report.per_day[d].get(outcome, 0) for d in days]
        ax.bar(range(len(days)), values, bottom=bottom, color=COLOURS[outcome], label=outcome, width=0.8)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    step = max(1, len(days) // 10)
    ax.set_xticks(range(0, len(days), step), [d[5:] for d in days[::step]])
    ax.set_ylabel("questions")
    ax.set_title("Outcomes per day")
    ax.legend(loc="upper left", ncols=len(OUTCOMES), frameon=False, fontsize="small")
    ax.spines[["top", "right"]].set_visible(False)
    ax.margins(x=0.01)
    fig.tight_layout()
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None})  # no date: the same data gives the same file
    svg = buffer.getvalue()
    return svg[svg.index("<svg") :]  # drop the XML prolog and doctype: the SVG goes inside HTML


_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI","Noto Sans CJK JP",sans-serif;margin:24px;color:#222}
h1{font-size:20px}h2{font-size:16px;margin-top:28px}table{border-collapse:collapse;font-size:13px}
td,th{border-bottom:1px solid #ddd;padding:3px 10px;text-align:left}td.n{text-align:right}
.muted{color:#777}svg{max-width:100%;height:auto}
"""


def to_html(report: Report) -> str:
    """One self-contained HTML page: the chart inline, no script, no stylesheet or font from elsewhere."""
    e = html.escape

    def table(head: list[str], rows: list[list[str]], numeric: set[int]) -> str:
        cells = "".join(f"<th>{e(h)}</th>" for h in head)
        body = "".join(
            "<tr>"
            + "".join(f'<td class="n">{c}</td>' if i in numeric else f"<td>{c}</td>" for i, c in enumerate(r))
            + "</tr>"
            for r in rows
        )
        return f"<table><tr>{cells}</tr>{body}</table>" if rows else '<p class="muted">(none)</p>'

    unanswered = table(
        ["count", "question", "other spellings", "lang"],
        [[str(g.count), e(g.question), e(" | ".join(g.variants)), e(",".join(g.langs))] for g in report.unanswered],
        {0},
    )
    clarify = table(
        ["asked", "choices", "picked", "none picked"],
        [
            [
                str(c.asked),
                e(" / ".join(c.choices)),
                e(", ".join(f"{k} {v}" for k, v in sorted(c.picked.items(), key=lambda kv: -kv[1]))),
                str(c.none),
            ]
            for c in report.clarify
        ],
        {0, 3},
    )
    helpful = table(
        ["entry", "answers", "helpful", "not helpful", "ratio", "questions marked not helpful"],
        [
            [
                e(h.entry_id),
                str(h.answers),
                str(h.helpful),
                str(h.not_helpful),
                f"{h.ratio:.2f}" if h.ratio is not None else "-",
                e(" | ".join(h.complaints)),
            ]
            for h in report.helpful
        ],
        {1, 2, 3, 4},
    )
    title = f"Question log {report.start} to {report.end}"
    # The favicon as an empty data URI: a browser would otherwise ask a server for /favicon.ico.
    icon = "data:image/x-icon;base64," + base64.b64encode(b"").decode()
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>'
        f'<link rel="icon" href="{icon}"><style>{_STYLE}</style></head><body>'
        f"<h1>{e(title)}</h1><p>{report.questions} questions, {report.taps} feedback taps "
        f"over {report.days} days.</p>{chart_svg(report)}"
        f"<h2>Top unanswered questions</h2><p class=muted>Fallbacks, similar spellings grouped.</p>{unanswered}"
        f"<h2>Clarify: what people picked</h2>{clarify}"
        f"<h2>Helpful ratio per entry (worst first)</h2>{helpful}</body></html>"
    )
