"""Japanese and English say the same thing in every entry, and every topic of the topics file exists."""

import calendar
import re
import unicodedata
from pathlib import Path

import pytest

from bot import knowledge

TOPIC_IDS = Path(__file__).resolve().parent / "data" / "topic-ids.txt"

# Console and app labels that each language writes in its own words: an English quoted label counts as
# present in Japanese when its Japanese label is there, and the other way round.
UI_LABELS = {
    "Use webhook": "Webhookの利用",
    "Error statistics aggregation": "エラーの統計情報",
    "Webhook errors": "Webhookエラー",
    "Download TSV file": "TSVファイルをダウンロード",
    "Deprecated": "非推奨",  # the cipher-suite status on the SSL/TLS spec page
    "Webhook redelivery": "Webhookの再送",
    "Allow bot to join group chats": "グループトーク・複数人トークへの参加を許可する",
    "Auto-reply messages": "応答メッセージ",
    "Greeting messages": "あいさつメッセージ",
    "Delete all data": "すべてのデータを削除",
    "Delete data": "データの削除",
    "Delete": "削除",
    "Chats": "トーク",
    "Verify": "検証",
    "Update": "アップデート",
    "Force stop": "強制停止",
    "Manage apps & device": "アプリとデバイスの管理",
    "Updates available": "利用可能なアップデート",
    "Unable to process your request due to a temporary error. Please try again.": (
        "一時的なエラーによりリクエストが完了しませんでした。もう一度お試しください。"
    ),
    # the Verify dialog when no status came back, as askers quote it in each language (real-questions.yaml)
    "An error occurred when sending the webhook.": "Webhookとの通信でエラーが発生しました。",
    # LINE's in-app browser, as the LINE Developers FAQ lists its messages in each language
    "Unable to open page. Server not found.": "ページを開けませんサーバーが見つかりません",
    "This site is potentially unsafe. Please close this screen.": "このサイトは安全ではないため閉じてください。",
}
_MONTHS = list(calendar.month_name)[1:]  # "January" ... "December" (the C locale)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
# Identifiers, headers and paths: words joined by "_", "/" or two hyphens, or camelCase words.
_TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[_\-./][A-Za-z0-9]+)+|[A-Za-z]*[a-z][A-Z][A-Za-z]*")
_QUOTED = re.compile(r'"([^"]+)"|「([^」]+)」')


def _text(entry: knowledge.Entry, lang: str) -> str:
    t = entry.text[lang]
    text = unicodedata.normalize("NFKC", "\n".join([t.title, t.summary, *t.steps]))
    text = re.sub(r"([1-5])00番台", r"\1xx", text)  # 「400番台」 is how Japanese writes 4xx
    # "March 31, 2025" is 「2025年3月31日」: a month's name counts as its number.
    return re.sub("|".join(_MONTHS), lambda m: str(_MONTHS.index(m.group()) + 1), text)


def _numbers(text: str) -> set[str]:
    return {n.replace(",", "") for n in _NUMBER.findall(text)}


def _codes(text: str) -> set[str]:
    found = set()
    for token in _TOKEN.findall(text):
        token = token.rstrip(".")
        camel = re.search(r"[a-z][A-Z]", token) is not None
        if "_" in token or "/" in token or token.count("-") >= 2 or camel:
            found.add(token)
    return found


def _quoted(text: str) -> set[str]:
    """Quoted strings written in Latin letters (error messages, headers, labels)."""
    found = set()
    for a, b in _QUOTED.findall(text):
        q = (a or b).strip()
        if q and q.isascii():
            found.add(q)
    return found


def _present(quote: str, other: str) -> bool:
    if quote.casefold() in other.casefold():
        return True
    return any((quote == en and ja in other) or (quote == ja and en in other) for en, ja in UI_LABELS.items())


def _parity_problems(entry: knowledge.Entry) -> list[str]:
    ja, en = _text(entry, "ja"), _text(entry, "en")
    problems = []
    if len(entry.text["ja"].steps) != len(entry.text["en"].steps):
        problems.append(f"{len(entry.text['ja'].steps)} steps in ja, {len(entry.text['en'].steps)} in en")
    if _numbers(ja) != _numbers(en):
        problems.append(f"numbers only in ja {_numbers(ja) - _numbers(en)}, only in en {_numbers(en) - _numbers(ja)}")
    for this, other, name in ((ja, en, "ja"), (en, ja, "en")):
        for code in _codes(this):
            if code.casefold() not in other.casefold():
                problems.append(f"code {code!r} of {name} missing in the other language")
        for quote in _quoted(this):
            if not _present(quote, other):
                problems.append(f"quoted {quote!r} of {name} missing in the other language")
    return problems


KB = knowledge.load()


@pytest.mark.parametrize("entry_id", sorted(KB.entries))
def test_japanese_and_english_say_the_same(entry_id: str) -> None:
    assert _parity_problems(KB[entry_id]) == []


def test_parity_check_catches_a_difference() -> None:
    entry = KB["messaging_api.retry_key"]
    en = entry.text["en"]
    changed = knowledge.Text(en.title, en.label, en.summary.replace("24", "12"), en.steps[:-1], en.aliases)
    broken = knowledge.Entry(entry.id, entry.audience, {**entry.text, "en": changed}, entry.links)
    problems = _parity_problems(broken)
    assert any("steps" in p for p in problems) and any("numbers" in p for p in problems)


def test_every_topic_id_is_an_entry() -> None:
    ids = [line.strip() for line in TOPIC_IDS.read_text(encoding="utf-8").splitlines()]
    ids = [i for i in ids if i and not i.startswith("#")]
    assert ids, "no topic ids read"
    assert [i for i in ids if i not in KB] == []
