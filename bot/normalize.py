"""Fold question text so that spelling variants compare equal."""

from __future__ import annotations

import re
import unicodedata

MAX_CHARS = 2000  # longer pastes are cut: the error is near the start, and matching cost stays bounded

_KATAKANA = re.compile(r"[\u30a1-\u30f6]")
# Characters that carry no meaning for matching: long-vowel marks and middle dots vary freely
# between writers ("サーバー" / "サーバ"), so they are dropped everywhere, on both sides.
_NOISE = str.maketrans("", "", "ー〜～・")
_NON_WORD = re.compile(r"[^\w]+")
_SPACES = re.compile(r"\s+")
# Between Latin letters or digits and Japanese: 「Webhook URLを検証」 -> "webhook url を検証".
# Also between letters and digits: "TLS1.0" -> "tls 1 0", like "TLS 1.0".
_SCRIPT_EDGE = re.compile(
    r"(?<=[a-z0-9])(?=[^\sa-z0-9_])|(?<=[^\sa-z0-9_])(?=[a-z0-9])|(?<=[a-z])(?=[0-9])|(?<=[0-9])(?=[a-z])"
)


def _hiragana(match: re.Match[str]) -> str:
    return chr(ord(match.group(0)) - 0x60)


# "couldn't" / "couldnt" = "could not", so even the exact reason code is found in "couldnt connect".
# English word edges that hold next to Japanese too (Python's \b treats kanji as word characters).
_A, _Z = r"(?<![a-z0-9])", r"(?![a-z0-9])"
_CONTRACTION = re.compile(_A + r"(could|would|should|does|do|did|is|are|was|were|has|have)n'?t" + _Z)
_CANNOT = re.compile(_A + r"can'?t" + _Z)


def fold(text: str) -> str:
    """NFKC, casefold, katakana to hiragana, control and noise characters removed, spaces collapsed."""
    text = unicodedata.normalize("NFKC", text[:MAX_CHARS]).casefold()
    text = _CONTRACTION.sub(r"\1 not", _CANNOT.sub("cannot", text))
    # Control, format (zero-width) and unassigned characters would split words invisibly.
    text = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in text)
    text = _KATAKANA.sub(_hiragana, text).translate(_NOISE)
    return _SPACES.sub(" ", text).strip()


# Polite and plain verb endings mean the same for matching: 「見つかりません」 = 「見つからない」.
_ENDINGS = (
    (re.compile(r"りません"), "らない"),
    (re.compile(r"きません"), "かない"),
    (re.compile(r"ません"), "ない"),
    (re.compile(r"ました"), "た"),
    # Polite forms of the commonest verb shapes back to the plain form: 「直ります」 = 「直る」.
    (re.compile(r"ります"), "る"),
    (re.compile(r"ちます"), "つ"),
    (re.compile(r"みます"), "む"),
    (re.compile(r"びます"), "ぶ"),
    (re.compile(r"ぎます"), "ぐ"),
    (re.compile(r"(です|ます)(か|よ|ね)?"), ""),
)


# Endings that only say something happened, after a katakana or kanji noun: 「タイムアウトしました」,
# 「エラーが出ている」, 「と表示される」. Matched before kana folding, while katakana is still
# distinguishable from the hiragana of the ending.
_HAPPENED = re.compile(
    r"(?<=[\u30a0-\u30ff\u4e00-\u9fff])"
    r"(?:(?:が|と|って)?(?:出て(?:い)?(?:る|ます)|出(?:る|た|ます|ました)|表示され(?:る|た|ます|ました|ている))"
    r"|し(?:ました|ます|た|て(?:いる|います|る)?|ている)|する|になる|になった|になります)"
)
# English spellings of one idea: "timed out" / "time out" = "timeout".
_ENGLISH = (
    (re.compile(_A + r"tim(?:ed|ing|es)? out" + _Z), "timeout"),
    (re.compile(_A + r"cert(s)?" + _Z), r"certificate\1"),
    (re.compile(_A + r"fa(?:il|li)[a-z]*"), "fail"),  # failed, failure, fails; typos "failur", "faliure"
    (re.compile(_A + r"wi[ -]?fi" + _Z), "wifi"),
    # "2s", "30 sec": seconds (one or two digits only: "500s" are status codes).
    (re.compile(_A + r"([0-9]{1,2}) ?(?:s|secs?)" + _Z), r"\1 seconds"),
)


# A particle (one kana, or から/まで/より) between two katakana/kanji/Latin words separates them: 「スマホを再起動」 ->
# スマホ を 再起動. Done before kana folding, while katakana words can still be told from particles.
_PARTICLE = re.compile(
    r"(?<=[A-Za-z0-9\u30a0-\u30ff\u4e00-\u9fff])(から|まで|より|[をがはにでのもと])(?=[A-Za-z0-9\u30a0-\u30ff\u4e00-\u9fff])"
)


# An adjective's -くて / -くない / -くなる form back to its dictionary form, as a word of its own:
# 「遅くてタイムアウト」 -> 遅い タイムアウト, matching 「応答が遅い」. After a kanji, く followed by
# て or な is an adjective (verbs bend otherwise: 書いて, 届かない).
_ADJECTIVE = re.compile(r"(?<=[\u4e00-\u9fff])く(?:て|な(?:い|る|った|って))")


# One idea, several spellings: 「切れた」「切られる」「切って」 all say 切断 (cut off). 切り is left
# alone: 「切り替え」 is switching, not cutting.
_SYNONYMS = (
    (re.compile(r"切(?:れる|れた|れて|られ(?:る|た)|る|った|って)"), "切断"),
    # Words written in kanji or in kana alike: 「繋がらない」 = 「つながらない」.
    (re.compile(r"繋(?=[がげぎ])"), "つな"),
    (re.compile(r"出来(?=[なるたてま])"), "でき"),
    (re.compile(r"分(?=か[らりるっ])"), "わ"),
    (re.compile(r"下さい"), "ください"),
)


def _rewrite(text: str, rules: tuple[tuple[re.Pattern[str], str], ...]) -> str:
    for pattern, replacement in rules:
        text = pattern.sub(replacement, text)
    return text


def words(text: str) -> str:
    """Fold, unify verb endings, and turn punctuation into single spaces: the fuzzy form."""
    text = _HAPPENED.sub(" ", unicodedata.normalize("NFKC", text[:MAX_CHARS]))
    text = _rewrite(_ADJECTIVE.sub("い ", text), _SYNONYMS)
    text = _PARTICLE.sub(r" \1 ", text)
    text = _rewrite(_rewrite(fold(text).replace("_", " "), _ENGLISH), _ENDINGS)
    text = _NON_WORD.sub(" ", text)
    return _SPACES.sub(" ", _SCRIPT_EDGE.sub(" ", text)).strip()


def compact(text: str) -> str:
    """Fold, then keep letters and digits only: "could_not_connect", "Could not connect" and
    "couldnotconnect" all become "couldnotconnect"."""
    return "".join(ch for ch in fold(text) if ch.isalnum())


def language(text: str) -> str:
    """ "ja" for text with kana or kanji, "en" for text with Latin words, else "ja" (the default)."""
    for ch in text[:MAX_CHARS]:
        if "\u3040" <= ch <= "\u30ff" or "\u4e00" <= ch <= "\u9fff" or "\uff66" <= ch <= "\uff9f":
            return "ja"
    if re.search(r"[A-Za-z]{2,}", text[:MAX_CHARS]):
        return "en"
    return "ja"
