"""Normalisation: width, case, kana, codes written in any spelling."""

import pytest

from bot.normalize import compact, fold, language, words


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("ＴＬＳハンドシェイク", "tlsはんどしぇいく"),  # full width, case, katakana
        ("ｻｰﾊﾞｰ", "さば"),  # half-width kana, long vowel dropped
        ("サーバ", "さば"),  # with or without the long vowel
        ("Could\u200bNot", "could not"),  # zero-width space splits like a space
    ],
)
def test_fold(a: str, b: str) -> None:
    assert fold(a) == b


@pytest.mark.parametrize("text", ["could_not_connect", "Could not connect", "couldnotconnect", "COULD-NOT-CONNECT"])
def test_codes_compact_alike(text: str) -> None:
    assert compact(text) == "couldnotconnect"


def test_words_split_scripts_and_unify_endings() -> None:
    assert words("Webhook URLを検証") == "webhook url を 検証"
    assert words("スマホを再起動") == "すまほ を 再起動"  # a particle between words separates them
    assert words("見つかりません") == words("見つからない")


def test_adjective_forms_fold_to_the_dictionary_form() -> None:
    assert words("応答が遅くてタイムアウト") == "応答 が 遅い たいむあうと"
    assert words("LINEが重くなった") == "line が 重い"
    assert words("遅くない") == "遅い"  # the same topic, asked the other way round
    assert words("メッセージが届かない") == "めっせじ が 届かない"  # a verb: left alone


def test_failure_in_any_spelling_is_fail() -> None:
    assert words("TLS handshake failure") == words("tls handshake faliure") == "tls handshake fail"
    assert words("false positive") == "false positive"  # not a failure


def test_kanji_or_kana_spellings_and_longer_particles() -> None:
    assert words("サーバーに繋がらない") == words("サーバーにつながらない")
    assert words("接続出来ない") == words("接続できない") and words("分からない") == "わからない"
    assert words("LINEからサーバー") == "line から さば"  # から separates like a one-kana particle


def test_seconds_written_short() -> None:
    assert words("took longer than 2s") == "took longer than 2 seconds"
    assert words("30 sec") == "30 seconds"
    assert "seconds" not in words("push fails with 500s")  # status codes, not time


def test_cut_off_in_any_form_is_one_word() -> None:
    assert words("接続が切れた") == words("接続が切られる") == "接続 が 切断"
    assert words("途中で切って") == "途中 で 切断"
    assert "切断" not in words("Wi-Fiに切り替える")  # switching, not cutting


@pytest.mark.parametrize(
    ("text", "lang"),
    [("タイムアウト", "ja"), ("webhook 500", "en"), ("500", "ja"), ("😀", "ja"), ("unknown host とは", "ja")],
)
def test_language(text: str, lang: str) -> None:
    assert language(text) == lang


def test_english_spellings_next_to_japanese() -> None:
    assert words("Wi-Fi切れる") == "wifi 切断"
    assert words("couldn't connect") == words("could not connect")
    assert words("TLS handshake failedしました").startswith("tls handshake fail")
