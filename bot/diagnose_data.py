"""knowledge/diagnose.yaml: trigger words, rate limits, LINE's cipher suites and the diagnosis texts."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from bot.knowledge import DEFAULT_DIR, LANGS, KnowledgeError, Problem

FILE = "diagnose.yaml"
ADDRESS_KIND = "address_"  # optional texts: a refused address's kind in a language (see address_kind)
TEXT_KEYS = (
    "title_ok",
    "title_unsigned",
    "title_problem",
    "line_would_say",
    "ok",
    "unsigned",
    "facts",
    "refused",
    *(f"refused_{rule}" for rule in ("https_only", "credentials", "port", "host_form", "address", "literal", "dns")),
    "refused_hint",
    "invalid",
    "rate_limited",
    "probe_note",
    "checking_failed",
    *(f"check_{name}" for name in ("url", "dns", "connect", "tls", "certificate", "expiry", "chain", "response")),
)


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

    triggers: dict[str, tuple[str, ...]] = {}
    for lang in LANGS:
        words = (raw.get("triggers") or {}).get(lang)
        if not isinstance(words, list) or not words or not all(isinstance(w, str) and w.strip() for w in words):
            bad("triggers", lang, "must be a non-empty list of words")
        else:
            triggers[lang] = tuple(w.strip().casefold() for w in words)

    limits: dict[str, Limit] = {}
    for name in ("per_chat", "per_process"):
        spec = (raw.get("limits") or {}).get(name)
        count = spec.get("count") if isinstance(spec, dict) else None
        seconds = spec.get("seconds") if isinstance(spec, dict) else None
        if not isinstance(count, int) or count < 1 or not isinstance(seconds, int | float) or seconds <= 0:
            bad("limits", name, "needs count (a whole number >= 1) and seconds (> 0)")
        else:
            limits[name] = Limit(count, float(seconds))

    ciphers: dict[str, frozenset[str]] = {}
    for name in ("supported", "deprecated"):
        names = (raw.get("line_tls") or {}).get(name)
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
        for key in TEXT_KEYS:
            if not isinstance(section.get(key), str) or not section[key].strip():
                bad(lang, key, "is missing or empty")
        for key in section:
            if key not in TEXT_KEYS and not key.startswith(ADDRESS_KIND):
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
    )


def address_kind(text: dict[str, str], kind: str) -> str:
    """A refused address's kind ("private address", from the URL guard) in the texts' language, else as given."""
    return text.get(ADDRESS_KIND + re.sub(r"[^a-z]+", "_", kind.lower()).strip("_"), kind)
