"""Score the matcher on a question file (format: tests/data/dev-questions.yaml)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.matcher import Matcher
from bot.types import Match


@dataclass(frozen=True)
class Question:
    """One question and what the bot must do with it."""

    q: str
    expect: str | None = None  # an entry id, or "none" for a fallback
    clarify: tuple[str, ...] = ()
    accept: tuple[str, ...] = ()
    lang: str | None = None
    split: str | None = None  # real questions: "tune" (may shape rules) or "frozen" (scored only)
    source: str | None = None  # where the question was found
    deflect: str | None = None  # near-domain: the deflection expected (counted as expect: none)

    @property
    def group(self) -> str:
        if self.clarify:
            return "clarify"
        return "out-of-scope" if self.expect == "none" else "in-scope"


@dataclass
class Report:
    """Results of one evaluation run."""

    total: int = 0
    right: int = 0
    groups: dict[str, list[int]] = field(default_factory=dict)  # group -> [right, total]
    wrong_language: int = 0
    confident_wrong: int = 0  # answered with an entry when the right outcome was not that answer
    misses: list[tuple[Question, Match]] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return self.right / self.total if self.total else 0.0

    def summary(self) -> str:
        parts = [f"accuracy {self.accuracy:.3f} ({self.right}/{self.total})"]
        for name in ("in-scope", "out-of-scope", "clarify"):
            right, total = self.groups.get(name, [0, 0])
            parts.append(f"{name} {right}/{total}")
        parts.append(f"wrong answers {self.confident_wrong}")
        parts.append(f"wrong language {self.wrong_language}")
        return " · ".join(parts)


SPLITS = ("tune", "frozen")
_FIELDS = {"q", "expect", "clarify", "accept", "lang", "split", "source", "deflect"}


def load_questions(path: str | Path, split: str | None = None) -> list[Question]:
    """Read a question file (only the items of `split` when given); raise ValueError naming a bad item."""
    data: Any = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, list):
        raise ValueError(f"{path}: must be a list of questions")
    questions = []
    for i, item in enumerate(data, 1):
        if not isinstance(item, dict) or not isinstance(item.get("q"), str):
            raise ValueError(f"{path}: item {i}: needs a text 'q'")
        unknown = set(item) - _FIELDS
        if unknown:
            raise ValueError(f"{path}: item {i}: unknown field(s) {', '.join(sorted(map(str, unknown)))}")
        if ("expect" in item) == ("clarify" in item):
            raise ValueError(f"{path}: item {i}: needs exactly one of 'expect' and 'clarify'")
        if item.get("split") not in (None, *SPLITS):
            raise ValueError(f"{path}: item {i}: split must be one of {', '.join(SPLITS)}")
        questions.append(
            Question(
                q=item["q"],
                expect=item.get("expect"),
                clarify=tuple(item.get("clarify") or ()),
                accept=tuple(item.get("accept") or ()),
                lang=item.get("lang"),
                split=item.get("split"),
                source=item.get("source"),
                deflect=item.get("deflect"),
            )
        )
    if split is not None:
        questions = [q for q in questions if q.split == split]
    return questions


def is_right(question: Question, match: Match) -> bool:
    """Whether the match is what the question file asks for (language aside). A deflection is a
    fallback: `expect: none` is right for it, and `expect: outside.x` wants that deflection."""
    if question.clarify:
        return match.kind == "clarify" and set(question.clarify) <= set(match.choices)
    if question.expect == "none":  # ... or an answer the file also accepts
        return match.kind == "fallback" or (match.kind == "answer" and match.entry_id in question.accept)
    wanted = (question.expect, *question.accept)
    if match.kind == "fallback":
        return match.entry_id is not None and match.entry_id in wanted
    return match.kind == "answer" and match.entry_id in wanted


def evaluate(matcher: Matcher, questions: list[Question]) -> Report:
    """Match every question and count what was right."""
    report = Report()
    for question in questions:
        match = matcher.match(question.q)
        right = is_right(question, match)
        language_ok = question.lang is None or match.lang == question.lang
        if not language_ok:
            report.wrong_language += 1
        ok = right and language_ok
        report.total += 1
        report.right += ok
        counts = report.groups.setdefault(question.group, [0, 0])
        counts[0] += ok
        counts[1] += 1
        if not ok:
            report.misses.append((question, match))
            report.confident_wrong += match.kind == "answer"
    return report
