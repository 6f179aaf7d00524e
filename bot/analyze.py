"""Words of a text: Japanese through SudachiPy, English through the Snowball stemmer.

The Sudachi dictionary is loaded once, at import, so gunicorn's preloaded master shares it with every
worker it forks; a Sudachi tokenizer is not thread-safe, so each use takes one from a pool of idle ones."""

from __future__ import annotations

import contextlib
import ctypes
import functools
import itertools
import mmap
import os
import re
import threading
import unicodedata
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import snowballstemmer
from rapidfuzz import fuzz, process
from sudachipy import Dictionary, SplitMode, Tokenizer

T = TypeVar("T")

MAX_CHARS = 2000  # longer pastes are cut: matching cost stays bounded


def clip(text: str) -> str:
    """A long paste's head and tail, MAX_CHARS in all: a post's title is at its start, a traceback's
    exception at its end ("... ApiException: (401)")."""
    if len(text) <= MAX_CHARS:
        return text
    half = MAX_CHARS // 2
    return f"{text[:half]}\n{text[-(MAX_CHARS - half - 1) :]}"


# A Japanese sentence this long always has kana: this many kanji without any is Chinese (quoted in an
# English question, it does not make the reply Japanese).
CHINESE_KANJI = 6
_KANA = re.compile("[\u3040-\u30ff]")
_KANJI = re.compile("[\u4e00-\u9fff]")

_DICTIONARY = Dictionary(dict="core")
# Idle tokenizers: a tokenizer keeps its lattice buffers (about 1 MB after a 2,000-character run), so one
# per thread cost each of a worker's 64 reply threads (greenlets) its own; the pool holds as many as
# ever ran at once (one under gevent, where tokenizing never yields). list.pop/append are atomic.
_idle_tokenizers: list[Tokenizer] = []
_stemmer_lock = threading.Lock()
_STEMMER = snowballstemmer.stemmer("english")

# Latin words (with an apostrophe ending: "couldn't"), a number with one letter that is not a unit
# ("4G", "5G"; "2s" and "10m" stay a number), numbers ("TLS1.0" = "TLS 1.0"), or runs of any other
# letters (Japanese): the Japanese runs go to Sudachi, the Latin words to the stemmer.
_WORDS = re.compile(r"[a-z]+(?:'[a-z]+)?|[0-9]+(?![bdhkms])[a-z](?![a-z0-9])|[0-9]+|[^\W\da-z_]+")
# Tokens, ids and hashes pasted with an error (20+ letters and digits mixed, as in a JWT or a user id)
# are not words: every piece would count as a word no entry knows and drown the question's real words.
# A run of 20+ such characters is found first and then checked for both letters and digits: the same runs
# as one pattern with two lookaheads, which scanned ahead from every character of the text.
_RUN = re.compile(r"[a-z0-9._+=-]{20,}")
_MIXED = re.compile(r"[0-9].*[a-z]|[a-z].*[0-9]")
# English negations as their own word, as treebank tokenisers split them: "can't", "cannot" and "doesn't"
# then say "not" as the phrase "not receiving" does (Snowball alone keeps "doesn" and turns "can't" into "can").
_NEGATION = re.compile(r"\b(?:(can)(?:['’]t|not)|(wo)n['’]t)\b|n['’]t\b")
_NEGATED = {"can": "can not", "wo": "will not"}
# ... also typed without the apostrophe ("cant connect", "doesnt work"), as people do in a hurry.
_BARE_NEGATION = re.compile(r"\b(do|does|did|is|was|are|were|could|would|should|have|has|had|ca|wo)nt\b")
_BARE_NEGATED = {"ca": "can", "wo": "will"}
# A URL's scheme says where, not what: "https://example.com/callback" is not a question about HTTPS. A plain
# "http://" one says the URL has no TLS, which a webhook needs: it is the word PLAIN_HTTP.
_SCHEME = re.compile(r"\bhttp(s?)://(?=[a-z0-9]|\s|$)")
PLAIN_HTTP = "plainhttp"
# A date (「2025年12月2日(火)」, "2025-12-02") says when, not what: its counters would count as
# words no entry knows. Written as one digit then the rest (「2025年12月2日」, 「12月2日」, 「2025年」,
# "2025-12-02"; the same matches as each form on its own): a pattern that starts with a digit class lets
# the regex engine skip to the next digit instead of trying every form at every character.
_WEEKDAY = r"(?:[(（][月火水木金土日][)）])?"
_DATE = re.compile(
    r"\d(?:"  # the first digit of every form
    rf"\d{{3}}年\d{{1,2}}月\d{{1,2}}日{_WEEKDAY}"  # 2025年12月2日(火)
    rf"|\d?月\d{{1,2}}日{_WEEKDAY}"  # 12月2日
    r"|\d{3}年"  # 2025年
    r"|\d{3}[-/]\d{1,2}[-/]\d{1,2})"  # 2025-12-02
)
# Sudachi parts of speech that carry content; particles, auxiliaries and symbols carry none.
CONTENT_POS = frozenset({"名詞", "動詞", "形容詞", "形状詞", "副詞", "感動詞"})
# Runs and words up to this long are cached; longer ones are analysed each time. Every Japanese run of
# the 1,518 questions in tests/data is at most 36 characters, while one 2,000-character run cached
# held ~77 KB (its key and ~750 word strings): 4,096 of them were ~300 MB in each worker.
CACHED_CHARS = 64


