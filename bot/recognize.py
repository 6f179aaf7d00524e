"""Exact recognisers for what people paste: console strings, API messages, status codes read in context.

Strings come from the knowledge base (reason codes, detail strings) and from vocabulary.yaml (API error
messages, SDK exception names, router/proxy log phrases); this module only knows the shapes around them."""

from __future__ import annotations

import re
import unicodedata
from http import HTTPStatus

from bot.analyze import compact, fold, words
from bot.knowledge import KnowledgeBase
from bot.types import Signals
from bot.vocabulary import Vocabulary

# A three-digit number standing alone: not inside a longer number, a version ("1.502"), a time or a
# port ("10:15", "host:443"), a path, file or id ("/502/", "502.html", "u502"); a sentence may end after it,
# and an ellipsis may come before it (「…404」, which NFKC makes "...404").
# The character before the first digit is checked after it (`.` is that digit): a pattern that starts
# with a character class lets the regex engine skip to the next digit 1-5.
_NUMBER = re.compile(r"([1-5](?<![a-z0-9_#/-].)(?<![a-z0-9]\..)\d\d)(?![a-z0-9_:/-]|[.,][a-z0-9])")
# A status named as an enum or class name: .NET's "InternalServerError", Java's "BadGateway". The capital
# comes first and the letter before it is checked after (`.` is the capital itself): a pattern that starts
# with a character class lets the regex engine skip to the next capital.
_CAMEL_NAME = re.compile(r"[A-Z](?<![A-Za-z].)[a-z]+(?:[A-Z][a-z]+)+(?![A-Za-z])")
# Names as written in code: "httpx.ConnectTimeout:" holds the name "connecttimeout", "id_token" "idtoken".
_NAME = re.compile(r"[a-z0-9_]+")
# A status class written like "5xx".
# What ends a clause before a status code: in "webhook is fine, but push returns 400", 400 is the push's.
_CLAUSE = re.compile(r"[.。!！?？\n、,;；]|\bbut\b|けど|しかし")
_CLASS = re.compile(r"(?<!\w)([1-5])xx(?!\w)")

# Words right before a number that say it is a status code ("status=503", "HTTP/1.1 502", "returned 500",
# "ApiException: (400)"), and words that say it is something else ("port 443", "other than 200").
_STATUS_BEFORE = (
    *("status", "code", "http/", "returned", "returns", "return", "ステータス", "エラー", "error", "("),
    *("detail", "詳細", "コード"),  # the console's "詳細: 502"
)
_NOT_STATUS_BEFORE = (
    *("port", "ポート", "other than", "than", "max", "length", "timeout", "size", "bytes", "byte"),
    "errno",  # an OS error number: "[Errno 110] Connection timed out"
)
_NOT_STATUS_AFTER = ("以外", "番ポート", "ポート", ", in ")  # ", in": a Python traceback's line number
_INFORMATIONAL = frozenset(s.value for s in HTTPStatus if s.value < 200)
# Units right after a number that make it a quantity ("500ms", "500文字").
_UNITS = ("ms", "kb", "mb", "gb", "px", "円", "件", "回", "文字", "秒", "分", "時間", "個", "人", "通", "%", " sec")


# Each standard code's reason phrase, folded once ("404" -> "not found").
_PHRASES = {status.value: status.phrase.casefold() for status in HTTPStatus}


def _phrase_after(code: int, after: str) -> bool:
    """The code is followed by its standard reason phrase: "302 Found", "404 Not Found"."""
    phrase = _PHRASES.get(code)
    if phrase is None:
        return False
    return after.lstrip(" )").startswith(phrase) or after.lstrip().startswith(f"{phrase}")


def status_codes(folded: str) -> list[int]:
    """HTTP status codes read from their context, the most certain first (then in order of appearance)."""
    found: list[tuple[int, int, int]] = []  # (-certainty, position, code)
    for m in _NUMBER.finditer(folded):
        code = int(m.group(1))
        if code < 200 and code not in _INFORMATIONAL:
            continue  # "[Errno 110]", "110 users": 1xx beyond the few defined ones is never a status
        before = folded[max(0, m.start() - 14) : m.start()].rstrip(" =:\"'")
        after = folded[m.end() : m.end() + 30]
        if after.lstrip().startswith(_UNITS + _NOT_STATUS_AFTER) or before.endswith(_NOT_STATUS_BEFORE):
            continue
        if folded[m.start() - 1 : m.start()] == ":" and not before.endswith(_STATUS_BEFORE):
            continue  # a time ("10:15") or a port ("host:443"), unless "status:502"
        certainty = 1
        if _phrase_after(code, after):
            certainty += 2
        if before.endswith(_STATUS_BEFORE):
            certainty += 1
        if 200 <= code < 300:
            certainty -= 2  # success: only the code of the question when nothing else is there
        found.append((-certainty, m.start(), code))
    found.sort()
    return list(dict.fromkeys(code for _, _, code in found))


