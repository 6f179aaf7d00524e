"""Types that pass between the stages of answering: no logic, no imports from the pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["answer", "clarify", "fallback"]


@dataclass(frozen=True)
class Match:
    """The matcher's verdict for one question."""

    kind: Kind
    lang: str
    entry_id: str | None = None  # an answer's entry, or a deflection's (kind "fallback")
    choices: tuple[str, ...] = ()
    score: float = 0.0
    code: int | None = None  # the HTTP status code the person gave, when there was one
    suggestions: tuple[str, ...] = field(default=())  # for a fallback: topics that came closest


@dataclass(frozen=True)
class Reply:
    """What to send for one event, and a short note for the log (never the user's text)."""

    messages: list[dict[str, Any]]
    note: str
    offered: tuple[str, ...] = ()  # entry ids a number can pick next ("2" for the second)
    lang: str = "ja"
