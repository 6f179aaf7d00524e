"""Domain vocabulary (knowledge/vocabulary.yaml): stop words, synonyms, who-is-asking words, exact strings.

Everything here is data a maintainer edits; this module reads it, validates it (errors name file and
field) and turns each phrase into the analyser's words once, so matching compares words with words."""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.analyze import compact, fold, words
from bot.knowledge import KnowledgeBase, KnowledgeError, Problem

FILE = "vocabulary.yaml"
AUDIENCE_KEYS = ("operator", "app_user", "sender")
_KEYS = {
    *("stopwords", "synonyms", "audience", "calls_api", "error_markers", "status_phrases", "exact", "soft"),
    *("when_calling_api", "howto", "trouble", "elsewhere", "webhook_words", "from_line", "neutral"),
    "exact_cased",
}

Phrase = tuple[str, ...]


@dataclass(frozen=True)
class Vocabulary:
    """The vocabulary, already analysed into words."""

    stopwords: frozenset[str]
    soft: frozenset[str]  # words in nearly every question ("line"): they weigh little and are never missing
    synonyms: dict[str, dict[Phrase, Phrase]]  # first word -> {phrase: the concept's words}
    # audience -> (" phrase words ", weight, its first word), found in " words " (routing looks the first word up
    # before it searches the text for the phrase)
    audience: dict[str, tuple[tuple[str, float, str], ...]]
    calls_api: tuple[str, ...]  # folded substrings that say the asker calls the Messaging API
    error_markers: frozenset[str]  # words that mark a line holding an error
    status_phrases: tuple[tuple[Phrase, int], ...]  # "bad gateway" -> 502
    exact: tuple[tuple[str, str], ...]  # (compact string, entry id), longest first
    when_calling_api: dict[str, str] = field(default_factory=dict)  # entry id -> its API-side entry
    status_names: dict[str, int] = field(default_factory=dict)  # "internalservererror" -> 500 (enum names)
    howto: tuple[str, ...] = ()  # folded substrings of a question asking how to do something
    trouble: tuple[str, ...] = ()  # folded substrings that say something goes wrong ("error", 「ない」)
    identifiers: frozenset[str] = frozenset()  # exact strings that are code names: found only whole
    elsewhere: tuple[Phrase, ...] = ()  # other chat platforms ("slack"): named without LINE, not ours
    webhook_words: frozenset[str] = frozenset()  # words that say the question is about the webhook
    from_line: tuple[str, ...] = ()  # folded substrings of a request LINE sent ("linebotwebhook/2.0")
    neutral: frozenset[str] = frozenset()  # words that say nothing of the asker's language ("webhook", "http")
    exact_texts: tuple[str, ...] = ()  # the exact strings as written: a paste of only these shows no language
    # (compact string, pattern, entry id): exact strings found only as written, capitals and all ("LINE WORKS")
    exact_cased: tuple[tuple[str, re.Pattern[str], str], ...] = ()

    def rewrite(self, tokens: list[str]) -> list[str]:
        """Tokens with each synonym phrase replaced by its concept (longest phrase first)."""
        out: list[str] = []
        synonyms, count = self.synonyms, len(tokens)
        i = 0
        while i < count:
            token = tokens[i]
            starting = synonyms.get(token)
            if starting is not None:  # most words start no phrase: one lookup each
                for phrase, concept in starting.items():
                    if tuple(tokens[i : i + len(phrase)]) == phrase:
                        out.extend(concept)
                        i += len(phrase)
                        break
                else:
                    out.append(token)
                    i += 1
            else:
                out.append(token)
                i += 1
        return out

    @functools.cached_property
    def _longest_synonym(self) -> int:
        return max((len(phrase) for phrases in self.synonyms.values() for phrase in phrases), default=1)

    def iter_rewrite(self, tokens: Iterable[str]) -> Iterator[str]:
        """rewrite() one word at a time, reading ahead only as far as the longest phrase: the same words, for a
        check that may stop at the first one it looks for."""
        synonyms, ahead = self.synonyms, self._longest_synonym
        source = iter(tokens)
        window = list(itertools.islice(source, ahead))  # the next words, as many as the longest phrase
        while window:
            starting = synonyms.get(window[0])
            used = 1
            if starting is not None:
                for phrase, concept in starting.items():
                    if tuple(window[: len(phrase)]) == phrase:
                        yield from concept
                        used = len(phrase)
                        break
                else:
                    yield window[0]
            else:
                yield window[0]
            del window[:used]
            window.extend(itertools.islice(source, used))