def cached_when_short(maxsize: int) -> Callable[[Callable[[str], T]], Callable[[str], T]]:
    """lru_cache for texts of up to CACHED_CHARS characters; longer ones are computed each time."""

    def wrap(compute: Callable[[str], T]) -> Callable[[str], T]:
        cached = functools.lru_cache(maxsize=maxsize)(compute)

        @functools.wraps(compute)
        def lookup(text: str) -> T:
            return cached(text) if len(text) <= CACHED_CHARS else compute(text)

        return lookup

    return wrap


@contextlib.contextmanager
def _tokenizer() -> Iterator[Tokenizer]:
    """An idle tokenizer (a new one when none is idle), back to the pool afterwards."""
    try:
        tok = _idle_tokenizers.pop()
    except IndexError:
        tok = _DICTIONARY.tokenizer(mode=SplitMode.C)
    try:
        yield tok
    finally:
        _idle_tokenizers.append(tok)


def release_dictionary_pages() -> int:
    """Drop the dictionary file's pages from this process and from the page cache, and have later
    accesses read single pages; return the bytes advised.

    SudachiPy walks the whole 72 MB entry section of `system.dic` once when it loads it, and maps the
    file read-only: clean file pages, one copy in the page cache for every process. Called in gunicorn's
    master after the preload, so that neither it nor the workers it forks carry the load's walk:
    - MADV_DONTNEED drops this process's page-table entries for the file (the next access maps the
      same bytes again);
    - POSIX_FADV_DONTNEED then drops the file's unmapped pages from the page cache;
    - MADV_RANDOM (inherited by the forked workers) turns off read-ahead on the mapping's faults.
    A page fault maps the faulting page and up to 15 neighbours that are in the page cache (the kernel's
    fault-around, which MADV_RANDOM does not change), so with the load's walk still cached, a worker
    mapped ~50 MB of the file after the 125 dev questions, of which it reads 9.4 MB; with the cache
    holding only what questions read, it maps about what it reads. A page not cached is read from disk
    once per machine (a major fault, ~0.15 ms), not once per worker. Linux only; a no-op elsewhere, and
    any step that fails is skipped."""
    maps = Path("/proc/self/maps")
    if not hasattr(mmap, "MADV_DONTNEED") or not maps.exists():
        return 0
    madvise = ctypes.CDLL(None, use_errno=True).madvise
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    released = 0
    files = set()
    for line in maps.read_text().splitlines():
        fields = line.split(maxsplit=5)
        if len(fields) == 6 and fields[5].endswith("/system.dic") and "w" not in fields[1]:
            start, end = (int(x, 16) for x in fields[0].split("-"))
            if madvise(start, end - start, mmap.MADV_DONTNEED) == 0:
                released += end - start
            madvise(start, end - start, mmap.MADV_RANDOM)
            files.add(fields[5])
    for name in files:
        with contextlib.suppress(OSError, AttributeError):  # AttributeError: no posix_fadvise here
            fd = os.open(name, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)
    return released


