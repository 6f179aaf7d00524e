"""The matching pipeline: question -> recognise -> route -> retrieve -> decide -> Match.

Each stage reads what the earlier ones produced and never calls back into them."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace

from bot import analyze, vocabulary
from bot.decide import Decider
from bot.knowledge import DEFAULT_DIR, OUTSIDE, KnowledgeBase
from bot.recognize import Recognizer
from bot.retrieve import Index
from bot.route import route
from bot.settings import SETTINGS, Settings
from bot.types import Match, Query

__all__ = ["Match", "Matcher"]

PREFIX_CHARS = 2  # a Japanese prefix (「再」「未」「非」「御」) is one or two characters
MAX_PHRASE_WORDS = 8  # whole-phrase aliases ("what can you do") are short
# Sentence ends: a line break, 「。！？」, or ". ! ?" before a space (not "api.line.me", not "v1.2").
_SENTENCE = re.compile(r"[\n。！？]+|(?<=[.!?])\s+")
# What a pasted error body holds besides words of a language: JSON pairs and keys (an API's own message
# is its value: {"message":"…"}) and names in code (LineBotApiError, status_code=400, request_id).
_CODE = re.compile(r'"\w+"\s*:\s*"(?:[^"\\]|\\.)*"|"\w+"\s*:|\b\w*(?:[a-z][A-Z]|_|=)\S*')
# The characters besides ASCII letters that re.IGNORECASE takes for an ASCII letter (tests/test_matcher.py
# checks every code point): with them spelled in ASCII and the text lower-cased, an exact string's words are
# all in any text its pattern matches.
ASCII_LOOKALIKES = str.maketrans({"\u0130": "i", "\u0131": "i", "\u017f": "s", "\u212a": "k"})


class Matcher:
    """Everything built once per knowledge base; `match()` is a pure function of the question text."""

    def __init__(
        self, kb: KnowledgeBase, vocab: vocabulary.Vocabulary | None = None, settings: Settings = SETTINGS
    ) -> None:
        self.kb = kb
        self.vocabulary = vocab or vocabulary.load(kb.root or DEFAULT_DIR, kb)
        self.settings = settings
        self.recognizer = Recognizer(kb, self.vocabulary)
        self.index = Index(kb, self.vocabulary, self.content, settings)
        self.decider = Decider(
            kb,
            settings,
            self.vocabulary.when_calling_api,
            (entry_id for _, entry_id in self.vocabulary.exact),
            self.vocabulary.webhook_words,
        )
        # Words that say nothing of the asker's language: the console's reason codes and detail strings (the
        # same in the Japanese console), the status phrases, and the vocabulary's neutral words.
        self._neutral = set(self.vocabulary.neutral) | {w for p, _ in self.vocabulary.status_phrases for w in p}
        for entry in kb.entries.values():
            for console in (entry.code, entry.detail):
                if console:
                    self._neutral.update(self.words(console))
        # The Messaging API's and the SDKs' own messages are English in every console too, and the Japanese
        # help asks for them as they are: taken out of a paste, with its JSON keys and names in code, to see
        # whether anything of a language is left. Any spacing or punctuation between their words; the LINE app's
        # Japanese messages show their language themselves.
        pasted = sorted((t for t in self.vocabulary.exact_texts if t.isascii()), key=len, reverse=True)
        self._pasted_words = [words for t in pasted if (words := tuple(re.findall(r"[A-Za-z0-9]+", t)))]
        # Each string's words in lower case, the longest first: it is the likeliest to be missing from a text.
        self._pasted_keys = [sorted({w.lower() for w in words}, key=len, reverse=True) for words in self._pasted_words]
        # One pattern of those a text can hold (its words all there), longest string first as in the pattern of
        # them all: the same matches, without trying every string at every character of a long paste.
        self._pasted: dict[tuple[int, ...], re.Pattern[str]] = {}
        # A whole phrase is compared as text: an "=text" alias (「使い方」 alone, not inside 「LINE VOOMの使い方」),
        # or an alias of grammar words only ("what can you do", 「何ができる」), which may also carry soft
        # words (「このボットは何ができる」).
        soft = self.vocabulary.soft
        self._phrases: dict[tuple[str, ...], str] = {}
        for entry in kb.entries.values():
            for alias in entry.aliases():
                words = self.words(alias.removeprefix("="))
                bare = self._without(words, soft)
                if alias.startswith("="):
                    self._phrases[tuple(words)] = entry.id
                elif bare and not set(bare) - self.vocabulary.stopwords and not any(w.isdigit() for w in bare):
                    self._phrases[bare] = entry.id  # 「LINEで500エラー」 is not grammar: a code is content
        # An entry's title or button label typed (or copied) as the whole message names that entry: LINE for
        # PC shows no buttons, and people type what they saw. One shared by two entries names neither.
        named: dict[tuple[str, ...], set[str]] = {}
        for entry in kb.entries.values():
            for text in entry.text.values():
                for name in (text.title, text.label):
                    named.setdefault(tuple(self.words(name)), set()).add(entry.id)
        for words, ids in named.items():
            if words and len(ids) == 1:
                self._phrases.setdefault(words, next(iter(ids)))

    # -- stage 1: the question, analysed once ---------------------------------------------------

    def words(self, text: str) -> list[str]:
        """Every word of a text, synonyms applied."""
        return self.vocabulary.rewrite(analyze.words(text))

    def content(self, text: str) -> list[str]:
        """The words of a text that can name a topic (no stop words, no bare numbers)."""
        stop = self.vocabulary.stopwords
        return [w for w in self.words(text) if self._is_content(w, stop)]

    @staticmethod
    def _is_content(word: str, stop: frozenset[str]) -> bool:
        """Not a stop word, a bare number (status codes are the recognisers' job) or one Latin letter."""
        return word not in stop and not word.isdigit() and not (len(word) == 1 and word.isascii())

    def question(self, text: str, lang: str | None = None) -> Query:
        """Analyse and recognise a question: its words, the error lines' words, exact signals."""
        text = analyze.clip(text)
        segments = [s for s in _SENTENCE.split(text) if s.strip()]
        per_segment = [self._without_unknown_compounds(self.words(s)) for s in segments]
        words = [w for seg in per_segment for w in seg]
        stop = self.vocabulary.stopwords
        markers = self.vocabulary.error_markers
        marked = [seg for seg in per_segment if markers.intersection(seg)]
        # In a paste of several lines, the lines that hold the error weigh most.
        focus = [w for seg in marked for w in seg] if 1 <= len(marked) < len(per_segment) else []
        neutral = self._neutral
        # Each distinct content word's known form (a typo's fix) once: a long paste repeats its words, and
        # the exact strings, the tokens, the error lines and the sentences all read them.
        known = self._known
        content = {w: known(w) for w in dict.fromkeys(words) if self._is_content(w, stop)}
        typos = {w: k for w, k in content.items() if k != w}
        signals = self.recognizer.scan(text, words, typos)
        sure = lang is not None or analyze.japanese_script(text)
        if not sure:
            sure = any(w.isalpha() and w.isascii() and w not in neutral for w in words)
            # What a program printed (a traceback, log lines, an exception and its message) shows nobody's
            # language, nor does an API message or an SDK's exception name: is anything else left that does?
            # The API's messages go first: one may span an exception's line and the sentence after it.
            pasted = self._without_pasted(text) if sure and signals.exact else text
            written = analyze.without_output(pasted) if sure else text
            if sure and written != text:
                rest = _CODE.sub(" ", written)
                # Word by word: the first word of a language settles it (a long paste is not analysed again).
                left = self.vocabulary.iter_rewrite(analyze.iter_words(rest))
                sure = any(w.isalpha() and w.isascii() and w not in neutral for w in left)
        return Query(
            text=text,
            lang=lang or analyze.language(text),
            lang_sure=sure,
            words=tuple(words),
            tokens=tuple(content[w] for w in words if w in content),
            focus=tuple(content[w] if w in content else known(w) for w in focus),
            sentences=tuple(tuple(content[w] for w in seg if w in content) for seg in per_segment)
            if len(per_segment) > 1
            else (),
            signals=signals,
        )

    def _without_pasted(self, text: str) -> str:
        """The text with the API's and the SDKs' own messages (any case, any spacing between their words) blanked."""
        spelled = text
        if not text.isascii() and any(chr(c) in text for c in ASCII_LOOKALIKES):  # translate() is slow: only then
            spelled = text.translate(ASCII_LOOKALIKES)
        contains = spelled.lower().__contains__  # map(contains, ...): no Python step per word
        held = tuple(i for i, words in enumerate(self._pasted_keys) if all(map(contains, words)))
        if not held:
            return text
        pattern = self._pasted.get(held)
        if pattern is None:
            spaced = (r"[^A-Za-z0-9]*".join(map(re.escape, self._pasted_words[i])) for i in held)
            pattern = re.compile("|".join(spaced), re.IGNORECASE)
            if len(self._pasted) < 1024:  # a few strings come together; any other mix is compiled, not kept
                self._pasted[held] = pattern
        return pattern.sub(" ", text)

    def _without_unknown_compounds(self, words: list[str]) -> list[str]:
        """Words without a compound no entry uses when its parts follow it (「確認方法」 then 確認, 方法): the
        parts carry its meaning, and as a word nothing explains it would count as the rarest."""
        return [
            w
            for i, w in enumerate(words)
            if w.isascii() or self.index.known(w) or not self._parts_follow(w, words[i + 1 :])
        ]

    @staticmethod
    def _parts_follow(word: str, rest: list[str]) -> bool:
        """Whether the next words, joined, spell `word`, or the noun after its prefix (「再配信」 then 配信)."""
        if rest and len(word) > len(rest[0]) and word.endswith(rest[0]) and len(word) - len(rest[0]) <= PREFIX_CHARS:
            return True
        joined = ""
        for part in rest:
            joined += part
            if joined == word:
                return True
            if not word.startswith(joined):
                return False
        return False

    @staticmethod
    def _without(words: Iterable[str], soft: frozenset[str]) -> tuple[str, ...]:
        return tuple(w for w in words if w not in soft)

    def _known(self, word: str) -> str:
        return word if self.index.known(word) else self.index.typos(word)

    # -- the pipeline ---------------------------------------------------------------------------

    def match(self, text: str, lang: str | None = None) -> Match:
        """Match one question; `lang` forces the reply language."""
        question = route(self.question(text, lang), self.vocabulary)
        phrase = None
        if 0 < len(question.words) <= MAX_PHRASE_WORDS:
            bare = self._without(question.words, self.vocabulary.soft)
            phrase = self._phrases.get(question.words) or (self._phrases.get(bare) if bare else None)
        if phrase is not None and question.signals.trouble and self.kb[phrase].alone:
            # 「解決しない」 is 「解決しました」 to the words (Sudachi drops the ない): small talk only without trouble
            phrase = None
        if phrase is not None:  # a deflection's name ("Slack", "LINE WORKS") is still a deflection: a fallback
            kind = "fallback" if self.kb[phrase].audience == OUTSIDE else "answer"
            found = Match(kind, question.lang, entry_id=phrase, score=100.0)
        else:
            found = self.decider.decide(question, self.index.scores(question))
        return found if question.lang_sure else replace(found, lang_sure=False)

    def scores(self, text: str) -> dict[str, float]:
        """Each entry's retrieval score for a text (0-100), for tools and tests."""
        return self.index.scores(route(self.question(text), self.vocabulary))