# An exact string written as one identifier ("ConnectTimeout", "ECONNRESET", "id_token") is a name in code:
# it is found only as a whole word, so "connect timeout" in plain words is not that exception.
_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


def _phrase(text: str) -> Phrase:
    return tuple(words(text))


def _texts(value: Any) -> list[str] | None:
    if isinstance(value, list) and all(isinstance(v, str) and v.strip() for v in value):
        return [v.strip() for v in value]
    return None


def parse(data: Any, kb: KnowledgeBase | None, problems: list[Problem]) -> Vocabulary:
    """Build a Vocabulary from parsed YAML, appending a Problem for every bad field."""

    def bad(fld: str, message: str) -> None:
        problems.append(Problem(FILE, None, fld, message))

    if not isinstance(data, dict):
        bad(None, "must be a mapping")  # type: ignore[arg-type]
        data = {}
    for key in data:
        if key not in _KEYS:
            bad(str(key), f"unknown field (known: {', '.join(sorted(_KEYS))})")

    def mapping(key: str, message: str) -> dict[Any, Any]:
        value = data.get(key) or {}
        if not isinstance(value, dict):
            bad(key, message)
            return {}
        return value

    def texts(key: str, value: Any) -> list[str]:
        got = _texts(value if value is not None else [])
        if got is None:
            bad(key, "must be a list of non-empty texts")
            return []
        return got

    stop = frozenset(w for t in texts("stopwords", data.get("stopwords")) for w in _phrase(t))
    soft = frozenset(w for t in texts("soft", data.get("soft")) for w in _phrase(t))
    markers = frozenset(w for t in texts("error_markers", data.get("error_markers")) for w in _phrase(t))
    calls = tuple(fold(t) for t in texts("calls_api", data.get("calls_api")))
    from_line = tuple(fold(t) for t in texts("from_line", data.get("from_line")))
    howto = tuple(fold(t) for t in texts("howto", data.get("howto")))
    trouble = tuple(fold(t) for t in texts("trouble", data.get("trouble")))

    synonyms: dict[str, dict[Phrase, Phrase]] = {}
    raw_syn = data.get("synonyms") or {}
    if not isinstance(raw_syn, dict):
        bad("synonyms", "must map a concept to a list of phrases")
        raw_syn = {}
    pairs: list[tuple[Phrase, Phrase]] = []
    for concept, phrases in raw_syn.items():
        target = _phrase(str(concept))
        if not target:
            bad(f"synonyms.{concept}", "the concept has no word the analyser keeps")
            continue
        for text in texts(f"synonyms.{concept}", phrases):
            phrase = _phrase(text)
            if not phrase:
                bad(f"synonyms.{concept}", f"{text!r} has no word the analyser keeps")
            elif phrase != target:
                pairs.append((phrase, target))
    for phrase, target in sorted(pairs, key=lambda p: -len(p[0])):
        synonyms.setdefault(phrase[0], {}).setdefault(phrase, target)

    rewrite = Vocabulary(frozenset(), frozenset(), synonyms, {}, (), frozenset(), (), ()).rewrite

    def norm(text: str) -> Phrase:
        return tuple(rewrite(list(_phrase(text))))

    audience: dict[str, tuple[tuple[str, float, str], ...]] = {}
    raw_aud = data.get("audience") or {}
    if not isinstance(raw_aud, dict) or set(raw_aud) - set(AUDIENCE_KEYS):
        bad("audience", f"must map {', '.join(AUDIENCE_KEYS)} to lists of words")
        raw_aud = {}
    for key in AUDIENCE_KEYS:
        listed = []
        for text in texts(f"audience.{key}", raw_aud.get(key)):
            weight = 0.5 if text.startswith("~") else 1.0  # "~app": anyone has an app, so it counts half
            phrase = norm(text.lstrip("~"))
            if phrase:
                joined = f" {' '.join(phrase)} "  # joined once: routing looks it up per question
                listed.append((joined, weight, joined[1:].split(" ", 1)[0]))
            else:
                bad(f"audience.{key}", f"{text!r} has no word the analyser keeps")
        audience[key] = tuple(listed)

    elsewhere = []
    for text in texts("elsewhere", data.get("elsewhere")):
        phrase = norm(text)
        if phrase:
            elsewhere.append(phrase)
        else:
            bad("elsewhere", f"{text!r} has no word the analyser keeps")

    webhook_words = frozenset(w for t in texts("webhook_words", data.get("webhook_words")) for w in norm(t))
    neutral = frozenset(w for t in texts("neutral", data.get("neutral")) for w in norm(t))

    phrases: list[tuple[Phrase, int]] = []
    names: dict[str, int] = {}
    raw_status = mapping("status_phrases", "must map a phrase to a status code")
    for text, code in raw_status.items():
        if not isinstance(code, int) or not 100 <= code <= 599:
            bad(f"status_phrases.{text}", "must be an HTTP status code (100-599)")
        else:
            phrases.append((norm(str(text)), code))
            names[compact(str(text))] = code

    exact: list[tuple[str, str]] = []
    exact_texts: list[str] = []
    identifiers: set[str] = set()
    raw_exact = mapping("exact", "must map an entry id to a list of strings")
    for entry_id, strings in raw_exact.items():
        if kb is not None and entry_id not in kb:
            bad(f"exact.{entry_id}", "unknown entry id")
            continue
        for text in texts(f"exact.{entry_id}", strings):
            key = compact(text)
            if len(key) < 6:
                bad(f"exact.{entry_id}", f"{text!r} is too short to be recognised exactly")
            else:
                exact.append((key, str(entry_id)))
                exact_texts.append(text.strip())
                if _IDENTIFIER.fullmatch(text.strip()):
                    identifiers.add(key)
    exact.sort(key=lambda kv: -len(kv[0]))
    cased: list[tuple[str, re.Pattern[str], str]] = []
    raw_cased = mapping("exact_cased", "must map an entry id to a list of strings")
    for entry_id, strings in raw_cased.items():
        if kb is not None and entry_id not in kb:
            bad(f"exact_cased.{entry_id}", "unknown entry id")
            continue
        for text in texts(f"exact_cased.{entry_id}", strings):
            if len(compact(text)) < 6 or text == text.lower():
                bad(f"exact_cased.{entry_id}", f"{text!r} is too short or has no capital (then it belongs in exact)")
                continue
            # Its words as written, any spacing between them, not inside a longer word ("LINE Worksheet").
            spaced = r"\s*".join(map(re.escape, text.split()))
            cased.append((compact(text), re.compile(rf"(?<![A-Za-z0-9]){spaced}(?![A-Za-z0-9])"), str(entry_id)))
    routes: dict[str, str] = {}
    raw_routes = mapping("when_calling_api", "must map an entry id to the entry id to answer instead")
    for source, target in raw_routes.items():
        for end in (source, target):
            if not isinstance(end, str) or (kb is not None and end not in kb):
                bad(f"when_calling_api.{source}", f"unknown entry id {end!r}")
        routes[str(source)] = str(target)
    return Vocabulary(
        stopwords=stop,
        soft=soft,
        synonyms=synonyms,
        audience=audience,
        calls_api=calls,
        howto=howto,
        trouble=trouble,
        error_markers=markers,
        status_phrases=tuple(sorted(phrases, key=lambda p: -len(p[0]))),
        exact=tuple(exact),
        when_calling_api=routes,
        status_names=names,
        identifiers=frozenset(identifiers),
        elsewhere=tuple(elsewhere),
        webhook_words=webhook_words,
        from_line=from_line,
        neutral=neutral,
        exact_texts=tuple(exact_texts),
        exact_cased=tuple(cased),
    )


def check(directory: Path, kb: KnowledgeBase) -> list[Problem]:
    """Every problem of `directory`/vocabulary.yaml (none when the file is fine)."""
    problems: list[Problem] = []
    _read(directory, kb, problems)
    return problems


def _read(directory: Path, kb: KnowledgeBase | None, problems: list[Problem]) -> Vocabulary:
    path = directory / FILE
    if not path.exists():  # a knowledge directory without one matches with no domain vocabulary
        return parse({}, kb, [])
    try:
        # libyaml's parser when available (as bot/knowledge.py): the pure-Python one is ~10x slower.
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        problems.append(Problem(FILE, None, None, f"cannot read: {exc}"))
        return parse({}, kb, [])
    return parse(data, kb, problems)


_cache: dict[tuple[str, str], Vocabulary] = {}


def load(directory: str | Path, kb: KnowledgeBase) -> Vocabulary:
    """The validated vocabulary of a knowledge directory; raise KnowledgeError naming each problem."""
    key = (str(directory), kb.version)
    if key not in _cache:
        problems: list[Problem] = []
        vocabulary = _read(Path(directory), kb, problems)
        if problems:
            raise KnowledgeError(problems)
        _cache[key] = vocabulary
    return _cache[key]