class _Controls(dict[int, int]):
    """str.translate table: a character of Unicode category C* (control, format, unassigned...) -> space,
    any other -> itself; filled as characters are first seen (one C lookup per character afterwards)."""

    def __missing__(self, code: int) -> int:
        value = 32 if unicodedata.category(chr(code))[0] == "C" else code
        if len(self) < 65536:  # bounded: a flood of distinct rare characters is looked up, not kept
            self[code] = value
        return value


_CONTROLS = _Controls()


@functools.lru_cache(maxsize=256)  # one question is folded by several stages (language, recognisers, words)
def fold(text: str) -> str:
    """NFKC (full/half width), case folded, control and zero-width characters as spaces."""
    text = unicodedata.normalize("NFKC", text[:MAX_CHARS]).casefold()
    return text if text.isprintable() else text.translate(_CONTROLS)


def compact(text: str) -> str:
    """Letters and digits only: "could_not_connect" = "Could not connect" = "couldnotconnect"."""
    return "".join(filter(str.isalnum, fold(text)))  # filter with a C predicate: no Python call per character


def japanese_script(text: str) -> bool:
    """Whether the text holds kana or kanji."""
    return bool(_KANA.search(text) or _KANJI.search(text))


def language(text: str) -> str:
    """ "ja" for text with kana, or with kanji and at most twice as many Latin words as kanji; "en" for
    Latin words (also beside a quoted Chinese message: several kanji and not one kana, or a Chinese word
    among many Latin ones); else "ja" (the default)."""
    folded = fold(text)
    if _KANA.search(folded):
        return "ja"
    kanji = len(_KANJI.findall(folded))
    # Lazily (finditer): the first Latin words decide, a long paste is not split into all its words here.
    found = (m.group() for m in _WORDS.finditer(folded))
    latin = (w for w in found if w.isascii() and w.isalpha() and len(w) > 1)
    if not kanji or kanji >= CHINESE_KANJI:
        return "en" if next(latin, None) else "ja"
    # Only a few kanji and no kana: Japanese unless Latin words outnumber twice the kanji.
    return "en" if sum(1 for _ in itertools.islice(latin, 2 * kanji + 1)) > 2 * kanji else "ja"


# A line a program printed, not one a person wrote: pasted alone, it shows nobody's language. ja8 took out
# the API's messages, JSON pairs and names in code; these are the lines around them. Each shape at the start
# of a line (after any indentation); the last alternative (`more`) only continues printed output above it.
_OUTPUT_LINE = re.compile(
    r"""[ \t]*(?:
      \d{4}[-/]\d\d[-/]\d\d[T\s]\d\d:\d\d | \d\d:\d\d:\d\d                  # a log line's time stamp
    | \[(?:\d|\w+\[\d|(?i:error|warn|warning|info|debug|notice|crit)\])      # [2026-…], [messages[0]…], [error]
    | (?:ERROR|WARN|WARNING|INFO|DEBUG|FATAL|CRITICAL|TRACE)\b                # a log level
    | [<>]\s+(?:HTTP/|[\w-]+:\s|[A-Z]+\s+/)                                 # curl -v's request and response lines
    | (?P<data>[{}\]<]) | \(\d{3}\) | \(node:\d+\) | \$\s                    # JSON, HTML, "(400)", Node's pid, a prompt
    | HTTP/[\d.]+\s+\d{3}\b | (?:GET|POST|PUT|PATCH|DELETE)\s+/               # a status line, a request line
    | [A-Za-z]+(?:-[A-Za-z0-9]+)+:\s                                       # a header (x-line-request-id: …)
    | \w+=\S*\s+\w+=                                                       # logfmt (at=error code=H12 …)
    | at\s+\S.*:\d+\)?\s*[{,]?\s*$                                          # a stack frame (Node, Java)
    | File\s+".*",\s+line\s+\d | Traceback\s+\(most | During\s+handling\s+of\s+the | The\s+above\s+exception
    | Caused\s+by: | \.\.\.\s+\d+\s+more | \w+:\s+\(\d+\)                           # Python, Java; curl: (35)
    | \w+:\s+\w*(?:Error|Exception)\s+\d{3}\b                                  # Go: "linebot: APIError 400 …"
    | (?:(?:PHP\s+)?Fatal\s+error:\s+)?(?:Uncaught\s+)?(?:[\w$]+[.:/]\s?)*[\w$]*  # an exception and its message:
      (?:Error|Exception|Warning|Timeout)(?::|\()                             # "TypeError: …", "Error: …"
    )
    # ... and under it, what continues it: indented (a stack, an object's fields), or a label and its value
    # ("Reason: Bad Request", "HTTP response body: {…}" under an SDK's exception)
    | (?P<more>[ \t]+\S | [A-Za-z][\w-]*(?:[ ][\w-]+){0,2}:\s)""",
    re.VERBOSE,
)
_FENCE = "```"


