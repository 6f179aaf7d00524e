"""knowledge/diagnose.yaml: trigger words, rate limits, LINE's cipher suites and the diagnosis texts."""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.diagnosis import ADDRESS_KINDS, DETAILS, NOTES
from bot.knowledge import DEFAULT_DIR, LANGS, KnowledgeError, Problem

FILE = "diagnose.yaml"
ADDRESS_KIND = "address_"  # a refused address's kind in a language (see address_kind)
DETAIL = "detail_"  # LINE's detail explained in a language, when its line_would_say uses {explanation}
# Each fixed text and the fields it may use (a text naming another is a start-up error, not a reply with a
# KeyError in it). The measured facts' texts are diagnosis.NOTES.
_REFUSED_FIELDS = ("host", "address", "what", "port")
TEXTS: dict[str, tuple[str, ...]] = {
    "title_ok": (),
    "title_unsigned": (),
    "title_problem": (),
    "line_would_say": ("reason", "detail", "explanation"),
    "ok": ("status",),
    "unsigned": ("status",),
    "facts": (),
    "elapsed": ("ms",),
    "refused": ("why",),
    **{
        f"refused_{rule}": _REFUSED_FIELDS
        for rule in ("https_only", "credentials", "port", "host_form", "address", "literal", "dns")
    },
    "refused_hint": (),
    "rate_limited": ("seconds",),
    "probe_note": (),
    "checking_failed": (),
    **{f"check_{name}": () for name in ("url", "dns", "connect", "tls", "certificate", "expiry", "chain", "response")},
    **{ADDRESS_KIND + kind: ("of", "inner") for kind in ADDRESS_KINDS},
    **NOTES,
}


# The explanations of LINE's details ({explanation}), needed only by a language whose line_would_say uses it.
def detail_key(detail: str, status: int | None = None) -> str:
    """The text explaining one of LINE's details (a status code's is one text for every code)."""
    return DETAIL + ("status" if status is not None else re.sub(r"[^a-z]+", "_", detail.lower()).strip("_"))


DETAIL_TEXTS: dict[str, tuple[str, ...]] = {**{detail_key(d): () for d in DETAILS}, detail_key("", 0): ("status",)}


def _placeholders(text: str) -> set[str] | None:
    """The {fields} a text names, or None when it is not a valid format string."""
    try:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError:
        return None


@dataclass(frozen=True)
class Limit:
    """At most `count` probes within `seconds`."""

    count: int
    seconds: float


@dataclass(frozen=True)
class DiagnoseData:
    """Everything a maintainer may change about diagnosis, validated."""

    triggers: dict[str, tuple[str, ...]]
    per_chat: Limit
    per_process: Limit
    supported_ciphers: frozenset[str]
    deprecated_ciphers: frozenset[str]
    text: dict[str, dict[str, str]]
    fillers: tuple[str, ...] = ()  # words that, alone beside a URL, ask nothing else ("URL:", 「です」)
    request_chars: int = 60  # at most this much text beside the URL makes a request


