"""Exact recognisers: reasons, details (longest wins), status codes, who is asking."""

import pytest

from bot.recognize import Recognizer


@pytest.fixture(scope="module")
def rec(kb):
    return Recognizer(kb)


def test_longest_detail_wins(rec) -> None:
    signals = rec.scan("Connection failed (received GOAWAY)")
    assert signals.details == ("webhook.detail.connection_failed_goaway",)


def test_detail_and_reason_in_console_line(rec) -> None:
    signals = rec.scan("原因: could_not_connect / 詳細: No SSL/TLS record")
    assert signals.details == ("webhook.detail.no_ssl_tls_record",)
    assert signals.reasons == ("webhook.reason.could_not_connect",)
    assert signals.audience == "operator"


@pytest.mark.parametrize(
    ("text", "codes"),
    [
        ("2026/11/20 10:15 error_status_code 404", (404,)),
        ("status:502", (502,)),
        ("Internal Server Error", (500,)),
        ("500ms かかる", ()),
        ("TLS 1.2", ()),
        ("12345", ()),
        ("version 1.502", ()),
        ("port 443 で http", ()),
        ("https://example.com:8443/callback returns 404", (404,)),
    ],
)
def test_status_codes(rec, text: str, codes: tuple[int, ...]) -> None:
    assert rec.scan(text).codes == codes


def test_status_class(rec) -> None:
    assert rec.scan("Messaging API 5xx").classes == (5,)


@pytest.mark.parametrize(
    ("text", "audience"),
    [
        ("webhookが500", "operator"),
        ("スタンプショップで500", "app_user"),
        ("push message 500", "sender"),
        ("both sides 500", None),  # "bot" only as a whole word
        ("500エラー", None),
        ("my server responds too slowly", "operator"),  # whose server it is says who asks
        ("LINEのサーバーが落ちた", None),
        ("LINE app showing errors", "app_user"),  # "app" alone is weak; "LINE app" is not
        ("LINEアプリで500", "app_user"),
    ],
)
def test_audience(rec, text: str, audience: str | None) -> None:
    assert rec.scan(text).audience == audience
