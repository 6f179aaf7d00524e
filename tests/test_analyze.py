"""The analyser: Japanese dictionary forms (SudachiPy), English stems (Snowball), spellings folded."""

import re
import threading
from pathlib import Path

import pytest
from snowballstemmer.english_stemmer import EnglishStemmer

from bot.analyze import (
    MAX_CHARS,
    PLAIN_HTTP,
    clip,
    compact,
    fold,
    language,
    release_dictionary_pages,
    stem,
    without_output,
    words,
)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("接続が切れました", "接続が切れた"),  # polite and plain endings
        ("タイムアウトしちゃった", "タイムアウトしてしまいます"),
        ("繋がらない", "つながらない"),  # kanji or kana
        ("サーバ", "サーバー"),  # with or without the long vowel
        ("ＴＬＳハンドシェイク", "TLSハンドシェイク"),  # full width
        ("failed connections", "failing connection"),  # English endings
    ],
)
def test_same_words(a: str, b: str) -> None:
    assert [w for w in words(a) if w not in {"為る", "仕舞う"}] == [w for w in words(b) if w not in {"為る", "仕舞う"}]


def test_letters_and_digits_split() -> None:
    assert words("TLS1.0") == words("TLS 1.0") == ["tls", "1", "0"]


def test_a_date_is_not_words() -> None:
    assert words("2025年12月2日(火)にエラー") == words("エラー")
    assert words("2025-12-02 error") == words("error")
    assert "秒" in words("3秒でタイムアウト")  # a duration is not a date


def test_every_english_negation_says_not() -> None:
    assert words("can't connect") == words("cannot connect") == words("can not connect")
    assert words("cant connect") == words("can not connect")  # typed without the apostrophe
    assert words("my bot doesnt work") == words("my bot does not work")
    assert words("want") == ["want"]  # a word ending in "nt" is not a negation
    assert words("doesn't reply") == words("does not reply")
    assert words("won’t work") == words("will not work")  # a typographic apostrophe too
    assert words("isn't") == ["is", "not"]


def test_a_url_scheme_is_not_the_word_https() -> None:
    assert "https" not in words("https://example.com/callback")


def test_a_plain_http_url_says_it_has_no_tls() -> None:
    # A webhook URL needs TLS: "http://" is a word of its own (an alias may name it), "https://" none.
    assert words("Webhook URL: http://203.0.113.5:5000/callback")[:3] == ["webhook", "url", PLAIN_HTTP]
    assert words("http:// webhook url") == [PLAIN_HTTP, "webhook", "url"]
    assert PLAIN_HTTP not in words("https://example.com/callback")
    assert "https" in words("the webhook URL must be https")


def test_particles_and_auxiliaries_are_not_words() -> None:
    got = words("スマホを再起動してください")
    assert {"スマホ", "再起動"} <= set(got) and not {"を", "て"} & set(got)


def test_compounds_also_give_their_parts() -> None:
    assert {"期限切れ", "期限"} <= set(words("証明書が期限切れ"))


@pytest.mark.parametrize("text", ["could_not_connect", "Could not connect", "couldnotconnect", "COULD-NOT-CONNECT"])
def test_codes_compact_alike(text: str) -> None:
    assert compact(text) == "couldnotconnect"


def test_fold_controls_and_width() -> None:
    assert fold("Could\u200bNot") == "could not"
    assert fold("ＡＢＣ") == "abc"


def test_fold_every_control_kind_is_a_space() -> None:
    # Cc (NUL, tab, newline, DEL), Cf (soft hyphen, BOM), Cs (lone surrogate), Co (private use), Cn
    assert fold("a\x00b\tc\nd\x7fe\u00adf\ufeffg\ud800h\ue000i\U000e0080j") == "a b c d e f g h i j"
    assert fold("a\u3000b") == "a b"  # NFKC makes the ideographic space a space, which stays


