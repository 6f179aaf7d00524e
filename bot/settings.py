"""Every threshold of the matcher in one place, with how each value was fitted."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    """Matcher thresholds and weights (scores run 0-100)."""

    # decide: fitted on tests/data/dev-questions.yaml and the tune split of real-questions.yaml: the
    # lowest value that keeps the out-of-scope questions of both from an answer.
    answer_min: float = 65.0
    # decide: entries within this of the best are "close" and the bot asks back; the widest margin that
    # does not turn the dev set's clear wins into questions.
    clarify_margin: float = 2.0
    # decide: a deflection (outside.*) ranked first sends the asker elsewhere from this score on: lower
    # than answer_min, because pointing elsewhere is a fallback (never a wrong answer), and long pastes
    # about LINE Login or LIFF score low against everything.
    deflect_min: float = 45.0
    deflect_margin: float = 10.0  # ... or within this of the best (0, 5, 10 tried: 10 leaves fewest wrong answers)
    max_choices: int = 4  # a question back offers at most this many entries (LINE shows 4 buttons well)
    max_suggestions: int = 3  # a fallback suggests at most this many topics
    suggest_min: float = 45.0  # ... and only those scoring at least this
    # retrieve: a score mixes the best alias fit (a concept phrase wholly in the question) with the BM25
    # share of the whole question the entry's whole text explains; alias_weight fitted on the dev and
    # paraphrase sets (0.6-0.8 score the same there; 0.7 keeps long pastes from one incidental alias).
    alias_weight: float = 0.5
    # retrieve: an alias holding the whole question ("timeout" in "request timeout") fits this well.
    contained: float = 0.86
    contained_share: float = 0.25  # ... when the question is at least this share of the alias (by IDF)
    # retrieve: an alias fits in full only when it explains at least this share (by IDF) of the question,
    # or of its error line; fitted on the tune split (0.3-0.5 tried).
    alias_share: float = 0.1
    partial: float = 0.8  # an alias with a word missing fits its IDF coverage times this
    # retrieve: BM25 over title, summary, steps and aliases; field weights say how much a word found in
    # each counts (aliases and titles name the topic, steps mention many things in passing).
    k1: float = 1.2
    b: float = 0.5
    alias_field: float = 3.0
    title_field: float = 2.0
    body_field: float = 1.0
    focus_weight: float = 3.0  # words of the line holding a pasted error count this many times
    soft_weight: float = 0.3  # "LINE", "error": in nearly every question, they weigh this much
    # retrieve: who is asking moves scores only between entries that already fit.
    audience_bonus: float = 6.0
    audience_penalty: float = 12.0
    typo_cutoff: float = 85.0  # rapidfuzz ratio for an unknown Latin word to count as a known one


SETTINGS = Settings()
