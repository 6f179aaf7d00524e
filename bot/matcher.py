"""Turn a question into a match: one answer, a question back (clarify), or a fallback."""

from __future__ import annotations

import functools
import math
import re
from collections import defaultdict
from dataclasses import dataclass

from rapidfuzz import fuzz, process

from bot.knowledge import KnowledgeBase
from bot.normalize import compact, language, words
from bot.recognize import Recognizer, Signals, without_codes
from bot.types import Match

# Thresholds, fitted on tests/data/dev-questions.yaml (see README, "How matching works"):
ANSWER_MIN = 78.0  # below this best score nothing fits: fall back
CLARIFY_MARGIN = 2.0  # entries within this of the best are "close": ask back
CONTAINED = 86.0  # score when the whole question is only a fragment of an alias ("timeout")
MAX_CHOICES = 4  # clarify offers at most this many entries
CONTEXT_BONUS = 6.0  # entry's audience agrees with who is asking
CONTEXT_PENALTY = 12.0  # entry's audience disagrees
MISSING_PART_FACTOR = 0.8  # an alias with a part not found in the question
MISSING_LATIN = 82.0  # a Latin part fitting less than this is not found
MISSING_JAPANESE = 50.0  # the same for a Japanese part (character pairs shared)
SINGLE_PART_EXACT = 90.0  # a one-part alias fitting less than this ...
SINGLE_PART_FACTOR = 0.95  # ... is scaled down by this
COVERAGE_WEIGHT = 12.0  # bonus for explaining more of the question (share of its characters)


# English words that carry no topic; dropped from aliases and questions before fuzzy matching.
STOPWORDS = frozenset(
    """a an the to is are am be been do does did i my we our you your of in on at for it its this that
    with and or can could should would will how what why when where there please get got getting see than
    seeing shows showing says""".split()  # noqa: SIM905 - a word list reads better as text
)
# "LINE" is in nearly every question: as an alias part it counts for little (IDF) and is never
# "missing", so 「LINEを再起動」 beats 「スマホを再起動」 when LINE is named, without needing it.
SOFT = frozenset({"line"})
# Not topics either, so left out of the question's core (「タイムアウトエラー」 is a fragment of
# 「リクエストタイムアウト」); but unlike "LINE", an alias's "error" must be there.
FILLER = frozenset({"line", "error", "errors", "えら"})


@dataclass(frozen=True)
class _Alias:
    entry_id: str
    parts: tuple[tuple[str, float, bool], ...]  # (folded part, weight, soft)
    spaced: str  # the parts joined by spaces
    squeezed: str  # the parts that are not soft, letters and digits only, for containment checks
    whole: bool = False  # written "=text" in the knowledge base: fits only a question that is just this


# Japanese filler that names no topic (folded forms): 「とは」「について」「教えて」「見せて」.
JA_FILLER = re.compile("とは|って何|について|教えて|おしえて|見せて|知りたい|ください")


# A particle at the start of a part belongs to the word before it: 「LINEを再起動」 -> "再起動",
# not "を再起動" (which would match 「スマホを再起動」 too). Only before kanji, so a folded
# katakana word such as のと (ノート) is left alone.
_LEADING_PARTICLE = re.compile(r"^[をがはにでのもと](?=[\u4e00-\u9fff]|えら$)")


_PARTICLES = frozenset(["を", "が", "は", "に", "で", "の", "も", "と", "から", "まで", "より"])
_KANJI = re.compile(r"[\u4e00-\u9fff]")


def _parts(text: str) -> list[str]:
    """The words of a text that can carry a topic, folded."""
    parts = (_LEADING_PARTICLE.sub("", p) for p in JA_FILLER.sub(" ", words(text)).split(" "))
    return [p for p in parts if p and p not in STOPWORDS and p not in _PARTICLES]