def load(directory: str | Path | None = None) -> DiagnoseData:
    """Read and validate diagnose.yaml; raise KnowledgeError naming file, section and field."""
    path = Path(directory or DEFAULT_DIR) / FILE
    problems: list[Problem] = []

    def bad(section: str | None, field: str | None, message: str) -> None:
        problems.append(Problem(FILE, section, field, message))

    try:
        # libyaml's parser when PyYAML has it (as knowledge.py): the pure-Python one is ~10x slower at start-up.
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506
    except (OSError, yaml.YAMLError) as exc:
        raise KnowledgeError([Problem(FILE, None, None, f"cannot read: {exc}")]) from None
    if not isinstance(raw, dict):
        raise KnowledgeError([Problem(FILE, None, None, "must be a mapping")])

    def section(name: str) -> dict[Any, Any] | None:
        """A section that holds fields ({} when absent); None, named as one problem, when it is not a mapping."""
        value = raw.get(name)
        if value is None or isinstance(value, dict):
            return value or {}
        bad(name, None, f"must be a mapping, got {type(value).__name__}")
        return None

    triggers: dict[str, tuple[str, ...]] = {}
    trigger_words = section("triggers")
    for lang in LANGS if trigger_words is not None else ():
        words = trigger_words.get(lang)
        if not isinstance(words, list) or not words or not all(isinstance(w, str) and w.strip() for w in words):
            bad("triggers", lang, "must be a non-empty list of words")
        else:
            triggers[lang] = tuple(w.strip().casefold() for w in words)

    fillers: list[str] = []
    for lang, words in (section("fillers") or {}).items():
        if lang not in LANGS or not isinstance(words, list) or not all(isinstance(w, str) and w.strip() for w in words):
            bad("fillers", str(lang), "must be a list of words under ja or en")
        else:
            fillers.extend(w.strip().casefold() for w in words)

    request_chars = raw.get("request_chars", DiagnoseData.request_chars)
    if not isinstance(request_chars, int) or isinstance(request_chars, bool) or request_chars < 1:
        bad("request_chars", None, "must be a whole number >= 1")
        request_chars = DiagnoseData.request_chars

    limits: dict[str, Limit] = {}
    limit_specs = section("limits")
    for name in ("per_chat", "per_process") if limit_specs is not None else ():
        spec = limit_specs.get(name)
        count = spec.get("count") if isinstance(spec, dict) else None
        seconds = spec.get("seconds") if isinstance(spec, dict) else None
        if not isinstance(count, int) or count < 1 or not isinstance(seconds, int | float) or seconds <= 0:
            bad("limits", name, "needs count (a whole number >= 1) and seconds (> 0)")
        else:
            limits[name] = Limit(count, float(seconds))

    ciphers: dict[str, frozenset[str]] = {}
    suites = section("line_tls")
    for name in ("supported", "deprecated") if suites is not None else ():
        names = suites.get(name)
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            bad("line_tls", name, "must be a non-empty list of OpenSSL cipher names")
        else:
            ciphers[name] = frozenset(names)

    text: dict[str, dict[str, str]] = {}
    for lang in LANGS:
        section = raw.get(lang)
        if not isinstance(section, dict):
            bad(lang, None, "section is missing")
            continue
        wanted = dict(TEXTS)
        if "{explanation}" in str(section.get("line_would_say", "")):
            wanted.update(DETAIL_TEXTS)
        for key, fields in wanted.items():
            value = section.get(key)
            if not isinstance(value, str) or not value.strip():
                bad(lang, key, "is missing or empty")
                continue
            named = _placeholders(value)
            if named is None:
                bad(lang, key, "has an unmatched { or }")
            elif named - set(fields):
                allowed = ", ".join("{" + f + "}" for f in fields) or "none"
                unknown = ", ".join("{" + f + "}" for f in sorted(named - set(fields)))
                bad(lang, key, f"names {unknown}; it may use {allowed}")
        for key in section:
            if key not in TEXTS and key not in DETAIL_TEXTS:
                bad(lang, key, "unknown field")
        text[lang] = {k: str(v).strip() for k, v in section.items()}
    if problems:
        raise KnowledgeError(problems)
    return DiagnoseData(
        triggers,
        limits["per_chat"],
        limits["per_process"],
        ciphers["supported"],
        ciphers["deprecated"],
        text,
        tuple(sorted(set(fillers), key=len, reverse=True)),
        request_chars,
    )


def address_kind(text: dict[str, str], kind: str, of: str = "", inner: str = "") -> str:
    """A refused address's kind (urlguard.Why's) in the texts' language: "プライベートアドレス"."""
    inner_text = text.get(ADDRESS_KIND + inner, inner) if inner else ""
    return text[ADDRESS_KIND + kind].format(of=of, inner=inner_text) if ADDRESS_KIND + kind in text else kind
