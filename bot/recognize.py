"""Exact recognisers: reason codes, detail strings, HTTP status codes and who is asking."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from bot.knowledge import KnowledgeBase
from bot.normalize import compact, fold, words

# A status code is three digits standing alone: not part of a longer number, a version
# ("1.502") or a quantity ("500ms", "500文字").
_STATUS = re.compile(r"(?<![\d.])([1-5]\d\d)(?!\d|\.\d|\s*(?:ms|kb|mb|gb|px|円|件|回|文字|秒|分|時間|個|人|通|%))")
# Port numbers are not status codes: "port 443", 「ポート443」, "example.com:443".
_PORT = re.compile(r"(?:port|ぽと)\s*\d+|\d+\s*番?ぽと|(?:[a-z0-9-]+\.)+[a-z]{2,}:\d+|localhost:\d+", re.IGNORECASE)
_STATUS_CLASS = re.compile(r"(?<![\w])([1-5])xx(?![\w])")
_STATUS_CLASS_ANY_CASE = re.compile(_STATUS_CLASS.pattern, re.IGNORECASE)

# Standard reason phrases people type instead of the number. "Not Found" is left out on
# purpose: "host not found" is the Unknown host detail, not a 404.
PHRASES = {
    "bad request": 400,
    "unauthorized": 401,
    "forbidden": 403,
    "method not allowed": 405,
    "payload too large": 413,
    "request entity too large": 413,
    "too many requests": 429,
    "internal server error": 500,
    "bad gateway": 502,
    "service unavailable": 503,
    "gateway timeout": 504,
}

# Words that tell who is asking (see "Ambiguity" in the topics). "~word" counts half: anyone
# has an "app", so "Heroku app crashed" stays the operator's; senders run bots too, so
# 「ボットからのプッシュが500」 is the sender's.
CONTEXT = {
    "operator": """
        webhook | ウェブフック | ~bot | ~ボット | 統計 | console | コンソール | channel | チャネル |
        callback | flask | django | express | heroku | render | gas | apps script | waf | cdn |
        cloudflare | proxy | プロキシ | firewall | ファイアウォール | load balancer |
        ロードバランサー | endpoint | エンドポイント | vercel | aws | lambda | cloud run | ngrok |
        deploy | デプロイ | routing | ルーティング | route | プログラム | program | upstream |
        アップストリーム | 証明書 | certificate | ssl | tls | dns |
        ドメイン | domain | レート制限 | rate limit | my server | our server | bot server | web server |
        ボットサーバー | 自分のサーバー | 自社サーバー | backend | バックエンド
    """,
    "app_user": """
        ~app | ~アプリ | スタンプ | sticker | スマホ | iphone | ipad | android | 携帯 | ショップ | shop |
        着せかえ | トーク | 機種 | line app | lineアプリ | line アプリ
    """,
    "sender": """
        push | プッシュ | multicast | マルチキャスト | broadcast | ブロードキャスト | narrowcast |
        reply | ~返信 | reply api | messaging api | メッセージングapi | 送信 | retry key | リトライキー
    """,
}
_LINE_WORD = re.compile(r"(?<![a-z])line(?![a-z])")


def without_codes(text: str) -> str:
    """The text with its status codes ("404", "5xx") blanked out, to read what else it says."""
    text = unicodedata.normalize("NFKC", text)  # not folded: words() still needs the katakana
    return _STATUS_CLASS_ANY_CASE.sub(" ", _STATUS.sub(" ", text))


def _word_patterns(listing: str) -> tuple[re.Pattern[str], re.Pattern[str] | None]:
    """Regexes for a "|"-separated list of context words: (full weight, half weight for "~word")."""
    phrases = [p.strip() for p in listing.split("|") if p.strip()]
    weak = [p[1:] for p in phrases if p.startswith("~")]
    strong = [p for p in phrases if not p.startswith("~")]
    return _word_pattern(strong), (_word_pattern(weak) if weak else None)


def _word_pattern(phrases: list[str]) -> re.Pattern[str]:
    """One regex for context words; Latin words match whole words only ("bot", not "both"),
    written in any case and kana (they are folded like the questions)."""
    alts = []
    for phrase in phrases:
        folded = re.escape(fold(phrase))
        alts.append(rf"(?<![a-z]){folded}(?:s|es)?(?![a-z])" if phrase.isascii() else folded)
    return re.compile("|".join(alts))


@dataclass(frozen=True)
class Signals:
    """What the exact recognisers found in one question."""

    details: tuple[str, ...] = ()  # entry ids of detail strings found, longest match first
    reasons: tuple[str, ...] = ()  # entry ids of reason codes found
    codes: tuple[int, ...] = ()  # HTTP status codes found (numbers, then phrases)
    classes: tuple[int, ...] = ()  # status classes written like "5xx"
    audience: str | None = None  # operator, app_user, sender, or None when unclear
    mentions_line: bool = False  # "LINE" alone: the app, unless a stronger word says otherwise


class Recognizer:
    """Exact-match tables built once from the knowledge base."""

    def __init__(self, kb: KnowledgeBase) -> None:
        exact: dict[str, tuple[str, str]] = {}
        for entry in kb.entries.values():
            if entry.detail:
                exact[compact(entry.detail)] = ("detail", entry.id)
            if entry.code:
                exact[compact(entry.code)] = ("reason", entry.id)
        # Longest first, so "Connection failed (received GOAWAY)" wins over "Connection failed".
        self._exact = sorted(exact.items(), key=lambda kv: -len(kv[0]))
        self._context = {aud: _word_patterns(ws) for aud, ws in CONTEXT.items()}

    def scan(self, text: str) -> Signals:
        """Find every exact signal in `text`."""
        squeezed = compact(text)
        details: list[str] = []
        reasons: list[str] = []
        for key, (kind, entry_id) in self._exact:
            at = squeezed.find(key)
            if at < 0:
                continue
            # Blank the match out so a shorter string inside it is not found again.
            squeezed = squeezed[:at] + "\0" + squeezed[at + len(key) :]
            target = details if kind == "detail" else reasons
            if entry_id not in target:
                target.append(entry_id)
        folded = _PORT.sub(" ", fold(text))
        spaced = words(text)
        codes = [int(m) for m in _STATUS.findall(folded)]
        codes += [code for phrase, code in PHRASES.items() if re.search(rf"\b{phrase}\b", spaced)]
        classes = [int(m) for m in _STATUS_CLASS.findall(folded)]
        return Signals(
            details=tuple(details),
            reasons=tuple(reasons),
            codes=tuple(dict.fromkeys(codes)),
            classes=tuple(dict.fromkeys(classes)),
            audience=self.audience(folded, has_reason=bool(details or reasons)),
            mentions_line=bool(_LINE_WORD.search(folded)),
        )

    def audience(self, folded: str, has_reason: bool = False) -> str | None:
        """Who is asking, from context words; None when nothing or a tie says so."""
        hits = {
            aud: len(strong.findall(folded)) + (0.5 * len(weak.findall(folded)) if weak else 0.0)
            for aud, (strong, weak) in self._context.items()
        }
        if has_reason:
            hits["operator"] += 2
        best = max(hits.values())
        if best < 1:
            return None  # weak words alone ("my app") do not say who is asking
        leaders = [aud for aud, n in hits.items() if n == best]
        return leaders[0] if len(leaders) == 1 else None