def _dictionary_resident_kb() -> int:
    """Resident kB of this process's mappings of the Sudachi dictionary file (/proc/self/smaps)."""
    total, in_dictionary = 0, False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        name, _, rest = line.partition(":")
        if " " in name:  # a mapping's header line
            in_dictionary = line.rstrip().endswith("/system.dic")
        elif name == "Rss" and in_dictionary:
            total += int(rest.split()[0])
    return total


def test_words_the_same_after_the_dictionary_pages_are_released() -> None:
    before = words("証明書の有効期限が切れました")
    released = release_dictionary_pages()
    assert released > 0 or not Path("/proc/self/maps").exists()
    after = words("証明書の有効期限が切れた")  # another text: analysed now, not taken from a cache
    assert after == before
    assert "証明書" in after


@pytest.mark.skipif(not Path("/proc/self/smaps").exists(), reason="reads /proc/self/smaps (Linux)")
def test_dictionary_pages_released_every_time() -> None:
    long_run = "証明書の期限が切れたのでハンドシェイクに失敗しました" * 3  # too long to be cached: analysed each time
    expected = words(long_run)
    release_dictionary_pages()
    assert _dictionary_resident_kb() == 0
    assert words(long_run) == expected  # the dictionary's pages mapped again, same bytes
    assert _dictionary_resident_kb() > 0
    release_dictionary_pages()  # a second call in one process releases them too
    assert _dictionary_resident_kb() == 0


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        *(("Webhookの再送", "ja"), ("webhook redelivery", "en"), ("500", "ja"), ("ｱｲｳ", "ja"), ("", "ja")),
        *(("Webhook接続失敗", "ja"), ("LINE障害", "ja"), ("服务器内部错误请稍后再试", "ja")),
        ("The bot answers 服务器内部错误请稍后再试 to every message", "en"),  # a quoted Chinese message
        ("Webhook 設定 失敗", "ja"),  # Japanese written without kana: more kanji than Latin words
        ("LINE Bot webhook 検証", "ja"),
        ("POS 串接: Ip address is not allowed to access this API", "en"),  # a Chinese word in English
    ],
)
def test_language(text: str, lang: str) -> None:
    assert language(text) == lang


def test_threads_analysing_at_once_get_the_same_words() -> None:
    """Sudachi tokenizers are not thread-safe: each is lent to one thread at a time."""
    texts = [f"証明書の期限が{n}回切れたのでハンドシェイクに失敗しました" * (1 + n % 3) for n in range(50)]
    texts = [t.replace("回", "回目に" * (n % 7)) for n, t in enumerate(texts)]
    expected = [words(t) for t in texts]
    results: list[bool] = []

    def work() -> None:
        results.extend(words(t + "よ") == e for t, e in zip(texts, expected, strict=True))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 200 and all(results)


def test_pasted_tokens_and_ids_are_not_words() -> None:
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
    assert words(f"TLSハンドシェイク失敗 token {jwt}") == words("TLSハンドシェイク失敗 token")
    assert words("user U0123456789abcdef0123456789abcdef not found") == words("user not found")
    assert "api" in words("https://api.line.me/v2/bot/message/push")  # a URL keeps its words


def test_a_prefix_keeps_its_noun_as_one_word_too() -> None:
    # Sudachi splits 「再配信」 into the prefix 再 and 配信: without the prefix, every 配信 (delivery) would be
    # a redelivery, and 「未設定」 (not set) would be 設定 (set).
    assert words("Webhookの再配信") == ["webhook", "再配信", "配信"]
    assert "未設定" in words("トークンが未設定です")
    assert "再配信" not in words("配信エラー")


def test_a_long_paste_keeps_its_head_and_its_tail() -> None:
    # A traceback's exception is its last line; a post's title its first.
    text = "Title: push fails\n" + "  File x.py, line 1, in f\n" * 200 + "ApiException: (401)"
    clipped = clip(text)
    assert len(clipped) == MAX_CHARS
    assert clipped.startswith("Title: push fails") and clipped.endswith("ApiException: (401)")
    assert clip("short") == "short"