def _sentences(line: str) -> list[str]:
    """A line cut where a person's next sentence starts: a capital (or "i ") after ". ", "! " or "? ", outside
    double quotes ("TypeError: Data must be a string. I am using Firebase."; not "timed out. (connect
    timeout=5)", not "signature. signature=…", not inside {"message":"… exceeded. Try again later."})."""
    ends = sorted(i for mark in (". ", "! ", "? ") for i in _positions(line, mark))  # str.find: no loop per character
    parts, start = [], 0
    for i in ends:
        after = line[i + 2 : i + 4]
        if (after[:1].isupper() or after == "i ") and line.count('"', start, i) % 2 == 0:
            parts.append(line[start : i + 1])
            start = i + 2
    return [*parts, line[start:]]


def _positions(text: str, part: str) -> Iterator[int]:
    """Where `part` starts in `text`, each time."""
    at = text.find(part)
    while at >= 0:
        yield at
        at = text.find(part, at + 1)


def without_output(text: str) -> str:
    """The sentences of a text a person may have written: without what a program printed (log lines, stack
    traces, an exception and its message, JSON, HTTP headers, what a Markdown code fence holds)."""
    kept: list[str] = []
    output = fenced = False  # the sentence before was printed output; inside a code fence
    for line in text.splitlines():
        if line.lstrip().startswith(_FENCE):
            fenced = not fenced
            continue
        if fenced or not line.strip():
            continue  # a blank line neither starts nor ends a block of output
        for i, part in enumerate(_sentences(line)):
            printed = _OUTPUT_LINE.match(part)
            # Only a line's start continues the output above it.
            output = bool(printed) and (not printed.group("more") or (output and i == 0))
            if not output:
                kept.append(part)
            elif printed.group("data") and (end := max(map(part.rfind, "}]>"))) >= 0:
                kept.append(part[end + 1 :])  # JSON or HTML ends where it closes: '{…} my webhook'
    return "\n".join(kept)


@cached_when_short(16384)
def stem(word: str) -> str:
    """The Snowball stem of an English word ("failed" -> "fail"); digits and codes stay as they are."""
    word = word.split("'")[0]
    if not word.isalpha():
        return word
    with _stemmer_lock:  # the stemmer object keeps state between calls
        return _STEMMER.stemWord(word)


@cached_when_short(4096)
def _japanese(run: str) -> tuple[str, ...]:
    """Content words of a Japanese run, as Sudachi's normalized forms; compounds also as their parts."""
    out: list[str] = []
    prefix = ""
    with _tokenizer() as tok:
        for m in tok.tokenize(run):
            pos = m.part_of_speech()[0]
            if pos not in CONTENT_POS:
                prefix = m.surface() if pos == "接頭辞" else ""
                continue
            if prefix and pos == "名詞":  # 「再配信」「未設定」: the prefix changes the meaning, so the noun
                out.append(prefix + m.normalized_form())  # comes as the whole word too (then alone)
            prefix = ""
            out.append(m.normalized_form())
            parts = m.split(SplitMode.A)
            if len(parts) > 1:  # 「期限切れ」 also as 期限 / 切れる, so 「期限が切れた」 shares both
                out.extend(p.normalized_form() for p in parts if p.part_of_speech()[0] in CONTENT_POS)
    return tuple(out)


