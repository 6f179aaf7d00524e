"""Exact recognisers on the test knowledge base: console strings, API messages, codes in context."""

from pathlib import Path

import pytest

from bot import knowledge, vocabulary
from bot.analyze import words
from bot.recognize import Recognizer, status_codes
from bot.types import Signals

MINI = Path(__file__).parent / "data" / "mini_kb"


@pytest.fixture(scope="module")
def scan():
    kb = knowledge.load(MINI)
    rec = Recognizer(kb, vocabulary.load(MINI, kb))
    return lambda text: rec.scan(text, words(text))


def test_longest_detail_wins(scan) -> None:
    assert scan("Connection failed (received GOAWAY)").details == ("webhook.detail.connection_failed_goaway",)


def test_detail_and_reason_in_console_line(scan) -> None:
    signals: Signals = scan("原因: could_not_connect / 詳細: Connection timeout")
    assert signals.details == ("webhook.detail.connection_timeout",)
    assert signals.reasons == ("webhook.reason.could_not_connect",)


def test_test_webhook_api_reason_upper_case_with_url(scan) -> None:
    body = '{"success":false,"statusCode":0,"reason":"COULD_NOT_CONNECT","detail":"Connection timeout https://example.com/cb"}'
    signals = scan(body)
    assert signals.reasons == ("webhook.reason.could_not_connect",)
    assert signals.details == ("webhook.detail.connection_timeout",)


def test_api_message_inside_sdk_exception(scan) -> None:
    text = (
        "linebot.v3.messaging.exceptions.ApiException: (400)\nReason: Bad Request\n"
        "HTTP response headers: HTTPHeaderDict({'x-line-request-id': 'abc'})\n"
        'HTTP response body: {"message":"Invalid reply token"}'
    )
    signals = scan(text)
    assert signals.exact == ("messaging_api.invalid_reply_token",)
    assert signals.calls_api and signals.codes[0] == 400


@pytest.mark.parametrize(
    ("text", "codes"),
    [
        ("2026/11/20 10:15 error_status_code 404", [404]),
        ("status:502", [502]),
        ("The webhook returned an HTTP status code other than 200.(302 Found)", [302]),
        ("Webhookが200以外のHTTPステータスコードを返しました。(302 Found)", [302]),
        ('at=error code=H12 desc="Request timeout" method=POST path="/callback" status=503', [503]),
        ("webhookが302を返す", [302]),
        ("500ms かかる", []),
        ("TLS 1.2", []),
        ("12345", []),
        ("version 1.502", []),
        ("port 443 で http", []),
        ("https://example.com:8443/callback returns 404", [404]),
        ("deployed on heroku but it just response 404. how can I fix it", [404]),  # a sentence ends
        ("the server sends 502.html", []),
        ('File "app/api.py", line 325, in reply_async', []),  # a traceback's line number
        ("heroku[router]: at=info method=POST status=200 bytes=207 protocol=https", [200]),  # a body size
        ("NewConnectionError: [Errno 110] Connection timed out", []),  # an OS error number
        ("error 150", []),  # 1xx beyond the defined ones is never a status
        ("HTTP/1.1 100 Continue", [100]),
        ("サーバー側は/callbackだった...404", [404]),  # 「…」 after NFKC
    ],
)
def test_status_codes_read_in_context(text: str, codes: list[int]) -> None:
    assert status_codes(text.casefold()) == codes


def test_status_phrase_and_class(scan) -> None:
    assert scan("Internal Server Error").codes == (500,)
    assert scan("Messaging API 5xx").classes == (5,)


@pytest.mark.parametrize(
    ("text", "calls"),
    [
        ("POST https://api.line.me/v2/bot/message/push 401", True),
        ("x-line-request-id: 1234", True),
        ("webhook 401", False),
    ],
)
def test_signs_of_calling_the_api(scan, text: str, calls: bool) -> None:
    assert scan(text).calls_api is calls


def test_a_log_of_lines_own_request_is_the_webhooks(scan) -> None:
    # The bot's API call failed while it handled LINE's POST, and the webhook answered 500: the log holds
    # LINE's User-Agent, so the 500 is what the bot answered LINE.
    text = "[POST] /webhook 500\nUser Agent: LineBotWebhook/2.0\nERROR Request failed with status code 404 api.line.me"
    signals = scan(text)
    assert signals.from_line and not signals.calls_api
    assert scan("ERROR Request failed with status code 404 api.line.me").calls_api


@pytest.mark.parametrize(
    ("text", "bare"),
    [
        ("Internal Server Error", True),
        ("500", True),
        ("the 500 internal server error", True),
        ("HTTP 451", True),  # neutral words name no topic
        ("webhook 500", True),
        ("nginx 500", False),
    ],
)
def test_a_question_of_a_code_or_its_phrase_only_is_bare(scan, text: str, bare: bool) -> None:
    assert scan(text).bare is bare


def test_status_named_as_an_enum(scan) -> None:
    assert scan("There was an error sending this message to your bot: HTTP status code InternalServerError").codes == (
        500,
    )
    assert scan("InternalServerErrorHandler is my class").codes == ()


def test_an_identifier_is_found_only_as_a_whole_name(scan) -> None:
    assert scan("httpx.ReadTimeout: The read operation timed out").exact == ("messaging_api.5xx",)
    assert scan("read timeout on my server").exact == ()
    assert scan("MyReadTimeoutHandler failed").exact == ()
