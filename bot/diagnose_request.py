"""Recognise a request to check a webhook URL in a message (pure: text and data in, URL out)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.analyze import language
from bot.diagnose_data import DiagnoseData

# A URL runs until whitespace or Japanese text; full-width forms of ASCII (／, ：, ａ) stay in it, so a
# URL typed with them is checked as written (and found malformed, as LINE would find it). A host's labels
# before a dot may be in any script (「https://例え.jp/」, an IDN the guard encodes): Japanese right after a
# host ends it, as after a path (「https://example.comを診断して」), since no dot follows.
_URL = re.compile(r"https?://(?:[\w-]+\.)*[!-~\uff01-\uff5e]+", re.IGNORECASE)
# A URL without https:// ("example.com/callback", after the menu's "send your webhook URL") or with another
# scheme ("ftp://…"): the console refuses it as "Invalid URL syntax", and so does the check, but only in a
# message that is nothing else (the URL, request words, fillers): in a question it is a question's word.
_LOOSE = re.compile(
    r"(?<![A-Za-z0-9@/.:%_-])(?:[a-z][a-z0-9+.-]*://[!-~]+|(?:[a-z0-9-]+\.)+[a-z]{2,}(?::[0-9]+)?/[!-~]*)",
    re.IGNORECASE,
)
_TRAILING = ".,;:!?)]}>'\"）］｝＞．，！？"
_FILLER = re.compile(r"[\s\W]+")
_NO_LANGUAGE = ("webhook", "url")  # written alike in both languages


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
    loose = found is None and (found := _LOOSE.search(text)) is not None
    if found is None:
        return None
    url = found.group(0).rstrip(_TRAILING)
    rest = (text[: found.start()] + " " + text[found.end() :]).strip()
    if len(rest) > data.request_chars:
        return None  # a question or a paste that holds a URL (and "test" or 「確認」 somewhere): not a request
    folded = rest.casefold()
    asked = any(word in folded for words in data.triggers.values() for word in words)
    said = _without_fillers(folded, data.fillers)  # "URL: https://…", 「https://… です」: the URL alone
    if not asked and not (addressed and not _FILLER.sub("", said)):
        return None
    if loose and _FILLER.sub("", _without_fillers(said, tuple(w for ws in data.triggers.values() for w in ws))):
        return None  # "I checked node.js/express": words beside it make it a question
    # "URL:" shows no language (the conversation's is better); 「です」 or "my webhook is" do.
    sure = bool(_FILLER.sub("", _without_fillers(folded, _NO_LANGUAGE)))
    return ProbeRequest(url, language(rest) if rest else "ja", lang_sure=sure)


def _without_fillers(folded: str, fillers: tuple[str, ...]) -> str:
    """The text without the filler words (Latin ones as whole words, others wherever they stand)."""
    for word in fillers:  # longest first
        if word.isascii():
            folded = re.sub(rf"(?<![a-z0-9]){re.escape(word)}(?![a-z0-9])", " ", folded)
        else:
            folded = folded.replace(word, " ")
    return folded
