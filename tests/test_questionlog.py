"""The question log on SQLite and on a real PostgreSQL server: the same tests on both."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_mask import SECRETS

from bot.questionlog import (
    SCHEMA_VERSION,
    Feedback,
    LogConfig,
    LogUnavailable,
    Question,
    QuestionLog,
    derive_key,
    open_log,
)

SECRET = "8c3f0a9e5d7b41e2a6f9c0d1b3e5a7f9"
USER = "U4af4980629a8e3b2c1d0e9f8a7b6c5d4"


@pytest.fixture(params=["sqlite", "postgresql"])
def config(request: pytest.FixtureRequest, tmp_path: Path) -> LogConfig:
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_url")
        return LogConfig(database_url=url.replace("postgresql://", "postgres://"))  # Heroku's spelling
    return LogConfig(sqlite_path=str(tmp_path / "questions.sqlite3"))


@pytest.fixture
def qlog(config: LogConfig) -> Iterator[QuestionLog]:
    log = open_log(config, SECRET)
    yield log
    log.close()


def raw_rows(log: QuestionLog, table: str) -> list[tuple[Any, ...]]:
    """Every column of every row, read past the log's own API."""
    with log._transaction() as cur:  # the test's one look at the tables as stored
        cur.execute(f"SELECT * FROM {table}")
        return [tuple(row) for row in cur.fetchall()]


def test_schema_is_created_and_reopening_is_idempotent(config: LogConfig) -> None:
    first = open_log(config, SECRET)
    assert first.version() == SCHEMA_VERSION
    first.record(USER, Question("answer", "ja", "line_app.500", 91.0))
    first.close()
    again = open_log(config, SECRET)
    assert again.migrate() == SCHEMA_VERSION and again.version() == SCHEMA_VERSION
    assert [r.entry_id for r in again.questions()] == ["line_app.500"]  # nothing dropped or doubled
    again.close()


def test_upgrade_from_version_1(config: LogConfig) -> None:
    old = open_log(config, SECRET, migrate=False)
    assert old.migrate(target=1) == 1
    old.record(USER, Question("fallback", "en", text="what time is it"))
    old.close()
    new = open_log(config, SECRET)
    assert new.version() == SCHEMA_VERSION > 1
    assert [r.text for r in new.questions()] == ["what time is it"]
    new.close()


def test_record_and_read_back(qlog: QuestionLog) -> None:
    now = time.time()
    qlog.record(USER, Question("answer", "ja", "line_app.500", 91.5, text="LINEで500エラー"), at=now - 2)
    qlog.record(USER, Question("clarify", "ja", None, 80.0, ("a.b", "c.d"), text="500エラー"), at=now - 1)
    qlog.record(None, Question("fallback", "en", text="what time is it"), at=now)
    rows = qlog.questions()
    assert [r.outcome for r in rows] == ["answer", "clarify", "fallback"]
    assert rows[0].text is None  # an answered question's text is not kept
    assert rows[1].choices == ("a.b", "c.d") and rows[1].text == "500エラー"
    assert rows[2].text == "what time is it" and rows[2].lang == "en"
    assert rows[0].score == 91.5
    assert qlog.questions(since=now - 0.5) == rows[2:]


def test_chat_is_a_keyed_hash_never_the_user_id(qlog: QuestionLog, config: LogConfig) -> None:
    qlog.record(USER, Question("fallback", "ja", text="x"))
    qlog.feedback(USER, Feedback(False, "line_app.500", "ja", "y"))
    stored = [str(v) for table in ("questions", "feedback") for row in raw_rows(qlog, table) for v in row]
    assert not any(USER in v or USER.lower() in v for v in stored)
    assert qlog.hash(USER) in stored
    other = open_log(LogConfig(sqlite_path=config.sqlite_path or "", key="another key"), SECRET, migrate=False)
    assert other.hash(USER) != qlog.hash(USER)  # the hash depends on the key
    assert derive_key(SECRET) != SECRET.encode()


def test_feedback_keeps_text_only_when_not_helpful(qlog: QuestionLog) -> None:
    qlog.feedback(USER, Feedback(True, "line_app.500", "ja", "LINEで500"))
    qlog.feedback(USER, Feedback(False, "line_app.500", "ja", "LINEで500"))
    rows = qlog.feedbacks()
    assert [(r.helpful, r.text) for r in rows] == [(True, None), (False, "LINEで500")]


def test_no_secret_reaches_the_database(qlog: QuestionLog) -> None:
    for text, _ in SECRETS:
        qlog.record(USER, Question("fallback", "ja", text=text))
        qlog.record(USER, Question("clarify", "ja", choices=("a", "b"), text=text))
        qlog.feedback(USER, Feedback(False, "line_app.500", "ja", text))
    stored = "\n".join(str(v) for t in ("questions", "feedback") for row in raw_rows(qlog, t) for v in row)
    assert stored.count("[") >= 3 * len(SECRETS)  # the texts are there, masked
    for _, secret in SECRETS:
        assert secret not in stored


def test_text_days_zero_keeps_no_text(config: LogConfig) -> None:
    log = open_log(LogConfig(config.enabled, config.database_url, config.sqlite_path, text_days=0), SECRET)
    log.record(USER, Question("fallback", "ja", text="what time is it"))
    log.feedback(USER, Feedback(False, "line_app.500", "ja", "LINEで500"))
    assert [r.text for r in log.questions()] == [None]
    assert [r.text for r in log.feedbacks()] == [None]
    log.close()


