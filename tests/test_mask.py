"""Secrets and personal details are masked before the question log stores a text (real-shaped, invented values)."""

from __future__ import annotations

import pytest

from bot.mask import mask

# Each value is invented but has the shape of the real thing.
LONG_LIVED_TOKEN = (
    "Zq8v2KfL0mXbT7pWc4R9sYdN1hGj6uEo3aVi5kBz+QxMlCwPnSrDtHeFyA0gJ2IK7OUb8Z9"
    "v3LmN5qRtXwYc1dE4fG6hJ8kP0sU2vA7bC9eD3gH5jK7mN9pQ1rS3tV5wX7yZ0aB2cD4eF6gH8iJ0kL2mN4o="
)
JWT_TOKEN = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxNjU1MDAwMDAwIiwiZXhwIjoxNzAwMDAwMDAwfQ"
    ".c2lnbmF0dXJlX2Zha2VfdmFsdWU"
)
CHANNEL_SECRET = "8c3f0a9e5d7b41e2a6f9c0d1b3e5a7f9"
USER_ID = "U4af4980629a8e3b2c1d0e9f8a7b6c5d4"
EVENT_ID = "01FZ74A0TDDPYRVKNK77XKC3ZR"
REQUEST_ID = "f70dd685-499a-4231-a441-f24b8d4fba21"

SECRETS = [
    ("token " + LONG_LIVED_TOKEN + " が無効です", LONG_LIVED_TOKEN),
    ("Authorization: Bearer " + LONG_LIVED_TOKEN, LONG_LIVED_TOKEN),
    ("curl -H 'Authorization: Bearer " + JWT_TOKEN + "' https://api.line.me/v2/bot/info", JWT_TOKEN),
    ("チャネルアクセストークン " + JWT_TOKEN + " で401", JWT_TOKEN),
    ("channel secret is " + CHANNEL_SECRET + " signature fails", CHANNEL_SECRET),
    ("LINE_CHANNEL_SECRET=" + CHANNEL_SECRET, CHANNEL_SECRET),
    ("secret: hunter2-is-not-random", "hunter2"),
    ("Bearer abc.def_ghi-jkl", "abc.def_ghi-jkl"),
    ("userId " + USER_ID + " に送れない", USER_ID),
    ("webhookEventId " + EVENT_ID + " が2回来る", EVENT_ID),
    ("x-line-request-id: " + REQUEST_ID, REQUEST_ID),
    ("連絡先 taro.yamada+line@example.co.jp です", "taro.yamada+line@example.co.jp"),
    ("mail me at ops-team@bot.example.com please", "ops-team@bot.example.com"),
    ("電話 090-1234-5678 まで", "1234-5678"),
    ("会社 03-1234-5678", "1234-5678"),
    ("フリーダイヤル 0120-123-456", "0120-123-456"),
    ("携帯 09012345678 です", "09012345678"),
    ("call +81 90-1234-5678", "1234-5678"),
    ("call +81-3-1234-5678 now", "1234-5678"),
    ("US office +1 (415) 555-0123", "555-0123"),
    ("UK +44 20 7946 0958", "7946 0958"),
    ("or (415) 555-0199", "555-0199"),
    ("webhook https://bot.example.com/callback?token=s3cr3tvalue&user=taro fails", "s3cr3tvalue"),
    ("https://bot.example.com/callback?key=abc returns 404", "key=abc"),
    ("https://admin:p4ssw0rd@bot.example.com/callback", "p4ssw0rd"),
    ("api_key=AKIA1234567890EXAMPLE", "AKIA1234567890EXAMPLE"),
    # Stored as written: a password with no user name before it, as Heroku's REDIS_URL spells it, and values
    # after a variable or field whose name ends in the word (an .env file, a JSON config).
    ("Error connecting to redis://:p4ssw0rd@10.0.0.5:6379", "p4ssw0rd"),
    ("REDIS_URL=rediss://:hunter2pw@localhost:6380 refused", "hunter2pw"),
    ("LINE_CHANNEL_SECRET=shortdemo", "shortdemo"),
    ("LINE_CHANNEL_ACCESS_TOKEN: demo-token-here", "demo-token-here"),
    ('{"channelSecret": "s3cr3tval"}', "s3cr3tval"),
    ("accessToken=abc123", "abc123"),
    ("DB_PASSWORD=hunter2", "hunter2"),
]

# What a question needs to stay answerable must survive masking.
KEPT = [
    "2026/11/20 10:15 error_status_code 404",
    "could_not_connect / TLS handshake failure",
    "Connection failed (received GOAWAY)",
    "webhook.status.500 と client_max_body_size で 413",
    "TLS 1.2 port 443 で 500ms 以内",
    "https://bot.example.com/callback が 502 Bad Gateway",
    "X-Line-Retry-Key を付けて再送",
    "スタンプショップで500エラー",
    "tokens: 3 left, secretary: none",
]


@pytest.mark.parametrize(("text", "secret"), SECRETS)
def test_secret_is_masked(text: str, secret: str) -> None:
    masked = mask(text)
    assert secret not in masked
    assert "[" in masked  # replaced by a label, not dropped


@pytest.mark.parametrize("text", KEPT)
def test_error_details_survive(text: str) -> None:
    assert mask(text) == text


def test_labels_say_what_was_there() -> None:
    assert mask("ops@example.com") == "[email]"
    assert mask("090-1234-5678") == "[phone]"
    assert mask(CHANNEL_SECRET) == "[secret]"
    assert mask("https://x.example/cb?a=1 ok") == "https://x.example/cb?[query] ok"
    assert mask("Bearer " + JWT_TOKEN) == "Bearer [token]"
