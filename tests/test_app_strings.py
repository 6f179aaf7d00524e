"""What the LINE app itself shows, pasted or quoted by its users: exact strings decide their entry."""

from pathlib import Path

import pytest
import yaml

from bot import knowledge
from bot.analyze import japanese_script
from bot.matcher import Matcher

MINI = Path(__file__).parent / "data" / "mini_kb"
VOCABULARY = Path(__file__).parent.parent / "knowledge" / "vocabulary.yaml"

# Two app entries of the kind the production knowledge base has, and the LINE app's own words for them (the
# values are the real messages; the entries' texts are the fixture's own).
APP_ENTRIES = """
- id: line_app.sticker_shop
  audience: app_user
  links: [help_center]
  ja: {title: スタンプショップ, label: ショップ, summary: 説明です。, steps: [待ちます。], aliases: [スタンプ 買えない]}
  en: {title: Sticker shop, label: Sticker shop, summary: Explained., steps: [Wait.], aliases: [cannot buy stickers]}
- id: line_app.update_app
  audience: app_user
  howto: true
  links: [help_center]
  ja: {title: アップデート, label: 更新, summary: 説明です。, steps: [更新します。], aliases: [LINE 更新, 最新版]}
  en: {title: Update LINE, label: Update, summary: Explained., steps: [Update.], aliases: [update line]}
"""
APP_STRINGS = """
exact:
  messaging_api.invalid_reply_token: [Invalid reply token]
  line_app.sticker_shop:
    - Unable to open page. Server not found.
    - ページを開けませんサーバーが見つかりません
  line_app.update_app:
    - ご利用中のLINEバージョンで重大な不具合が見つかりました
"""


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Matcher:
    """The fixture knowledge base with the two app entries and their exact strings."""
    root = tmp_path_factory.mktemp("app_kb")
    for name in ("links.yaml", "ui.yaml"):
        (root / name).write_text((MINI / name).read_text())
    # A key written again later in the file replaces the fixture's own `exact`.
    (root / "vocabulary.yaml").write_text((MINI / "vocabulary.yaml").read_text() + APP_STRINGS)
    (root / "entries.yaml").write_text((MINI / "entries.yaml").read_text() + APP_ENTRIES)
    return Matcher(knowledge.load(root))


@pytest.mark.parametrize(
    ("text", "entry_id", "lang"),
    [
        # Inside a longer message, with words that lean elsewhere (restarting the app, a 500).
        (
            "LINEでリンクを開くと「ページを開けませんサーバーが見つかりません」と出て、アプリを再起動しても同じです",
            "line_app.sticker_shop",
            "ja",
        ),
        (
            "Opening a link in LINE shows 'Unable to open page. Server not found.' even after I restart the app",
            "line_app.sticker_shop",
            "en",
        ),
        (
            "LINEを開いたら「ご利用中のLINEバージョンで重大な不具合が見つかりました。最新バージョンでは修正されていますので、"
            "LINEアプリをアップデートしてください」と出ました。500エラーのようなものですか？",
            "line_app.update_app",
            "ja",
        ),
        # Compared as letters and digits: other punctuation, case and width make no difference.
        ("UNABLE TO OPEN PAGE - SERVER NOT FOUND", "line_app.sticker_shop", "en"),
        ("ページを開けません　サーバーが見つかりません", "line_app.sticker_shop", "ja"),
    ],
)
def test_an_app_message_decides_its_entry(app: Matcher, text: str, entry_id: str, lang: str) -> None:
    assert app.question(text).signals.exact == (entry_id,)
    match = app.match(text)
    assert (match.kind, match.entry_id, match.lang) == ("answer", entry_id, lang)


def test_part_of_an_app_message_is_not_it(app: Matcher) -> None:
    # "Server not found" is any browser's; only the whole message is the LINE app's.
    assert app.question("my webhook says Server not found").signals.exact == ()
    assert app.match("my webhook says Server not found").entry_id != "line_app.sticker_shop"


def test_an_entry_with_an_app_message_still_answers_how_to(app: Matcher) -> None:
    # An exact string makes an entry one that explains an error; `howto: true` keeps it for "how do I ...".
    assert app.question("LINEの更新方法").signals.howto
    assert app.match("LINEの更新方法").entry_id == "line_app.update_app"


def _app_strings() -> list[tuple[str, str]]:
    """The production vocabulary's exact strings for the LINE app's entries and the account deflection."""
    raw = yaml.safe_load(VOCABULARY.read_text())["exact"]
    return [
        (text, entry_id)
        for entry_id, texts in raw.items()
        if entry_id.startswith(("line_app.", "outside.account"))
        for text in texts
    ]


@pytest.mark.parametrize(("text", "entry_id"), _app_strings())
def test_every_app_message_in_the_knowledge_base_decides_its_entry_when_quoted(
    matcher: Matcher, text: str, entry_id: str
) -> None:
    quoted = f"LINEで「{text}」と表示されて困っています" if japanese_script(text) else f'LINE shows "{text}", what now?'
    match = matcher.match(quoted)
    assert match.entry_id == entry_id
    # An outside.* entry is a deflection: a fallback naming where to go.
    assert match.kind == ("fallback" if entry_id.startswith("outside.") else "answer")
