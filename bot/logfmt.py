"""Log lines as logfmt (`key=value`, quoted and escaped): what the outside world sends cannot forge a line."""

from __future__ import annotations

import json
import logging
from typing import Any

FIELD_CHARS = 200  # any one value from outside: bodies, error texts
ID_CHARS = 64  # ids: LINE's are 26-44 characters
LINE_CHARS = 4000  # a whole message, after escaping
_SEPARATORS = {"\u2028": "\\u2028", "\u2029": "\\u2029", "\x85": "\\u0085"}  # line breaks to some readers
_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:/@+,()")


def bounded(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, lone surrogates replaced (they cannot be encoded)."""
    if len(text) > limit:
        text = text[:limit] + "…"
    return text.encode("utf-8", "replace").decode("utf-8") if not text.isascii() else text


def value(raw: Any, limit: int = FIELD_CHARS) -> str:
    """One logfmt value: bare when plain, else a JSON-quoted string (control characters escaped)."""
    text = bounded(raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw), limit)
    if text and all(c in _PLAIN for c in text):
        return text
    quoted = json.dumps(text, ensure_ascii=False)
    return "".join(_SEPARATORS.get(c, c) for c in quoted) if not quoted.isascii() else quoted


def kv(msg: str, **fields: Any) -> str:
    """`msg="..." key=value ...`; values of keys ending in "id"/"Id" are cut to ID_CHARS."""
    parts = [f"msg={value(msg)}"]
    for key, raw in fields.items():
        limit = ID_CHARS if key.endswith(("Id", "id")) else FIELD_CHARS
        parts.append(f"{key}={value('-' if raw is None else raw, limit)}")
    return " ".join(parts)


class Formatter(logging.Formatter):
    """`time=... level=... logger=... pid=... <message>`, the message escaped and bounded whatever made it."""

    def __init__(self) -> None:
        super().__init__("time=%(asctime)s level=%(levelname)s logger=%(name)s pid=%(process)d %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        message = record.message
        if not message.startswith("msg="):
            # Free text ("profile lookup failed: error=X", "ready: 74 entries, ..."): one quoted msg value,
            # or a logfmt reader takes each of its words for a key.
            message = "msg=" + value(message, LINE_CHARS)
        elif len(message) > LINE_CHARS or not message.isprintable():
            message = escape(message[:LINE_CHARS])
        record.message = message
        return super().formatMessage(record)


def escape(text: str) -> str:
    """Control characters, line separators and lone surrogates as backslash escapes."""
    return "".join(c if c.isprintable() else json.dumps(c)[1:-1] for c in text)
