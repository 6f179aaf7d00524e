"""Mask secrets and personal details in a user's text before it is stored anywhere (pure)."""

from __future__ import annotations

import re

# Order matters: a URL's query or password goes before the e-mail rule reads "user:pass@host",
# "Bearer <token>" before the token rules, specific token shapes before the generic long string.
_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    # URL: password in the authority, then everything after "?" up to the next space or closing mark.
    # (No user name at all, as Heroku's REDIS_URL has it: "rediss://:password@host".)
    (re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^\s/:@]*:)[^\s/@]+@"), r"\1[password]@"),
    (re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^\s?#]*)\?[^\s#\"'<>)\]」』）]*"), r"\1?[query]"),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 [token]"),
    (
        # Also a name ending in the word, as settings and configs write it: LINE_CHANNEL_SECRET=, "accessToken":.
        re.compile(
            r"(?i)(?<![\w-])([\w-]*?(?:authorization|x-line-signature|api[_-]?key|token|secret|password))"
            r"(\"?\s*[:=]\s*)\S+"
        ),
        r"\1\2[secret]",
    ),
    (re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"), "[email]"),
    # JWTs (LINE's channel access tokens v2.1 are JWTs) and long base64 strings (long-lived tokens).
    (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), "[token]"),
    (
        re.compile(r"(?<![A-Za-z0-9+/])(?=[A-Za-z0-9+/]*\d)(?=[A-Za-z0-9+/]*[A-Za-z])[A-Za-z0-9+/]{40,}={0,2}"),
        "[token]",
    ),
    (re.compile(r"(?<![0-9A-Za-z])[0-9a-fA-F]{32}(?![0-9A-Za-z])"), "[secret]"),
    # LINE user, group and room ids: U/C/R and 32 hex digits.
    (re.compile(r"(?<![0-9A-Za-z])[UCR][0-9a-f]{32}(?![0-9A-Za-z])"), "[id]"),
    # Any other long random-looking run: 20+ letters, digits, '-' or '_' with digits and letters mixed.
    (re.compile(r"(?<![\w-])(?=[\w-]*\d)(?=[\w-]*[A-Za-z])(?=(?:[\w-]*\d){4})[A-Za-z0-9_-]{20,}(?![\w-])"), "[random]"),
    # Phone numbers: international (+81 90-1234-5678, +1 (415) 555-0123), Japanese (090-1234-5678,
    # 03-1234-5678, 0120-123-456, 09012345678) and North American "(415) 555-0123".
    (re.compile(r"(?<![\w+])\+\d{1,3}(?:[\s.-]?\(?\d{1,4}\)?){2,5}(?![\w-])"), "[phone]"),
    (re.compile(r"(?<![\w./:-])0\d{1,4}[-‐－ ]\d{1,4}[-‐－ ]\d{3,4}(?![\w./:-])"), "[phone]"),
    (re.compile(r"(?<![\w./:-])0[1-9]\d{8,9}(?![\w./:-])"), "[phone]"),
    (re.compile(r"(?<![\w)])\(\d{3}\)\s?\d{3}-\d{4}(?!\w)"), "[phone]"),
)


def mask(text: str) -> str:
    """`text` with tokens, secrets, ids, e-mail addresses, phone numbers and URL queries replaced by labels."""
    for pattern, label in _RULES:
        text = pattern.sub(label, text)
    return text