class Recognizer:
    """Exact-match tables built once from the knowledge base and the vocabulary."""

    def __init__(self, kb: KnowledgeBase, vocabulary: Vocabulary) -> None:
        exact: dict[str, tuple[str, str]] = {}
        for entry in kb.entries.values():
            if entry.detail:
                exact[compact(entry.detail)] = ("detail", entry.id)
            if entry.code:
                exact[compact(entry.code)] = ("reason", entry.id)
        for key, entry_id in vocabulary.exact:
            exact.setdefault(key, ("exact", entry_id))
        # Longest first, so "Connection failed (received GOAWAY)" wins over "Connection failed".
        self._exact = sorted(exact.items(), key=lambda kv: -len(kv[0]))
        # The same strings of two words or more as words (stems, synonyms applied), longest first: a question
        # that spells one of their words wrong ("conection timeout") still names it once the typo is fixed.
        ids = dict(vocabulary.exact)
        texts = [(e.detail, e.id) for e in kb.entries.values() if e.detail]
        texts += [(e.code, e.id) for e in kb.entries.values() if e.code]
        texts += [(t, ids[key]) for t in vocabulary.exact_texts if (key := compact(t)) in ids]
        spelled = {tuple(vocabulary.rewrite(words(t))): exact[compact(t)] for t, _ in texts}
        self._spelled = sorted(((w, v) for w, v in spelled.items() if len(w) > 1), key=lambda kv: -len(kv[0]))
        self._vocabulary = vocabulary
        # A bare code may come with its reason phrase, grammar, and words that name no topic ("HTTP", "status").
        phrases = {w for phrase, _ in vocabulary.status_phrases for w in phrase}
        self._bare_words = phrases | vocabulary.stopwords | vocabulary.neutral
        # Phrases joined once, as " a b ", to be found in a question's " words " (scan runs per question).
        self._elsewhere = tuple(f" {' '.join(p)} " for p in vocabulary.elsewhere)
        self._status_phrases = tuple((f" {' '.join(p)} ", code) for p, code in vocabulary.status_phrases)

    def scan(self, text: str, tokens: list[str], typos: dict[str, str] | None = None) -> Signals:
        """Every exact signal in `text` (`tokens`: its words, for the status phrases; `typos`: the known word
        each misspelt one stands for)."""
        squeezed = compact(text)
        folded = fold(text)
        # Strings whose capitals count ("LINE WORKS", not "LINE works fine"): read in the text as written
        # (NFKC: full-width letters are letters) only when their letters are there at all.
        cased = [(p, e) for key, p, e in self._vocabulary.exact_cased if key in squeezed]
        if cased:
            written = unicodedata.normalize("NFKC", text)
            cased = [(p, e) for p, e in cased if p.search(written)]
        names: set[str] | None = None  # the names in code, read only when an identifier is found
        identifiers = self._vocabulary.identifiers
        found: dict[str, list[str]] = {"detail": [], "reason": [], "exact": []}
        for key, (kind, entry_id) in self._exact:
            at = squeezed.find(key)
            if at < 0:
                continue
            if key in identifiers:
                if names is None:
                    names = {name.replace("_", "") for name in _NAME.findall(folded)}
                if key not in names:
                    continue
            # Blank the match out so a shorter string inside it is not found again.
            squeezed = squeezed[:at] + "\0" + squeezed[at + len(key) :]
            if entry_id not in found[kind]:
                found[kind].append(entry_id)
        for _, entry_id in cased:
            if entry_id not in found["exact"]:
                found["exact"].append(entry_id)
        if typos:
            self._misspelt(tokens, typos, found)
        codes = status_codes(folded)
        from_line = any(sign in folded for sign in self._vocabulary.from_line)
        joined = f" {' '.join(tokens)} "
        trouble = any(t in folded for t in self._vocabulary.trouble)
        elsewhere = " line " not in joined and any(p in joined for p in self._elsewhere)
        for phrase, code in self._status_phrases:
            if phrase in joined and code not in codes:
                codes.append(code)
        for name in _CAMEL_NAME.findall(text):
            code = self._vocabulary.status_names.get(name.casefold())
            if code is not None and code not in codes:
                codes.append(code)
        return Signals(
            details=tuple(found["detail"]),
            reasons=tuple(found["reason"]),
            exact=tuple(found["exact"]),
            codes=tuple(codes),
            bare=bool(codes) and all(w.isdigit() or w in self._bare_words for w in tokens),
            classes=tuple(dict.fromkeys(int(c) for c in _CLASS.findall(folded))),
            # A log of LINE's own request (its webhook's User-Agent) shows what the bot answered LINE, even
            # when the bot's API call failed on the way ("Request failed with status code 404").
            calls_api=not from_line and any(sign in folded for sign in self._vocabulary.calls_api),
            from_line=from_line,
            howto=any(h in folded for h in self._vocabulary.howto)
            and not trouble
            and not (codes or found["exact"] or found["detail"] or found["reason"]),
            elsewhere=elsewhere,
            trouble=trouble,
            code_clause=self._clause(folded, codes[0]) if codes else (),
        )

    def _clause(self, folded: str, code: int) -> tuple[str, ...]:
        """The words of the clause that leads to the code's first appearance (up to 40 characters before it)."""
        for m in _NUMBER.finditer(folded):
            if int(m.group(1)) == code:
                clause = _CLAUSE.split(folded[max(0, m.start() - 40) : m.start()])[-1]
                return tuple(self._vocabulary.rewrite(words(clause)))
        return ()

    def _misspelt(self, tokens: list[str], typos: dict[str, str], found: dict[str, list[str]]) -> None:
        """Add the exact strings the words spell once their typos are fixed (a span holding a fixed word)."""
        fixed = [typos.get(t, t) for t in tokens]
        present = set(fixed)
        for key, (kind, entry_id) in self._spelled:
            if entry_id in found[kind] or not present.issuperset(key):
                continue
            n = len(key)
            for i in range(len(fixed) - n + 1):
                if tuple(fixed[i : i + n]) == key and any(t in typos for t in tokens[i : i + n]):
                    found[kind].append(entry_id)
                    break