# What programs print, in the shapes people paste (values invented): nothing of it is a person's sentence.
PRINTED = {
    "Python SDK": (
        "linebot.v3.messaging.exceptions.ApiException: (400)\nReason: Bad Request\n"
        "HTTP response headers: HTTPHeaderDict({'Server': 'legy', 'x-line-request-id': '7c2e4a1b'})\n"
        'HTTP response body: {"message":"Invalid reply token"}'
    ),
    "Python traceback": (
        'Traceback (most recent call last):\n  File "/srv/bot/app.py", line 38, in callback\n'
        "    handler.handle(body, signature)\nlinebot.v3.exceptions.InvalidSignatureError: Invalid signature"
    ),
    "Node error": "Error: Request failed with status code 401",
    "Node stack": (
        "HTTPError: Request failed with status code 401\n"
        "    at HTTPClient.wrapError (node_modules/@line/bot-sdk/dist/http.js:89:20)\n  statusCode: 401,"
    ),
    "Node warning": "(node:4306) UnhandledPromiseRejectionWarning: Error: 400: A message is invalid",
    "Heroku router": (
        '2026-11-23T00:05:12.318Z heroku[router]: at=error code=H12 desc="Request timeout" method=POST '
        'path="/callback" status=503 bytes=0'
    ),
    "logfmt": 'at=error code=H12 desc="Request timeout" method=POST path="/callback" status=503',
    "nginx": "2026/11/21 18:44:01 [error] 1201#1201: *88 upstream timed out while reading response header",
    "Java": (
        "com.linecorp.bot.client.exception.BadRequestException: Invalid reply token\n"
        "\tat com.example.bot.ImageHandler.handle(ImageHandler.java:57)"
    ),
    "Go": "linebot: APIError 400 The request body has 1 error(s)\n[messages[0].text] Length must be between 0 and 5000",
    "curl": "$ curl -v https://api.line.me/v2/bot/message/push\n< HTTP/2 401\n< content-type: application/json",
    "PHP": "Fatal error: Uncaught TypeError: Argument 3 passed to Builder must be an instance of Foo",
    "JSON": '{"message":"The API rate limit has been exceeded. Try again later."}',
    "code fence": "```\nresponse = api.reply_message(token, messages)\nprint('sent')\n```",
}


@pytest.mark.parametrize("printed", PRINTED.values(), ids=PRINTED.keys())
def test_printed_output_is_not_a_persons_words(printed: str) -> None:
    assert without_output(printed) == ""


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        (
            "I get this when my bot replies:\nError: Request failed with status code 400",
            "I get this when my bot replies:",
        ),
        ("TypeError: Data must be a string. I am using Firebase.", "I am using Firebase."),
        ("```\nprint('x')\n```\nwhy does it fail?", "why does it fail?"),
        ("Error 400 when I push a message", "Error 400 when I push a message"),  # not an exception's line
        ("at first it worked (on Heroku)", "at first it worked (on Heroku)"),  # not a stack frame
        ("HTTP/2 stream reset by proxy", "HTTP/2 stream reset by proxy"),  # not a status line
        ("Note: I use Flask", "Note: I use Flask"),  # a label only continues printed output
        ('{"message":"Invalid reply token"} from my webhook', " from my webhook"),  # JSON ends where it closes
    ],
)
def test_a_persons_sentences_are_kept(text: str, kept: str) -> None:
    assert without_output(text) == kept


def test_the_stemmer_in_use_stems_as_snowballs_pure_python_english_stemmer() -> None:
    """snowballstemmer hands stemming to PyStemmer (C) when it is installed: a newer or older C build must not
    change a stem, or the matcher's words would no longer meet the knowledge base's."""
    reference = EnglishStemmer()
    texts = [p.read_text() for p in (Path(__file__).parent.parent / "knowledge").glob("*.yaml")]
    vocabulary = {w.lower() for text in texts for w in re.findall(r"[A-Za-z]+", text)}
    assert len(vocabulary) > 1000  # the knowledge base's English, not an empty glob
    assert [w for w in sorted(vocabulary) if stem(w) != reference.stemWord(w)] == []
