"""Recognise a request to check a webhook URL in a message (pure: text and data in, URL out)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.analyze import language
from bot.diagnose_data import DiagnoseData

# A URL runs until whitespace or Japanese text; full-width forms of ASCII (／, ：, ａ) stay in it, so a
# URL typed with them is checked as written (and found malformed, as LINE would find it).
_URL = re.compile(r"https?://[!-~\uff01-\uff5e]+", re.IGNORECASE)
_TRAILING = ".,;:!?)]}>'\"）］｝＞．，！？"
_FILLER = re.compile(r"[\s\W]+")


@dataclass(frozen=True)
class ProbeRequest:
    """Check this URL, and answer in this language."""

    url: str
    lang: str
    lang_sure: bool = True  # False for a URL alone: the conversation's language is better


def recognise(text: str, data: DiagnoseData, addressed: bool) -> ProbeRequest | None:
    """The URL to check when `text` asks for it: a URL plus a trigger word ("check", 「診断」), or a URL
    alone when the message is addressed to the bot (a one-to-one chat, or a mention in a group)."""
    found = _URL.search(text)
    if found is None:
        return None
    url = found.group(0).rstrip(_TRAILING)
    rest = (text[: found.start()] + " " + text[found.end() :]).strip()
    folded = rest.casefold()
    asked = any(word in folded for words in data.triggers.values() for word in words)
    if not asked and not (addressed and not _FILLER.sub("", rest)):
        return None
    return ProbeRequest(url, language(rest) if rest else "ja", lang_sure=bool(_FILLER.sub("", rest)))
