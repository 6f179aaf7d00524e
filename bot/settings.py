"""Every threshold of the matcher in one place, with how each value was fitted.

"Grid" below means: tried together on tests/data/dev-questions.yaml, paraphrase-questions.yaml,
topic-questions.yaml and the `split: tune` items of real-questions.yaml, counting right outcomes and
confident wrong answers (the `split: frozen` items were never used)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    """Matcher thresholds and weights (scores run 0-100)."""

    # decide: best score below this falls back. Grid {60, 65, 70, 75}: 60 answers more of the paraphrases
    # but doubles the tune split's wrong answers; 65 keeps every out-of-scope dev question from an answer.
    answer_min: float = 65.0
    # decide: entries within this of the best are "close" and the bot asks back. Grid {2, 3}: 3 turned
    # clear dev-set wins into questions.
    clarify_margin: float = 2.0
    # decide: a deflection (outside.*) ranked first sends the asker elsewhere from this score on: lower
    # than answer_min, because pointing elsewhere is a fallback (never a wrong answer), and long pastes
    # about LINE Login or LIFF score low against everything.
    deflect_min: float = 45.0
    deflect_margin: float = 10.0  # ... or within this of the best (grid {0, 5, 10}: 10, fewest wrong answers)
    # decide: several entries own a status code and none fits in full: one the words lead the others by this
    # much, from suggest_min up, answers. Grid {3, 5, 10, 15, 20}: the same outcomes in every set.
    owner_margin: float = 10.0
    max_choices: int = 4  # a question back offers at most this many entries (LINE shows 4 buttons well)
    max_suggestions: int = 3  # a fallback suggests at most this many topics
    suggest_min: float = 45.0  # ... and only those scoring at least this
    # retrieve: a score mixes the best alias fit (a concept phrase wholly in the question) with the BM25
    # share of the whole question the entry's whole text explains. Grid {0.5, 0.6, 0.7, 0.8}: 0.8 tripled
    # the tune split's wrong answers (one alias decides a long paste); 0.5 had the fewest.
    alias_weight: float = 0.5
    # retrieve: an alias holding the whole question ("timeout" in "request timeout") fits this well: under
    # a full fit, above answer_min (grid {0.86, 0.95}: no difference; 0.86 as the previous matcher).
    contained: float = 0.86
    # ... when the question is at least this share of the alias by IDF (0.4 left "timeout" out of
    # "DNS query timeout", which the dev set's clarify question needs).
    contained_share: float = 0.25
    # retrieve: an alias fits in full only when it explains at least this share (by IDF) of the question,
    # or of its error line. Grid {0.1, 0.15, 0.25, 0.4, 0.55}: without the rule the tune split had 32 wrong
    # answers of 134; 0.1 with alias_weight 0.5 kept the paraphrases and the fewest wrong answers.
    alias_share: float = 0.1
    # retrieve: a question whose content words weigh less than this in all (IDF; 1.0 is a word in about a
    # third of the entries) names no topic: its BM25 share scales down by its weight, and it is no fragment
    # of a phrase. 「Webhookとは何ですか」 asked back between two entries holding "webhook". Grid {0.5, 0.8,
    # 1.0, 1.3, 1.6, 2.0}: the same outcomes up to 1.6; 2.0 answered a bare "timeout" that must ask back.
    weight_min: float = 1.0
    # retrieve: an entry whose whole phrase found in the question lies inside another entry's whole phrase
    # found there fits this much (the longer phrase wins). Grid {1.0, 0.95, 0.9, 0.85, 0.8, 0.7}: 0.85 also
    # let "webhook error log" beat "error log" (a paraphrase asked back at 0.9); 0.8 lost a paraphrase.
    subsumed: float = 0.85
    partial: float = 0.8  # an alias with a word missing fits its IDF coverage times this (as before)
    # The values below were first set by hand: BM25's usual k1; b lowered from 0.75 because entries differ
    # in length by design; field weights say how much a word found in each field counts (aliases and titles
    # name the topic, steps mention many things in passing). Checked by grid in round 8: k1 {0.9, 1.2, 1.6,
    # 2.0} x b {0.3, 0.5, 0.75}, and alias {2, 3, 4} x title {1, 2, 3} x body {0.5, 1, 1.5}: these values
    # are the best on every set (higher k1 or b lost paraphrases; body 0.5 lost 5 of the tune split).
    k1: float = 1.2
    b: float = 0.5
    alias_field: float = 3.0
    title_field: float = 2.0
    body_field: float = 1.0
    # retrieve: a word no entry uses weighs this share of the rarest word's IDF (grid {1.0, 0.6, 0.3}: lower
    # weights let long questions full of unknown words reach an answer, and doubled the wrong answers).
    unknown_weight: float = 1.0
    focus_weight: float = 3.0  # words of the line holding a pasted error count this many times
    soft_weight: float = 0.3  # "LINE", "error": in nearly every question, they weigh this much
    # decide: who is asking moves scores only between entries that already fit (the previous matcher's).
    audience_bonus: float = 6.0
    audience_penalty: float = 12.0
    # retrieve: entries scoring below this are left out (no threshold above looks at them: suggestions,
    # deflections and answers start at 45, and who-is-asking adds at most 6).
    keep_min: float = 30.0
    # retrieve: in a question of several sentences, an entry also scores by the one sentence it fits best,
    # times this (a long story with one sentence naming the problem). Grid {0, 0.8, 0.85, 0.9, 0.95} x min
    # words {2, 3, 4}: 0.9 and 3 answered the most of the tune split; 0.95 tripled its wrong answers.
    sentence_weight: float = 0.9
    # ... and the first sentence by this: an issue's title or a post's opening names the problem more often
    # than the story after it. Grid {0.9, 0.93, 0.95, 1.0}: 0.95 answered 4 more of the tune split with no
    # outcome lost; 1.0 lost 3 (two of them wrong answers).
    first_weight: float = 0.95
    sentence_min_words: int = 3  # ... a sentence of fewer distinct content words than this is not scored
    # retrieve: entries marked `alone: true` (a greeting, a thanks) score only in a message of at most this
    # many words; set by hand, as the matcher's whole-phrase length: "Hello, I'm trying to run the
    # examples ..." is a question, and suggesting "Hello" under its fallback made no sense.
    alone_words: int = 8
    typo_cutoff: float = 85.0  # rapidfuzz ratio for an unknown Latin word to count as a known one


SETTINGS = Settings()