def _core(parts: list[str]) -> str:
    """The parts that carry the topic, letters and digits only: 「タイムアウトエラー」 -> "たいむあうと"."""
    return compact(" ".join(p for p in parts if p not in FILLER)).replace("えら", "")


class Matcher:
    """Index over a knowledge base; `match()` is a pure function of the question text."""

    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb
        self.recognizer = Recognizer(kb)
        self._order = {entry_id: i for i, entry_id in enumerate(kb.entries)}
        raw: list[tuple[str, list[str], bool]] = []
        self._phrases: dict[str, str] = {}
        df: dict[str, set[str]] = defaultdict(set)
        for entry in kb.entries.values():
            for alias in entry.aliases():
                whole = alias.startswith("=")
                parts = _parts(alias.removeprefix("="))
                if whole and not _core(parts):
                    # Only grammar words ("=what can you do"): an exact phrase, checked before scoring.
                    self._phrases.setdefault(compact(alias.removeprefix("=")), entry.id)
                elif _core(parts):
                    raw.append((entry.id, parts, whole))
                    for part in parts:
                        df[part].add(entry.id)
        n = max(len(kb), 2)
        # A part found under many entries ("line", "えら") says little: weight by length x IDF.
        idf = {part: math.log(1 + n / len(ids)) for part, ids in df.items()}
        top = math.log(1 + n)
        self._aliases = [
            _Alias(
                entry_id,
                tuple((p, len(p) * idf[p] / top, p in SOFT) for p in parts),
                " ".join(parts),
                _core(parts),
                whole,
            )
            for entry_id, parts, whole in raw
        ]
        # Inverted index: only aliases sharing a character n-gram with the question can fit it,
        # so a question costs what its candidates cost, not what the whole knowledge base does.
        postings: dict[str, list[int]] = defaultdict(list)
        for i, alias in enumerate(self._aliases):
            for key in _keys(alias.spaced):
                postings[key].append(i)
        self._postings = dict(postings)
        # Keys shared by a large share of all aliases select nothing; skip them when others exist.
        self._common = max(500, len(self._aliases) // 20)
        self._status: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for entry in kb.entries.values():
            for status in entry.status:
                self._status[status].append((entry.id, entry.audience))

    # -- outcomes ------------------------------------------------------------------------

    def match(self, text: str, lang: str | None = None) -> Match:
        """Match one question; `lang` forces the reply language."""
        lang = lang or language(text)
        signals = self.recognizer.scan(text)
        exact = self._from_signals(signals, text, lang)
        if exact is not None:
            return exact
        phrase = self._phrases.get(compact(text))
        if phrase is not None:
            return self._answer(phrase, lang)
        return self._fuzzy(text, signals, lang)

    def _answer(self, entry_id: str, lang: str, score: float = 100.0, code: int | None = None) -> Match:
        return Match("answer", lang, entry_id=entry_id, score=score, code=code)

    def _clarify(self, ids: list[str], lang: str, score: float, code: int | None = None) -> Match:
        ids = sorted(dict.fromkeys(ids), key=self._order.__getitem__)[:MAX_CHOICES]
        return Match("clarify", lang, choices=tuple(ids), score=score, code=code)

    # -- exact signals -------------------------------------------------------------------

    def _from_signals(self, signals: Signals, text: str, lang: str) -> Match | None:
        if signals.details:
            # A detail beats its reason; two different details: ask which one.
            if len(signals.details) == 1:
                return self._answer(signals.details[0], lang)
            return self._clarify(list(signals.details), lang, 100.0)
        if signals.codes or signals.classes:
            status = self._from_status(signals, text, lang)
            if status is not None:
                return status
        if signals.reasons:
            if len(signals.reasons) == 1:
                # A detail beats its reason also when the detail is only matched fuzzily
                # ("webhook dispatch error unclassified").
                code = self.kb[signals.reasons[0]].code
                ranked = self._ranked(text, signals)
                if ranked and ranked[0][1] >= ANSWER_MIN and self.kb[ranked[0][0]].reason == code:
                    return self._answer(ranked[0][0], lang, score=ranked[0][1])
                return self._answer(signals.reasons[0], lang)
            return self._clarify(list(signals.reasons), lang, 100.0)
        return None

    def _candidates(self, code: int) -> list[tuple[str, str]]:
        found = list(self._status.get(str(code), []))
        found += self._status.get(f"{code // 100}xx", [])
        return found

    def _from_status(self, signals: Signals, text: str, lang: str) -> Match | None:
        audience = "app_user" if _line_means_app(signals) else signals.audience  # 「LINEで500エラー」
        codes = list(signals.codes) or [c * 100 for c in signals.classes]
        code = codes[0]
        candidates = self._candidates(code)
        if audience is None:
            # No context word: let the rest of the question decide, with the code itself taken out
            # (every 500 entry mentions 500): "nginx の client_max_body_size で 413" is the webhook's.
            rest = without_codes(text)
            ranked = [(e, s) for e, s in self._ranked(rest, self.recognizer.scan(rest)) if s >= ANSWER_MIN]
            ids = {eid for eid, _ in candidates}
            if ranked and ranked[0][0] in ids:
                close = [e for e, score in ranked if e in ids and score >= ranked[0][1] - CLARIFY_MARGIN]
                if len(close) > 1:  # "404 not found": both 404 entries say "not found"
                    return self._clarify(close, lang, ranked[0][1], code=code)
                return self._answer(ranked[0][0], lang, code=code)
            if ranked and not self.kb[ranked[0][0]].status:
                audience = self.kb[ranked[0][0]].audience
        if audience:
            mine = [eid for eid, aud in candidates if aud in (audience, "anyone")]
            if mine:
                return self._answer(mine[0], lang, code=code)
            if audience == "operator" and self.kb.ui.other_status in self.kb and 200 <= code <= 599:
                if code < 300:
                    return None  # 2xx is success: let fuzzy matching read the rest
                return self._answer(self.kb.ui.other_status, lang, code=code)
            if len(candidates) > 1:
                # The context has no entry for this code (「アプリ」 can be anyone's app): ask.
                return self._clarify([eid for eid, _ in candidates], lang, 100.0, code=code)
            return None
        if len(candidates) == 1:
            return self._answer(candidates[0][0], lang, code=code)
        if candidates:
            return self._clarify([eid for eid, _ in candidates], lang, 100.0, code=code)
        if self.kb.ui.other_status in self.kb and 300 <= code <= 599 and signals.codes:
            return self._answer(self.kb.ui.other_status, lang, code=code)
        return None

    # -- fuzzy matching ------------------------------------------------------------------

    def scores(self, text: str, signals: Signals | None = None) -> dict[str, float]:
        """Best alias score per entry (0-100), with the who-is-asking adjustment."""
        signals = signals or self.recognizer.scan(text)
        parts = _parts(text)
        question = " ".join(parts)
        squeezed = _core(parts)
        if not squeezed:
            return {}
        grams = _bigrams(question)
        best: dict[str, float] = {}
        covered: dict[str, set[int]] = defaultdict(set)
        for alias in self._candidates_for(question):
            score = _alias_score(alias, question, squeezed, grams)
            if score > best.get(alias.entry_id, 0.0):
                best[alias.entry_id] = score
            if score == CONTAINED:
                covered[alias.entry_id].update(range(len(question)))  # the alias holds it all
            elif score >= ANSWER_MIN:  # a real fit: one with a missing part explains nothing
                covered[alias.entry_id].update(_positions(alias, question))
        letters = len(question.replace(" ", "")) or 1
        for entry_id, spots in covered.items():
            # Between equally good aliases, the entry that explains more of the question wins.
            best[entry_id] += COVERAGE_WEIGHT * min(1.0, len(spots) / letters)
        if signals.audience:
            for entry_id, score in best.items():
                audience = self.kb[entry_id].audience
                if audience == signals.audience and score >= ANSWER_MIN:
                    # Context picks between topics that fit; it does not make one fit.
                    best[entry_id] = score + CONTEXT_BONUS
                elif audience != "anyone":
                    best[entry_id] = score - CONTEXT_PENALTY
        return best

    def _ranked(self, text: str, signals: Signals) -> list[tuple[str, float]]:
        return sorted(self.scores(text, signals).items(), key=lambda kv: (-kv[1], self._order[kv[0]]))

    def _candidates_for(self, question: str) -> list[_Alias]:
        lists = [self._postings[k] for k in _keys(question) if k in self._postings]
        selective = [ids for ids in lists if len(ids) <= self._common] or lists
        return [self._aliases[i] for i in sorted(set().union(*selective))] if selective else []

    def _fuzzy(self, text: str, signals: Signals, lang: str) -> Match:
        ranked = self._ranked(text, signals)
        if not ranked or ranked[0][1] < ANSWER_MIN:
            near = tuple(eid for eid, s in ranked[:3] if s >= ANSWER_MIN - 25)
            return Match("fallback", lang, score=ranked[0][1] if ranked else 0.0, suggestions=near)
        top_id, top = ranked[0]
        close = [eid for eid, s in ranked if s >= top - CLARIFY_MARGIN]
        if len(close) > 1 and _line_means_app(signals):  # 「LINEがメンテナンス中」: the app's 503
            app = [eid for eid in close if self.kb[eid].audience == "app_user"]
            if len(app) == 1:
                return self._answer(app[0], lang, score=top)
        if len(close) > 1:
            return self._clarify(close, lang, top)
        return self._answer(top_id, lang, score=top)


def _line_means_app(signals: Signals) -> bool:
    """The word LINE with nobody else named means the app: it settles a status code or a tie."""
    return signals.audience is None and signals.mentions_line


def _keys(text: str) -> set[str]:
    """Index keys of a text: trigrams of Latin words (bigrams say little there), bigrams of Japanese."""
    keys: set[str] = set()
    for word in text.split(" "):
        n = 3 if word.isascii() else 2
        if len(word) <= n:
            keys.add(word)
        else:
            keys.update(word[i : i + n] for i in range(len(word) - n + 1))
    keys.discard("")
    return keys


def _positions(alias: _Alias, question: str) -> set[int]:
    """Indexes of question characters that an alias's parts appear at, exactly."""
    spots: set[int] = set()
    for part, _, soft in alias.parts:
        if soft:
            continue
        at = question.find(part)
        while at >= 0:
            spots.update(range(at, at + len(part)))
            at = question.find(part, at + 1)
    spots.difference_update(i for i, ch in enumerate(question) if ch == " ")
    return spots


def _bigrams(text: str) -> set[str]:
    return {text[i : i + 2] for i in range(len(text) - 1)}


# English endings that leave the word's idea alone: "fixes" = "fixed" = "fix", "logs" = "log".
_SUFFIXES = ("ing", "ed", "ly", "es", "s")
_UNSTEMMED = frozenset({"https"})  # not "http" with an ending: the whole point of some answers
STEMMED_FIT = 95.0  # the same stem: nearly as good as the same word


@functools.lru_cache(maxsize=8192)
def _stems(word: str) -> frozenset[str]:
    """The word and what it may be without an English ending (plus a dropped "e": "closed" ~ "close")."""
    forms = {word}
    if word.isalpha() and word not in _UNSTEMMED:
        for suffix in _SUFFIXES:
            stem = word.removesuffix(suffix)
            if stem != word and len(stem) >= 3 and not (suffix == "s" and stem.endswith("s")):
                forms.update((stem, stem + "e"))
                break
    return frozenset(forms)


@functools.lru_cache(maxsize=64)
def _question_stems(spaced: str) -> frozenset[str]:
    """Every form of every word of a question (asked once per question, then per alias part)."""
    return frozenset().union(*map(_stems, spaced.split()))


def _same_stem(part: str, spaced: str) -> bool:
    return not _stems(part).isdisjoint(_question_stems(spaced))


def _part_fit(part: str, question: str, spaced: str, grams: set[str]) -> float:
    """How well one alias part appears in the question, 0-100."""
    if part.isascii():
        if len(part) <= 4:
            # Short Latin parts match as whole words only: fuzzy "log" or "utc" fits anything.
            if re.search(rf"(?<![a-z0-9]){re.escape(part)}(?![a-z0-9])", spaced):
                return 100.0
            return STEMMED_FIT if _same_stem(part, spaced) else 0.0
        # Word against word, so typos pass ("handshak") but "solved" is not found in "resolve".
        best = process.extractOne(part, spaced.split(), scorer=fuzz.ratio, processor=None)
        fit = best[1] if best else 0.0
        return max(fit, STEMMED_FIT) if fit < STEMMED_FIT and _same_stem(part, spaced) else fit
    if len(part) <= 2:
        return 100.0 if part in question else 0.0
    # Japanese has no spaces: the share of the part's character pairs found in the question
    # tolerates a changed particle or ending that an alignment score punishes hard.
    pairs = _bigrams(part)
    # Pairs with a kanji carry the meaning; kana-only pairs are mostly endings shared by any verb
    # (「落ちている」 and 「切っている」 share 「てい」「いる」). Katakana words, folded to kana, keep all.
    content = {pair for pair in pairs if _KANJI.search(pair)}
    pairs = content or pairs
    shared = 100.0 * len(pairs & grams) / len(pairs)
    if content and not shared:
        return 0.0  # no kanji pair in common: an alignment would only be matching the kana around it
    return max(shared, _align(part, question))


def _align(part: str, question: str) -> float:
    """The part found inside the question; a question shorter than the part must resemble all of it."""
    if len(part) > len(question):
        return fuzz.ratio(part, question, processor=None)
    return fuzz.partial_ratio(part, question, processor=None)


def _alias_score(alias: _Alias, question: str, squeezed: str, grams: set[str]) -> float:
    """How well one alias fits the question, 0-100."""
    if alias.squeezed == squeezed:
        return 100.0
    if alias.whole:
        return 0.0
    # The whole question is a fragment of the alias ("timeout" of "request timeout"); for
    # Latin text only at word boundaries, so "time" is not a fragment of "timeout".
    fragment = len(squeezed) >= 4 and squeezed in alias.squeezed and len(squeezed) >= 0.4 * len(alias.squeezed)
    core_words = " ".join(w for w in question.split() if w not in FILLER)
    if fragment and (not question.isascii() or f" {core_words} " in f" {alias.spaced} "):
        return CONTAINED
    spaced = f" {question} "
    total = got = 0.0
    missing = False
    for part, weight, soft in alias.parts:
        fit = _part_fit(part, question, spaced, grams)
        # Latin fuzzy scores run high by chance ("resend" vs "signature" is 67): demand more there.
        missing = missing or (fit < (MISSING_LATIN if part.isascii() else MISSING_JAPANESE) and not soft)
        total += weight
        got += weight * fit
    score = got / total if total else 0.0
    # Parts separated by spaces in an alias must all be there: one missing part caps the score.
    if missing:
        return score * MISSING_PART_FACTOR
    # A one-word alias has no other part to confirm it: only a near-exact fit counts in full
    # (「接続できない」 is not 「支払いできない」, "webhookEventId" is not "webhook timeout").
    if score < SINGLE_PART_EXACT and sum(not soft for _, _, soft in alias.parts) == 1:
        # A Latin word that is only like one word of the question is another word ("than" is not
        # "thank"): as good as missing. Japanese gets the lighter cut (a changed ending).
        latin = all(part.isascii() for part, _, soft in alias.parts if not soft)
        return score * (MISSING_PART_FACTOR if latin else SINGLE_PART_FACTOR)
    return score
