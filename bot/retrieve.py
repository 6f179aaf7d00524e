"""Score entries against a question: concept-phrase (alias) fit plus BM25 over each entry's whole text."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from itertools import repeat
from operator import itemgetter
from typing import NamedTuple

from bot.analyze import Typos
from bot.knowledge import LANGS, KnowledgeBase
from bot.settings import Settings
from bot.types import Query, Signals
from bot.vocabulary import Vocabulary

Analyse = Callable[[str], list[str]]


class _Alias(NamedTuple):
    """A concept phrase, read by unpacking in the scoring loop (a tuple: no attribute lookups per phrase)."""

    entry: int
    words: frozenset[str]  # content words, soft ones excluded
    weight: float  # sum of their IDF
    whole: bool  # written "=text": fits only a question that is exactly this
    soft: frozenset[str]  # soft words a one-word phrase needs: "self bot" is not "self"


class Index:
    """Per-entry word statistics and an inverted index, built once per knowledge base."""

    def __init__(self, kb: KnowledgeBase, vocabulary: Vocabulary, analyse: Analyse, settings: Settings) -> None:
        self.ids = list(kb.entries)
        self.audience = [kb[i].audience for i in self.ids]
        self._alone = frozenset(i for i in self.ids if kb[i].alone)
        self._alone_n = frozenset(n for n, i in enumerate(self.ids) if kb[i].alone)
        self._trouble = vocabulary.trouble
        self._settings = settings
        self._soft = vocabulary.soft
        tf: list[dict[str, float]] = []
        alias_words: list[tuple[int, list[str], bool]] = []
        self.phrases: dict[tuple[str, ...], int] = {}  # "=what can you do": grammar words only, whole text
        for n, entry_id in enumerate(self.ids):
            entry = kb[entry_id]
            counts: dict[str, float] = defaultdict(float)
            for lang in LANGS:
                text = entry.text[lang]
                for field, weight in (
                    ((text.title, text.label), settings.title_field),
                    ((text.summary, *text.steps), settings.body_field),
                ):
                    for part in field:
                        for word in analyse(part):
                            counts[word] += weight
            for alias in entry.aliases():
                whole = alias.startswith("=")
                words = analyse(alias.removeprefix("="))
                if not words:
                    continue
                alias_words.append((n, words, whole))
                for word in words:
                    counts[word] += settings.alias_field
            tf.append(dict(counts))
        length = [sum(c.values()) for c in tf]
        avg = sum(length) / max(1, len(tf))
        df: dict[str, int] = defaultdict(int)
        # Each word's postings carry its BM25 term factor per entry, computed once here.
        postings: dict[str, dict[int, float]] = defaultdict(dict)
        for n, counts in enumerate(tf):
            norm = settings.k1 * (1 - settings.b + settings.b * length[n] / avg)
            for word, f in counts.items():
                df[word] += 1
                postings[word][n] = f * (settings.k1 + 1) / (f + norm)
        # The words small talk is made of ("thank", 「有り難う」, "solv"; not its whole phrases' 「動く」): in a message
        # saying something goes wrong, any other word (but soft and trouble words) makes it a question.
        self._alone_words = {
            i: frozenset(w for n, words, whole in alias_words if self.ids[n] == i and not whole for w in words)
            for i in self._alone
        }
        total = max(2, len(tf))
        self.idf = {w: math.log(1 + (total - d + 0.5) / (d + 0.5)) for w, d in df.items()}
        # A word no entry uses is as rare as can be: it counts in the question's weight, and no entry
        # explains it (「LINEのIDを変更したい」 is not a fragment of "request id").
        self._unknown_idf = settings.unknown_weight * math.log(1 + (total - 0.5) / 1.5)
        self._postings = dict(postings)
        # Each word's weight in a question before the focus boost: its IDF, soft words ("LINE") lighter.
        self._weight = {
            w: self.idf.get(w, self._unknown_idf) * (settings.soft_weight if w in self._soft else 1.0)
            for w in (*self.idf, *self._soft)
        }
        # The most a word's factor adds to any one entry: bounds what entries holding only light words can score.
        self._ceiling = {word: max(factors.values()) for word, factors in self._postings.items()}
        self._aliases: list[_Alias] = []
        alias_postings: dict[str, list[int]] = defaultdict(list)
        seen: set[_Alias] = set()
        for n, words, whole in alias_words:
            # In the phrase's own order: a set's order changes with PYTHONHASHSEED, and with it a sum's last bit.
            ordered = dict.fromkeys(w for w in words if w not in self._soft)
            if not ordered:
                continue
            content = frozenset(ordered)
            soft = frozenset(w for w in words if w in self._soft) if len(content) == 1 else frozenset()
            alias = _Alias(n, content, sum(self.idf.get(w, 0.0) for w in ordered), whole, soft)
            if alias in seen:
                continue  # the same phrase again (an alias in both languages, another inflection): it fits alike
            seen.add(alias)
            for word in content:
                alias_postings[word].append(len(self._aliases))
            self._aliases.append(alias)
        # Each word's IDF with the phrases holding it: one lookup per question word in the scoring loop.
        self._alias_postings = {w: (self.idf[w], tuple(ids)) for w, ids in alias_postings.items()}
        self._phrase_words = frozenset(alias.words for alias in self._aliases)  # is a question exactly a phrase?
        self.typos = Typos(set(self.idf), settings.typo_cutoff)

    def known(self, word: str) -> bool:
        """Whether any entry uses this word."""
        return word in self.idf

    def _weights(self, tokens: tuple[str, ...], focus: tuple[str, ...]) -> dict[str, float]:
        """Each word's weight, in the words' order: IDF, times focus_weight on the error line, soft words light."""
        # In the question's order, each word once (a repeated word sets the same weight again).
        weights = dict(zip(tokens, map(self._weight.get, tokens, repeat(self._unknown_idf)), strict=True))
        if focus:
            boost = self._settings.focus_weight
            for word in dict.fromkeys(focus):
                if word in weights:
                    weights[word] *= boost
        return weights

    def scores(self, question: Query) -> dict[str, float]:
        """Score (0-100) of every entry sharing a word with the question, before who-is-asking; in a
        question of several sentences, an entry also scores by the one sentence it fits best."""
        s = self._settings
        signals = question.signals
        out = self._scores(question.tokens, question.focus, signals)
        for entry_id in self._alone.intersection(out):
            if len(question.words) > s.alone_words or (signals.trouble and self._more_than(entry_id, question)):
                del out[entry_id]
        if s.sentence_weight <= 0:
            return out
        scored: dict[tuple[str, ...], float] = {}  # each sentence scored, with its weight
        for i, tokens in enumerate(question.sentences):
            weight = s.first_weight if i == 0 else s.sentence_weight
            # A sentence again (a log line pasted twice) scores as before: at a weight no higher, it changes nothing.
            if weight <= scored.get(tokens, -1.0) or len(set(tokens)) < s.sentence_min_words:
                continue
            scored[tokens] = weight
            for entry_id, score in self._scores(tokens, (), signals, fitting_only=True).items():
                if entry_id in self._alone:
                    continue
                score *= weight
                if score > out.get(entry_id, 0.0):
                    out[entry_id] = score
        return out

    def _more_than(self, entry_id: str, question: Query) -> bool:
        """Whether the question says more than small talk: a word beyond the entry's own, soft and trouble words
        ("thanks, but it still doesn't work" got "You're welcome!"; "thank you, problem solved" is thanks)."""
        own, soft, trouble = self._alone_words[entry_id], self._soft, self._trouble
        return any(w not in own and w not in soft and not any(t in w for t in trouble) for w in question.tokens)

    def _found(self, words: Iterable[str]) -> dict[int, float]:
        """Each concept phrase's found weight (the IDF of its words among `words`), summed word by word
        over the postings in the words' order (no set work per phrase)."""
        found: dict[int, float] = defaultdict(float)
        postings = self._alias_postings
        for word in words:
            posting = postings.get(word)
            if posting is not None:
                idf, phrases = posting
                for a in phrases:
                    found[a] += idf
        return found

    def _scores(
        self, tokens: tuple[str, ...], focus_tokens: tuple[str, ...], sig: Signals, fitting_only: bool = False
    ) -> dict[str, float]:
        """Scores of one question (or sentence: its tokens, no focus); `fitting_only`: only entries a concept
        phrase fits, since without one a sentence scores under 45 (x0.9 of half), below every threshold
        that decides."""
        s = self._settings
        if not tokens:
            return {}
        # The content words in the question's order (a dict as an ordered set), so that every sum below adds
        # them in one order in every process: over a set, the last bit of a score changed with PYTHONHASHSEED
        # (between gunicorn's workers), and an exact tie between two entries could have gone either way.
        soft = self._soft
        content = dict.fromkeys(w for w in tokens if w not in soft)
        if not content and (sig.codes or sig.classes or sig.exact or sig.reasons or sig.details):
            return {}  # 「LINEで500」: "LINE" names no topic, the recognised code decides
        got = self._found(content)
        if fitting_only and not got:
            return {}  # a sentence no phrase touches scores nothing (most sentences of a long paste)
        weights = self._weights(tokens, focus_tokens)
        whole_text = frozenset(content)
        asked = weights.keys()
        # BM25 with field weights, as a share of what the question's words could score at most.
        upper = sum(weights.values()) * (s.k1 + 1)
        # Alias fit: the share (by IDF) of a concept phrase's words found in the question.
        # Each word's IDF (a word no entry uses: the unknown one) summed in order; map(dict.get, ...) adds the
        # same floats as a generator, without a Python step per word.
        idf_of, unknown = self.idf.get, self._unknown_idf
        q_weight = sum(map(idf_of, content, repeat(unknown)))
        # In a long question an alias must explain a fair share of it (of the error line, when there is
        # one): one incidental phrase ("help me" in a pasted traceback) must not decide the answer.
        focus = dict.fromkeys(w for w in focus_tokens if w in content) or content
        f_weight = sum(map(idf_of, focus, repeat(unknown)))
        in_focus = got if focus is content else self._found(focus)
        # A phrase that is exactly the question's words names it: another phrase merely holding them all
        # ("名前解決 タイムアウト" for 「名前解決できず」 beside "名前解決できない") is only a partial fit.
        named = whole_text in self._phrase_words
        fit: dict[int, float] = {}  # every entry a phrase touched, even at 0.0: BM25 scores them all
        found_whole: dict[int, list[frozenset[str]]] = {}  # each entry's phrases found whole
        # Settings read once into locals: a common word is in hundreds of phrases.
        aliases, partial, contained, alone_n = self._aliases, s.partial, s.contained, self._alone_n
        contained_share, weight_min = s.contained_share, s.weight_min
        focus_needs = s.alias_share * f_weight
        same_focus = in_focus is got  # no error line: a phrase's words found there are those found at all
        for a, found in got.items():
            entry, words, weight, whole, needs_soft = aliases[a]
            # 「動かない」 is 「動きました」 to the words: small talk's whole phrases fit only without a trouble phrase.
            if whole and (words != whole_text or (sig.trouble and entry in alone_n)):
                continue
            if found >= weight - 1e-9 and (not needs_soft or needs_soft <= asked):  # complete
                value = 1.0
                found_whole.setdefault(entry, []).append(words)
            elif not named and whole_text <= words and q_weight >= max(contained_share * weight, weight_min):
                value = contained  # the whole question is a fragment of this phrase
            else:
                value = partial * found / weight
            if f_weight:
                explained = (found if same_focus else in_focus.get(a, 0.0)) / focus_needs
                if explained < 1.0:
                    value *= explained
            best = fit.get(entry)
            if best is None or value > best:
                fit[entry] = value
        # The longer phrase wins: an entry whose whole phrase is part of another entry's whole phrase, both
        # found in the question (「検証」 inside 「検証は成功 返信がない」), fits less than that one.
        if len(found_whole) > 1:
            for n in self._subsumed(found_whole):
                fit[n] *= s.subsumed
        bm25 = self._bm25(weights, upper, fit, fitting_only)
        out: dict[str, float] = {}
        # Settings read once into locals: this loop may run over thousands of entries.
        ids, mix, rest, keep = self.ids, s.alias_weight, 1 - s.alias_weight, s.keep_min
        # A question of words found in most entries ("webhook", 「APIとは」) is explained by many of them: its
        # share counts only as far as its words weigh.
        scale = min(1.0, q_weight / s.weight_min) if s.weight_min else 1.0
        for n, total in bm25.items():
            share = total / upper
            if share > 1.0:
                share = 1.0
            share *= scale
            score = 100.0 * (mix * fit.get(n, 0.0) + rest * share)
            if score >= keep:  # lower scores decide nothing: leave them out of the ranking
                out[ids[n]] = score
        return out

    @staticmethod
    def _subsumed(found_whole: dict[int, list[frozenset[str]]]) -> list[int]:
        """The entries each of whose whole phrases lies inside a whole phrase of another entry."""
        # Longest first: a phrase lies only inside longer ones, so a search stops at the first phrase as short.
        phrases = sorted(((len(w), n, w) for n, ws in found_whole.items() for w in ws), key=itemgetter(0), reverse=True)
        if phrases[0][0] == phrases[-1][0]:
            return []  # all as long: none lies inside another

        def inside_another(n: int, words: frozenset[str]) -> bool:
            for size, m, other in phrases:
                if size <= len(words):
                    return False
                if m != n and words < other:
                    return True
            return False

        return [n for n, ws in found_whole.items() if all(inside_another(n, w) for w in ws)]

    def _bm25(
        self, weights: dict[str, float], upper: float, fit: dict[int, float], fitting_only: bool
    ) -> dict[int, float]:
        """BM25 sums of the entries that may score keep_min: every entry in `fit`, plus (unless
        `fitting_only`) every entry holding a word heavy enough to lift it there without an alias fit."""
        s = self._settings
        postings = self._postings
        if fitting_only:
            candidates = {n for n, value in fit.items() if value > 0}
        else:
            candidates = set(fit)
            # MaxScore pruning: the lightest words, whose most possible sum stays under what an entry no alias
            # fits needs to reach keep_min, cannot keep an entry alone; only entries holding a heavier word
            # can be kept. With 5,000 entries, words in most of them ("webhook") are light and most
            # entries are never visited. The margin covers rounding: a kept entry is never missed.
            if s.keep_min <= 0:
                floor = 0.0
            elif s.alias_weight >= 1:
                floor = math.inf
            else:
                floor = s.keep_min / (100.0 * (1 - s.alias_weight)) * upper * (1 - 1e-9)
            ceiling = self._ceiling
            bounds = sorted((weight * ceiling[w], w) for w, weight in weights.items() if w in ceiling)
            light = 0.0
            for bound, word in bounds:
                if light + bound < floor:
                    light += bound
                else:
                    candidates.update(postings[word])
        # Each sum is added word by word in the question's order, as exhaustive scoring adds it: the same floats.
        bm25 = dict.fromkeys(candidates, 0.0)
        for word, weight in weights.items():
            factors = postings.get(word)
            if factors:
                if len(factors) <= len(bm25):  # walk the shorter side: a common word holds thousands of entries
                    for n, factor in factors.items():
                        if n in bm25:
                            bm25[n] += weight * factor
                else:
                    for n in factors.keys() & candidates:
                        bm25[n] += weight * factors[n]
        return bm25