def test_prune_drops_old_texts_then_old_rows(qlog: QuestionLog) -> None:
    now = time.time()
    day = 86400
    qlog.record(USER, Question("fallback", "ja", text="old"), at=now - 31 * day)
    qlog.record(USER, Question("fallback", "ja", text="recent"), at=now - 29 * day)
    qlog.record(USER, Question("fallback", "ja", text="ancient"), at=now - 400 * day)
    qlog.feedback(USER, Feedback(False, "x.y", "ja", "old"), at=now - 31 * day)
    qlog.prune(now)
    assert [r.text for r in qlog.questions()] == [None, "recent"]
    assert [r.text for r in qlog.feedbacks()] == [None]


def test_texts_kept_longer_than_a_year_keep_their_rows(config: LogConfig) -> None:
    # QUESTION_LOG_DAYS=730: the year's clean-up of rows without text deleted the rows holding texts too, at 365 days.
    log = open_log(dataclasses.replace(config, text_days=730), SECRET)
    try:
        now, day = time.time(), 86400
        log.record(USER, Question("fallback", "ja", text="kept"), at=now - 400 * day)
        log.record(USER, Question("answer", "ja", entry_id="x.y"), at=now - 400 * day)
        log.feedback(USER, Feedback(False, "x.y", "ja", "kept too"), at=now - 400 * day)
        log.record(USER, Question("fallback", "ja", text="expired"), at=now - 800 * day)
        log.prune(now)
        assert [(r.outcome, r.text) for r in log.questions()] == [("fallback", "kept")]
        assert [r.text for r in log.feedbacks()] == ["kept too"]
    finally:
        log.close()


def test_forget_deletes_one_chat(qlog: QuestionLog) -> None:
    qlog.record(USER, Question("fallback", "ja", text="mine"))
    qlog.feedback(USER, Feedback(True, "x.y", "ja"))
    qlog.record("Uffff0000ffff0000ffff0000ffff0000", Question("fallback", "ja", text="theirs"))
    assert qlog.forget(qlog.hash(USER)) == 2
    assert [r.text for r in qlog.questions()] == ["theirs"]
    assert qlog.feedbacks() == []
    assert qlog.forget(qlog.hash(USER)) == 0


def test_a_database_url_libpq_cannot_read_is_refused_without_its_password() -> None:
    # It started with a warning quoting the URL (password included) and no question log at all.
    bad = "postgres://bot:hunter2pw@[::1/questions"
    with pytest.raises(ValueError, match="DATABASE_URL cannot be read") as refused:
        LogConfig.from_env({"DATABASE_URL": bad})
    assert "hunter2pw" not in str(refused.value)
    with pytest.raises(LogUnavailable) as unavailable:  # given past the settings: the message is masked too
        open_log(LogConfig(database_url=bad), SECRET)
    assert "hunter2pw" not in str(unavailable.value) and "IPv6" in str(unavailable.value)


def test_database_down_costs_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    # Nothing listens on port 1 of 127.0.0.1: every connection is refused at once.
    log = open_log(LogConfig(database_url="postgres://nobody@127.0.0.1:1/none"), SECRET, migrate=False)
    with caplog.at_level(logging.WARNING, logger="bot.questionlog"):
        results = [log.record(USER, Question("fallback", "ja", text="q")) for _ in range(5)]
        results.append(log.feedback(USER, Feedback(True, "x.y", "ja")))
    assert results == [False] * 6
    warnings = [r for r in caplog.records if r.name == "bot.questionlog"]
    assert len(warnings) == 1 and "question log unavailable" in warnings[0].getMessage()


def test_config_from_env() -> None:
    config = LogConfig.from_env({"DATABASE_URL": "postgres://u:pw@db.example.com:5432/d", "QUESTION_LOG_DAYS": "0"})
    assert config.database_url and config.text_days == 0 and config.enabled
    assert "pw" not in repr(config)
    assert not LogConfig.from_env({"QUESTION_LOG": "off"}).enabled
    for bad in ({"QUESTION_LOG_DAYS": "-1"}, {"QUESTION_LOG_DAYS": "x"}, {"DATABASE_URL": "mysql://x"}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            LogConfig.from_env(bad)


def test_concurrent_writers_from_many_threads(qlog: QuestionLog, config: LogConfig) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def write(n: int) -> bool:
        return qlog.record(f"U{n:032x}", Question("answer", "ja", "line_app.500", float(n)))

    with ThreadPoolExecutor(32) as pool:
        assert all(pool.map(write, range(400)))
    assert sorted(r.score for r in qlog.questions()) == [float(n) for n in range(400)]
    if config.database_url:  # a reply pool of 32 threads shares at most 4 connections per process
        import psycopg

        with psycopg.connect(config.database_url.replace("postgres://", "postgresql://")) as conn:
            (count,) = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'line-error-bot'"
            ).fetchone()
        assert 1 <= count <= 4


def test_a_text_with_half_an_emoji_or_a_nul_is_stored_and_pauses_nothing(
    qlog: QuestionLog, caplog: pytest.LogCaptureFixture
) -> None:
    """A fallback's text holding a lone surrogate (half an emoji: SQLite and PostgreSQL take UTF-8) or a NUL
    (PostgreSQL's text refuses it) failed the write, and the log paused for 30 s, losing everyone's rows."""
    assert qlog.record(USER, Question("fallback", "en", text="what \ud83d time is it"))
    assert qlog.record(USER, Question("fallback", "en", text="a\x00b"))
    assert qlog.feedback(USER, Feedback(False, "line_app.500", "ja", "LINE\udfffで500"))
    assert qlog.record(USER, Question("fallback", "en", text="next"))  # not paused
    assert [r.text for r in qlog.questions()] == ["what ? time is it", "ab", "next"]
    assert [r.text for r in qlog.feedbacks()] == ["LINE?で500"]
    assert "unavailable" not in caplog.text