def _negations(folded: str) -> str:
    """Each English negation spelled out: "can't" -> "can not", "won't" -> "will not", "isn't" -> "is not",
    and typed without the apostrophe: "cant" -> "can not", "doesnt" -> "does not"."""
    if "nt" in folded:
        folded = _BARE_NEGATION.sub(lambda m: f"{_BARE_NEGATED.get(m.group(1), m.group(1))} not", folded)
    if "'" not in folded and "’" not in folded and "cannot" not in folded:
        return folded
    return _NEGATION.sub(lambda m: f" {_NEGATED.get(m.group(1) or m.group(2) or '', 'not')}", folded)


def _blob(m: re.Match[str]) -> str:
    """A long run of letters, digits and token punctuation: a space when it mixes letters and digits."""
    return " " if _MIXED.search(m.group()) else m.group()


def _scheme(m: re.Match[str]) -> str:
    return " " if m.group(1) else f" {PLAIN_HTTP} "


def _prepared(text: str) -> str:
    """The text folded, its negations spelled out, and its URLs' schemes, dates and pasted tokens blanked."""
    text = _negations(fold(text))
    if "://" in text:  # a scheme is always followed by it
        text = _SCHEME.sub(_scheme, text)
    return _RUN.sub(_blob, _DATE.sub(" ", text))


def words(text: str) -> list[str]:
    """Every word of a text in order, Japanese as dictionary forms, English as stems (no stop words
    removed yet: phrases such as "my server" need them)."""
    out: list[str] = []
    for run in _WORDS.findall(_prepared(text)):
        if run.isascii():
            out.append(stem(run))
        else:
            out.extend(map(str.casefold, _japanese(run)))
    return out


def iter_words(text: str) -> Iterator[str]:
    """words(text) one at a time: a check that stops at the first word it looks for analyses no further."""
    for m in _WORDS.finditer(_prepared(text)):
        run = m.group()
        if run.isascii():
            yield stem(run)
        else:
            yield from map(str.casefold, _japanese(run))


class Typos:
    """Latin words the index does not know, mapped to a known word within a small edit distance."""

    def __init__(self, known: set[str], cutoff: float) -> None:
        self._all = known
        self._known = sorted(w for w in known if w.isascii() and w.isalpha() and len(w) >= 5)
        self._cutoff = cutoff
        self._fix = cached_when_short(8192)(self._nearest)
        self._near: dict[int, list[str]] = {}  # word length -> the known words a word that long may be a typo of

    def _candidates(self, length: int) -> list[str]:
        """The known words (in order) whose length lets them reach the cutoff against a word this long.

        fuzz.ratio is 100 x (1 - indel distance / both lengths), and the distance is at least the difference
        of the lengths: a word much longer or shorter cannot score the cutoff, and extractOne, given only the
        others in the same order, returns the same word (a third of the list: a third of the time)."""
        near = self._near.get(length)
        if near is None:
            slack = 1 - self._cutoff / 100
            # The margin keeps a word whose bound falls on the cutoff itself: extractOne decides it.
            near = [w for w in self._known if abs(len(w) - length) <= slack * (len(w) + length) + 1e-9]
            if len(self._near) < 256:  # lengths are few; a flood of odd lengths is computed, not kept
                self._near[length] = near
        return near

    def _nearest(self, word: str) -> str:
        known = self._candidates(len(word))
        best = process.extractOne(word, known, scorer=fuzz.ratio, processor=None, score_cutoff=self._cutoff)
        return best[0] if best else word

    def __call__(self, word: str) -> str:
        """`word`, or the known word it is a typo of ("hanshake" -> "handshak", the stem of handshake)."""
        if word in self._all or len(word) < 5 or not word.isascii() or not word.isalpha():
            return word
        return self._fix(word)
