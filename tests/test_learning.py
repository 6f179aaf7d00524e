"""The learning loop through the real webhook: questions and feedback taps land in the log (SQLite and
PostgreSQL), masked; taps are acknowledged at the fake LINE API; a database that is down costs no reply."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import SECRET, post, replies, settings_for, text_event, wait_for
from pytest_httpserver import HTTPServer
from test_mask import SECRETS

from bot import feedback, render
from bot.app import create_app
from bot.questionlog import LogConfig, QuestionLog, open_log

USER = "U0123456789abcdef0123456789abcdef"  # text_event's sender


def postback_event(data: str) -> dict[str, Any]:
    event = text_event("")
    event.pop("message")
    event.update(type="postback", postback={"data": data})
    return event


@pytest.fixture(params=["sqlite", "postgresql"])
def log_config(request: pytest.FixtureRequest, tmp_path: Path) -> LogConfig:
    if request.param == "postgresql":
        return LogConfig(database_url=request.getfixturevalue("pg_url"))
    return LogConfig(sqlite_path=str(tmp_path / "questions.sqlite3"))


@pytest.fixture
def bot(
    line_api: HTTPServer, tmp_path: Path, log_config: LogConfig, kb: Any, matcher: Any
) -> Iterator[tuple[Any, QuestionLog]]:
    """A test client of the real app, and a reader of the same question log."""
    app = create_app(settings_for(line_api.url_for("/"), tmp_path, question_log=log_config), kb, matcher)
    reader = open_log(log_config, "not the key: rows are only read")
    yield app.test_client(), reader
    app.extensions["line_error_bot"].shutdown(5.0)
    reader.close()


def _reply(line_api: HTTPServer, n: int) -> dict[str, Any]:
    assert wait_for(lambda: len(replies(line_api)) >= n), f"reply {n} did not reach the fake LINE API"
    return replies(line_api)[n - 1]


def test_feedback_end_to_end(bot: tuple[Any, QuestionLog], line_api: HTTPServer, kb: Any) -> None:
    client, reader = bot
    question = "TLSハンドシェイク失敗 token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
    post(client, [text_event(question)])
    (answer,) = _reply(line_api, 1)["messages"]
    assert wait_for(lambda: len(reader.questions()) == 1)
    (row,) = reader.questions()
    assert (row.outcome, row.entry_id, row.text) == ("answer", "webhook.detail.tls_handshake_failure", None)
    assert row.chat_hash != USER and USER not in row.chat_hash

    helpful, not_helpful = answer["quickReply"]["items"][:2]
    assert helpful["action"]["label"] == kb.ui.text("ja", "feedback_helpful")
    post(client, [postback_event(helpful["action"]["data"])])
    thanks = _reply(line_api, 2)["messages"]
    assert thanks == [{"type": "text", "text": kb.ui.text("ja", "feedback_thanks")}]

    post(client, [postback_event(not_helpful["action"]["data"])])
    (sorry,) = _reply(line_api, 3)["messages"]
    assert sorry["text"].split("\n")[0] == kb.ui.text("ja", "feedback_sorry")
    offered = [render.parse_postback(i["action"]["data"])[0] for i in sorry["quickReply"]["items"]]
    assert "webhook.reason.could_not_connect" in offered and offered[-1] == kb.ui.help

    assert wait_for(lambda: len(reader.feedbacks()) == 2)
    taps = reader.feedbacks()
    assert [(t.helpful, t.entry_id) for t in taps] == [(True, row.entry_id), (False, row.entry_id)]
    assert taps[0].text is None
    assert taps[1].text == "TLSハンドシェイク失敗 token [token]"  # the question, masked
    assert {t.chat_hash for t in taps} == {row.chat_hash}


def test_clarify_then_pick_by_number(bot: tuple[Any, QuestionLog], line_api: HTTPServer) -> None:
    client, reader = bot
    post(client, [text_event("500エラー")])
    _reply(line_api, 1)
    post(client, [text_event("2")])
    answer = _reply(line_api, 2)["messages"][-1]
    assert feedback.parse(answer["quickReply"]["items"][0]["action"]["data"]) is not None
    assert wait_for(lambda: len(reader.questions()) == 2)
    asked, picked = reader.questions()
    assert asked.outcome == "clarify" and asked.text == "500エラー" and len(asked.choices) >= 2
    assert picked.outcome == "pick" and picked.entry_id == asked.choices[1] and picked.text is None


def test_a_group_question_without_a_user_is_forgotten_by_the_group_id(
    bot: tuple[Any, QuestionLog], line_api: HTTPServer, log_config: LogConfig
) -> None:
    client, reader = bot
    group = "C0123456789abcdef0123456789abcdef"
    mention = {"mentionees": [{"index": 0, "length": 4, "type": "user", "isSelf": True}]}
    event = text_event("@bot TLSハンドシェイク失敗", source={"type": "group", "groupId": group})
    event["message"]["mention"] = mention
    post(client, [event])
    _reply(line_api, 1)
    assert wait_for(lambda: len(reader.questions()) == 1)
    writer = open_log(log_config, SECRET)  # the app's key: the channel secret
    assert writer.forget(writer.hash(group)) == 1  # what `forget --user C...` deletes
    writer.close()
    assert reader.questions() == []


def test_secrets_in_questions_never_reach_the_database(bot: tuple[Any, QuestionLog], line_api: HTTPServer) -> None:
    client, reader = bot
    post(client, [text_event("zzqx " + text) for text, _ in SECRETS])
    assert wait_for(lambda: len(replies(line_api)) == len(SECRETS))
    assert wait_for(lambda: len(reader.questions()) == len(SECRETS))
    rows = reader.questions()
    kept = [r.text for r in rows if r.text]
    assert len(kept) >= len(SECRETS) // 2 and all("[" in text for text in kept)  # most are fallbacks, masked
    stored = "\n".join(str(r) for r in rows)
    for _, secret in SECRETS:
        assert secret not in stored


def test_database_down_costs_a_warning_not_a_reply(
    line_api: HTTPServer, tmp_path: Path, caplog: pytest.LogCaptureFixture, kb: Any, matcher: Any
) -> None:
    down = LogConfig(database_url="postgres://nobody@127.0.0.1:1/none")
    with caplog.at_level(logging.WARNING, logger="bot"):
        app = create_app(settings_for(line_api.url_for("/"), tmp_path, question_log=down), kb, matcher)
        client = app.test_client()
        post(client, [text_event("TLSハンドシェイク失敗"), text_event("what time is it")])
        post(client, [text_event("could_not_connect")])
        assert wait_for(lambda: len(replies(line_api)) == 3)
        app.extensions["line_error_bot"].shutdown(5.0)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len([w for w in warnings if "question log unavailable" in w]) == 1, warnings
    assert any("question log (postgresql)" in w for w in warnings)  # at start-up: the schema could not be made


def test_log_off_writes_nothing(line_api: HTTPServer, tmp_path: Path, kb: Any, matcher: Any) -> None:
    path = tmp_path / "off.sqlite3"
    off = LogConfig(False, "", str(path))
    app = create_app(settings_for(line_api.url_for("/"), tmp_path, question_log=off), kb, matcher)
    post(app.test_client(), [text_event("what time is it")])
    assert wait_for(lambda: len(replies(line_api)) == 1)
    app.extensions["line_error_bot"].shutdown(5.0)
    assert not path.exists()
