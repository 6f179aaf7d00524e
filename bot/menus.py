"""The choices a reply offers, in one order shared by LINE's buttons and the terminal's numbers."""

from __future__ import annotations

import re
import unicodedata

from bot.knowledge import KnowledgeBase
from bot.linelimits import MAX_QUICK_REPLIES
from bot.settings import SETTINGS
from bot.types import Match

_NUMBERED = re.compile(r"^\d{1,2}[.)]\s*")  # "2. " before a choice copied from a numbered list
_NAMES: dict[str, dict[str, frozenset[str]]] = {}  # knowledge version -> name -> entry ids


def suggestion_ids(kb: KnowledgeBase, suggestions: tuple[str, ...]) -> list[str]:
    """The topics a fallback offers: the nearest ones, else ui.yaml's default suggestions (as many as the
    matcher's setting lets a fallback suggest)."""
    return [s for s in (suggestions or kb.ui.suggestions) if s in kb][: SETTINGS.max_suggestions]


def options(kb: KnowledgeBase, match: Match) -> list[str]:
    """The entry ids a reply offers, numbered from 1 in this order (the menu button comes after)."""
    if match.kind == "answer" and match.entry_id:
        return list(kb[match.entry_id].related)
    if match.kind == "clarify":
        return list(match.choices)
    if match.entry_id:  # a deflection points elsewhere and offers nothing here
        return []
    return suggestion_ids(kb, match.suggestions)


def buttons(kb: KnowledgeBase, ids: list[str]) -> list[str]:
    """The quick-reply buttons for `ids`: those in the knowledge base, then the menu, at most 13."""
    ids = [*ids, kb.ui.help] if kb.ui.help not in ids else ids
    return list(dict.fromkeys(i for i in ids if i in kb))[:MAX_QUICK_REPLIES]


Around = tuple[tuple[str, ...], tuple[str, ...]]  # words before and after a number (ui.yaml's `numbers`)


def _trimmed(text: str, around: Around) -> str:
    """`text` without one of the words before it and one after it (the longest that fits), case folded."""
    text = text.casefold()
    before, after = (sorted((w.casefold() for w in side), key=len, reverse=True) for side in around)
    text = next((text[len(w) :].lstrip() for w in before if text.startswith(w)), text)
    return next((text[: -len(w)].rstrip() for w in after if text.endswith(w)), text)


# Invisible marks around a typed number: a keycap emoji's ("2️⃣" is 2, U+FE0F, U+20E3); format characters
# (zero-width space, BOM, word joiner: unicodedata category Cf) are dropped too, as pasted text carries them.
_KEYCAP = "\ufe0f\u20e3"
_CIRCLED = range(0x2460, 0x2474)  # ①..⑳, how Japanese lists are often numbered: NFKC makes them 1..20


def _plain(text: str) -> str:
    """`text` without format characters and keycap marks, circled numbers as digits."""
    kept = (c for c in text if c not in _KEYCAP and unicodedata.category(c) != "Cf")
    return "".join(unicodedata.normalize("NFKC", c) if ord(c) in _CIRCLED else c for c in kept)


def as_number(text: str, around: Around = ((), ())) -> int | None:
    """The number in a message that is only a number of one or two digits ("2", "２", "2.", "②", "2️⃣"), or
    one with a word of `around` before or after it (「2番」「2番目です」, "#2")."""
    text = _plain(text)
    typed = _trimmed(unicodedata.normalize("NFKC", text).strip(), around).rstrip(".)")
    # isdecimal, not isdigit: "❶" and "፩" are digits to isdigit() but not numbers to int(); and digits typed
    # as digits (ASCII or full-width), not what NFKC makes a "2" of ("²").
    if not (typed.isdecimal() and 0 < len(typed) <= 2):
        return None
    return int(typed) if all(c.isdecimal() for c in text if unicodedata.normalize("NFKC", c).isdecimal()) else None


def pick(text: str, offered: tuple[str, ...] | list[str], around: Around = ((), ())) -> str | None:
    """The offered entry id a message picks by its number, if it is just a number in range."""
    number = as_number(text, around)
    return offered[number - 1] if number is not None and 0 < number <= len(offered) else None


def _name_key(text: str) -> str:
    """A label or title as compared with a message: width, case and spacing folded, a list's number dropped."""
    text = " ".join(unicodedata.normalize("NFKC", text).split()).casefold()
    return _NUMBERED.sub("", text).rstrip("。.!！?？")


def named(kb: KnowledgeBase, text: str) -> frozenset[str]:
    """The entries whose button label or title (either language) is exactly `text`: someone typing, or
    copying from the numbered list, the choice they mean instead of tapping it (LINE for PC has no buttons)."""
    names = _NAMES.get(kb.version)
    if names is None:
        found: dict[str, set[str]] = {}
        for entry_id, entry in kb.entries.items():
            for text_of in entry.text.values():
                # The title as shown: an "other status code" title's {code} stands for a code it does not name.
                for name in (text_of.label, text_of.title):
                    if "{" not in name:
                        found.setdefault(_name_key(name), set()).add(entry_id)
        names = _NAMES[kb.version] = {k: frozenset(v) for k, v in found.items() if k}
    return names.get(_name_key(text), frozenset()) if len(text) <= 200 else frozenset()
