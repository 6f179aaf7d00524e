"""Types that pass between the stages of answering: no logic, no imports from the pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["answer", "clarify", "fallback"]


@dataclass(frozen=True)
class Signals:
    """What the exact recognisers found in one question (pasted artefacts and exact strings)."""

    details: tuple[str, ...] = ()  # entry ids of console detail strings, longest match first
    reasons: tuple[str, ...] = ()  # entry ids of reason codes
    exact: tuple[str, ...] = ()  # entry ids named by an exact string (API error messages, SDK exceptions)
    codes: tuple[int, ...] = ()  # HTTP status codes read from their context
    bare: bool = False  # nothing but a status code or its reason phrase ("Forbidden", "403")
    classes: tuple[int, ...] = ()  # status classes written like "5xx"
    calls_api: bool = False  # signs the asker calls the Messaging API (api.line.me, x-line-request-id, ...)
    from_line: bool = False  # signs of a request LINE sent (its webhook's User-Agent): the asker runs the bot
    howto: bool = False  # asks how to do something and names nothing going wrong
    trouble: bool = False  # names something going wrong
    elsewhere: bool = False  # names another chat platform (Slack, Discord...) and not LINE: not ours
    # the words of the clause before the first code read ("webhook returns 404", "but push returns 400")
    code_clause: tuple[str, ...] = ()


@dataclass(frozen=True)
class Query:
    """A question analysed once (the pipeline's question; `Question` below is the log record)."""

    text: str
    lang: str  # reply language, "ja" or "en"
    words: tuple[str, ...]  # every word in order: dictionary forms (ja), stems (en), synonyms applied
    tokens: tuple[str, ...]  # the content words among them (stop words and digits dropped)
    focus: tuple[str, ...]  # the tokens of the lines that hold a pasted error (empty when none)
    sentences: tuple[tuple[str, ...], ...] = ()  # the tokens of each sentence, when there are several
    signals: Signals = field(default_factory=Signals)
    audience: str | None = None  # set by routing: operator, app_user, sender, or None when unclear
    mentions_line: bool = False  # "LINE" named with nobody else: the app
    code_audience: str | None = None  # who the clause before the status code names, when one is named
    lang_sure: bool = True  # the text shows its language (see Match.lang_sure)


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
    lang_sure: bool = True  # False: only console strings, codes and neutral words, no sign of a language


@dataclass(frozen=True)
class Question:
    """What one reply did with a question, for the question log (the planner returns it; the reply side writes it)."""

    outcome: str  # answer / clarify / fallback / deflection / pick
    lang: str
    entry_id: str | None = None
    score: float = 0.0
    choices: tuple[str, ...] = ()  # what a clarify offered
    text: str | None = None  # the question as sent; the log keeps it only for clarify and fallback, masked


@dataclass(frozen=True)
class Feedback:
    """A helpful / not helpful tap on an answer."""

    helpful: bool
    entry_id: str
    lang: str
    text: str | None = None  # the question the answer was for; kept only when not helpful, masked


@dataclass(frozen=True)
class Reply:
    """What to send for one event, and a short note for the log (never the user's text)."""

    messages: list[dict[str, Any]]
    note: str
    offered: tuple[str, ...] = ()  # entry ids a number can pick next ("2" for the second)
    lang: str = "ja"
    log: Question | Feedback | None = None  # what the question log records once the reply is sent
    # Link this language's rich menu to the user (the reply side does it: it is a LINE API call), or
    # PROFILE: look up the user's profile language, then send the one of `by_language` in it.
    menu: str | None = None
    by_language: tuple[Reply, ...] = ()
    probe: str | None = None  # a webhook URL the reply side must check first (bot/diagnose.py renders it)


PROFILE = "profile"  # Reply.menu: the language comes from the user's LINE profile
