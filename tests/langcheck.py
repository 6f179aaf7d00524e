"""What the language tests assert on: the words of a reply that are in the other language."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from bot.knowledge import KnowledgeBase

_URL = re.compile(r"https?://[^\s「」（）()、。]*")
# Quoted strings are shown as they are (LINE's console and API strings, a user's words): 「…」, “…”, "…".
_QUOTED = re.compile(r"「[^」]*」|“[^”]*”|\"[^\"\n]*\"")
_TOKEN = re.compile(r"[A-Za-z0-9_./:=@'’+#&?%-]+")
_WORD = re.compile(r"[a-z][a-z'’-]*[a-z]")  # an English word in lower case: a sentence, not a name or a code
# Names of tools and parts of APIs that Japanese technical writing keeps in Latin letters (the knowledge
# base's answers use them: 「nginx など」「Heroku の Eco dyno」「応答（reply）API」「curl -v」).
TERMS = frozenset({"curl", "dig", "dyno", "http", "https", "nginx", "nslookup", "push", "reply", "token", "upstream"})
_JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uff66-\uff9f]+")


def console_strings(kb: KnowledgeBase) -> set[str]:
    """LINE's reason codes and detail strings, which stay as the console shows them in either language."""
    return {s for e in kb.entries.values() for s in (e.code, e.detail) if s}


def english_words(text: str, keep: Iterable[str] = ()) -> list[str]:
    """Lower-case English words left in a Japanese text once URLs, quoted strings, the strings in `keep`
    (console strings, host names) and codes (a token with a digit, _, ., /, :, = or @; all capitals; a
    capitalised name) are taken out."""
    text = _QUOTED.sub(" ", _URL.sub(" ", text))
    for kept in sorted(keep, key=len, reverse=True):
        text = re.sub(re.escape(kept), " ", text, flags=re.IGNORECASE)
    words = []
    for token in _TOKEN.findall(text):
        core = token.strip("'’.:-/?&")
        if _WORD.fullmatch(core) and core not in TERMS:
            words.append(core)
    return words


def japanese(text: str) -> list[str]:
    """Runs of kana or kanji in an English text, outside quoted strings."""
    return _JAPANESE.findall(_QUOTED.sub(" ", text))


def texts(messages: Any) -> list[str]:
    """Every string a person reads in LINE messages: texts, altTexts, labels (not postback data or URIs)."""
    found: list[str] = []
    if isinstance(messages, dict):
        for key, value in messages.items():
            if key in ("text", "altText", "label", "displayText") and isinstance(value, str):
                found.append(value)
            else:
                found += texts(value)
    elif isinstance(messages, list):
        for item in messages:
            found += texts(item)
    return found
