"""The Store interface, the same tests against each implementation: SQLite, real Redis, memory."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import REPLY_PATH, post, settings_for, text_event, wait_for
from pytest_httpserver import HTTPServer
from werkzeug import Response

from bot.app import create_app
from bot.recovery import Recovery, born
from bot.store import Journaled, Store, open_store
from bot.store.memory_store import MemoryStore
from bot.store.sqlite_store import SqliteStore

USER = "U0123456789abcdef0123456789abcdef"


@pytest.fixture(params=["sqlite", "redis"])
def make_store(request: Any, tmp_path: Path) -> Iterator[Any]:
    """A factory of stores sharing one backend, as the processes of a dyno (or of several) would."""
    url = ""
    if request.param == "redis":
        url = request.getfixturevalue("redis_server").url
    made: list[Store] = []

    def make(path: Path | None = None) -> Store:
        store = open_store(str(path or tmp_path / "shared.sqlite3"), url)
        made.append(store)
        return store

    yield make
    for store in made:
        store.release()


def test_first_time_is_true_for_exactly_one_caller(make_store: Any) -> None:
    stores = [make_store(), make_store()]
    results: list[bool] = []
    threads = [threading.Thread(target=lambda s=s: results.append(s.first_time("01EVENT"))) for s in stores * 8]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 15 + [True]
    assert stores[0].first_time("01OTHER")


def test_copies_accepted_at_once_are_answered_exactly_once(make_store: Any) -> None:
    """Four copies of each event (two per process) journaled at once, each copy's reply thread then
    asking: exactly one answers, however the webhooks' writes interleave."""
    stores = [make_store(), make_store()]
    for n in range(40):
        event = text_event(f"copy {n}")
        eid = event["webhookEventId"]
        start, queued = threading.Barrier(4), threading.Barrier(4)
        answers: list[bool] = []

        def copy(store: Store) -> None:
            start.wait()
            store.put([(eid, event)])  # the webhooks, before their 200
            queued.wait()  # the reply threads run later
            answers.append(store.first_time(eid))
            store.done(eid)

        threads = [threading.Thread(target=copy, args=(s,)) for s in stores * 2]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(answers) == [False, False, False, True], (n, answers)


def test_webhooks_journaling_at_once_each_return_journaled(make_store: Any) -> None:
    """Thirty-two webhooks of one process journal at once (Redis sends them in as few calls as it
    can): once each put has returned, its event is journaled and claimed, exactly once."""
    dying = make_store()
    bodies = [[text_event(f"at once {n}") for _ in range(1 + n % 3)] for n in range(32)]
    start = threading.Barrier(len(bodies))

    def webhook(events: list[dict[str, Any]]) -> None:
        start.wait()
        dying.put([(e["webhookEventId"], e) for e in events])

    threads = [threading.Thread(target=webhook, args=(events,)) for events in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = sorted(e["webhookEventId"] for events in bodies for e in events)
    assert len(set(ids)) == len(ids)
    assert [dying.first_time(eid) for eid in ids] == [True] * len(ids)
    dying.release()
    survivor = make_store()
    survivor.unfinished()  # silent once: a suspect
    assert sorted(j.event_id for j in survivor.unfinished()) == ids


def test_refused_event_is_answered_when_redelivered(make_store: Any) -> None:
    a, b = make_store(), make_store()
    event = text_event("unknown host")
    eid = event["webhookEventId"]
    a.put([(eid, event)])
    a.refuse(eid)  # the reply pool was full: the webhook said 503
    b.put([(eid, event)])  # LINE's redelivery, on another process
    assert b.first_time(eid)
    assert not a.first_time(eid)


def test_offers_are_shared_and_keyed_by_chat(make_store: Any) -> None:
    a, b = make_store(), make_store()
    a.offer(USER, ("webhook.reason.request_timeout", "webhook.status.504"), "en")
    assert b.offered(USER) == (("webhook.reason.request_timeout", "webhook.status.504"), "en")
    assert b.offered("Uanother") is None


def test_rate_limit_is_shared(make_store: Any) -> None:
    a, b = make_store(), make_store()
    allowed = [s.allow("probe:" + USER, 3, 60) for s in (a, b, a, b, a)]
    assert allowed == [True, True, True, False, False]
    assert a.allow("probe:someone-else", 3, 60)


def test_journal_of_a_dead_process_goes_to_exactly_one_other(make_store: Any, tmp_path: Path) -> None:
    dead = make_store()
    event = text_event("unknown host", source={"type": "group", "groupId": "Cgroup", "userId": USER})
    dead.put([(event["webhookEventId"], event)])
    dead.release()  # as a process that exits (or stops beating) does
    done = text_event("hi")
    dead.put([(done["webhookEventId"], done)])
    dead.done(done["webhookEventId"])
    survivors = [make_store(), make_store()]
    taken: list[Journaled] = []
    for _ in range(2):  # silent in two scans in a row before it counts as dead
        for store in survivors:
            store.beat()
            taken += store.unfinished()
    assert [j.event_id for j in taken] == [event["webhookEventId"]]
    journaled = taken[0].event
    assert journaled["replyToken"] == event["replyToken"]
    assert journaled["message"]["text"] == "unknown host"
    assert USER not in str(journaled) and "Cgroup" not in str(journaled)  # raw ids never stored
    assert journaled["source"]["userId"].startswith("U") and len(journaled["source"]["userId"]) == 33


def test_live_process_journal_is_left_alone(make_store: Any) -> None:
    alive, other = make_store(), make_store()
    alive.beat()
    event = text_event("unknown host")
    alive.put([(event["webhookEventId"], event)])
    for _ in range(3):
        assert other.unfinished() == []


def test_redis_that_forgot_the_journal_script_still_journals_and_dedupes(
    redis_server: Any, tmp_path: Path, caplog: Any
) -> None:
    """Redis flushed its scripts between two webhooks (as a restart does): the next put is still
    journaled and claimed in Redis, with no outage declared."""
    caplog.set_level(logging.WARNING, logger="bot")
    dying = open_store(str(tmp_path / "a.sqlite3"), redis_server.url)
    first, second = text_event("unknown host"), text_event("hi")
    dying.put([(first["webhookEventId"], first)])
    assert redis_server.command("SCRIPT", "FLUSH").startswith(b"+OK")
    dying.put([(second["webhookEventId"], second)])
    assert dying.problem is None and not caplog.records
    other = open_store(str(tmp_path / "b.sqlite3"), redis_server.url)
    assert not other.first_time(second["webhookEventId"])  # seen in Redis, not only in the dying process
    assert dying.first_time(second["webhookEventId"])
    dying.release()
    other.unfinished()  # silent once: a suspect
    ids = sorted(e["webhookEventId"] for e in (first, second))
    assert sorted(j.event_id for j in other.unfinished()) == ids
    other.release()


def test_token_birth_uses_a_plausible_timestamp_only() -> None:
    fresh = Journaled("e", {"timestamp": 1_700_000_000_000}, 1_700_000_003.0)
    assert born(fresh) == 1_700_000_000.0
    replayed = Journaled("e", {"timestamp": 1_600_000_000_000}, 1_700_000_003.0)  # a year off: receipt
    assert born(replayed) == 1_700_000_003.0


def test_a_redelivered_events_token_is_born_when_the_redelivery_arrives() -> None:
    """LINE redelivers minutes after the event, with a token good for about a minute from then: taken over
    from a dead process 40 s after it arrived, such an event was dropped as expired (its timestamp 5 minutes
    old) although its token still worked."""
    event = {"timestamp": 1_700_000_000_000, "deliveryContext": {"isRedelivery": True}}
    assert born(Journaled("e", event, 1_700_000_300.0)) == 1_700_000_300.0


def test_recovery_answers_young_and_logs_expired_once(make_store: Any, caplog: Any) -> None:
    caplog.set_level(logging.INFO, logger="bot")
    shift = [0.0]
    submitted: list[dict[str, Any]] = []
    survivor = make_store()
    recovery = Recovery(survivor, lambda raw: submitted.append(raw) or True, clock=lambda: time.time() + shift[0])
    recovery.stop()  # driven by hand below, not by its thread

    def die_with(*events: dict[str, Any]) -> None:
        dead = make_store()
        dead.put([(e["webhookEventId"], e) for e in events])
        dead.release()

    young = text_event("unknown host")
    die_with(young)
    assert recovery.recover() == 0  # silent once: a suspect, not yet dead
    assert recovery.recover() == 1
    assert [e["replyToken"] for e in submitted] == [young["replyToken"]]

    old = text_event("hi")
    die_with(old)
    shift[0] = 120.0  # two minutes later: the reply token is gone
    assert recovery.recover() + recovery.recover() == 0
    expired = [r.getMessage() for r in caplog.records if "expired" in r.getMessage()]
    assert len(expired) == 1 and old["webhookEventId"] in expired[0]
    assert survivor.unfinished() == [] and recovery.recover() == 0  # dropped, not logged again
    assert len(submitted) == 1


def test_memory_fallback_dedupes_within_the_process() -> None:
    store = MemoryStore()
    assert store.first_time("a") and not store.first_time("a")
    store.offer(USER, ("x",), "ja")
    assert store.offered(USER) == (("x",), "ja")
    assert [store.allow("k", 1, 60) for _ in range(2)] == [True, False]


def test_unusable_sqlite_file_degrades_loudly(tmp_path: Path, caplog: Any) -> None:
    caplog.set_level(logging.INFO, logger="bot")
    store = open_store(str(tmp_path / "no-such-dir" / "seen.sqlite3"))
    assert store.problem is not None and "unusable" in store.problem
    assert any(r.levelno == logging.ERROR and "unusable" in r.getMessage() for r in caplog.records)
    assert store.first_time("a") and not store.first_time("a")  # still deduplicates in memory


def test_healthz_says_degraded_with_the_reason(line_api: HTTPServer, tmp_path: Path, kb: Any, matcher: Any) -> None:
    unusable = settings_for(line_api.url_for("/"), tmp_path, dedupe_path=str(tmp_path / "nope" / "x.db"))
    app = create_app(unusable, kb, matcher)
    try:
        response = app.test_client().get("/healthz")
        assert response.status_code == 503
        assert response.json["status"] == "degraded" and "unusable" in response.json["reason"]
    finally:
        app.extensions["line_error_bot"].shutdown(5.0)


def test_healthz_ok_with_a_working_store(client: Any) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json["status"] == "ok" and "reason" not in response.json


def test_sqlite_file_is_bounded_and_gives_space_back(tmp_path: Path, monkeypatch: Any) -> None:
    from bot.store import sqlite_store

    monkeypatch.setattr(sqlite_store, "SEEN_CAP", 2000)
    path = tmp_path / "seen.sqlite3"
    store = SqliteStore(str(path), "me")
    for i in range(10_000):
        store.first_time(f"01BOUNDED{i:020d}")
    store.prune()
    db = sqlite3.connect(path)
    assert db.execute("SELECT count(*) FROM seen").fetchone()[0] <= 2000
    assert db.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # incremental
    assert db.execute("PRAGMA freelist_count").fetchone()[0] < 50  # freed pages went back to the disk
    assert store.first_time("01BOUNDED00000000000000009999") is False  # the newest are kept


def test_webhook_journals_before_the_200_and_drops_after_the_reply(
    line_api: HTTPServer, tmp_path: Path, kb: Any, matcher: Any
) -> None:
    """With the LINE API holding the reply, the accepted event is journaled; after the reply it is gone."""
    path = tmp_path / "seen.sqlite3"
    gate, arrived = threading.Event(), threading.Event()
    line_api.clear_all_handlers()
    line_api.expect_request(REPLY_PATH, method="POST").respond_with_handler(
        lambda r: (
            arrived.set(),
            gate.wait(10),
            Response('{"sentMessages":[{"id":"1","quoteToken":"q"}]}', status=200),
        )[2]
    )
    app = create_app(settings_for(line_api.url_for("/"), tmp_path, dedupe_path=str(path)), kb, matcher)
    try:
        event = text_event("unknown host")
        assert post(app.test_client(), [event]).status_code == 200
        db = sqlite3.connect(path)
        assert db.execute("SELECT id FROM journal").fetchall() == [(event["webhookEventId"],)]
        assert event["source"]["userId"] not in db.execute("SELECT event FROM journal").fetchone()[0]
        assert arrived.wait(15)
        assert db.execute("SELECT count(*) FROM journal").fetchone()[0] == 1  # not dropped before the reply
        gate.set()
        assert wait_for(lambda: db.execute("SELECT count(*) FROM journal").fetchone()[0] == 0)
    finally:
        gate.set()
        app.extensions["line_error_bot"].shutdown(5.0)


def test_journal_timing_settings_default_and_bounds() -> None:
    from bot.config import ConfigError, Settings

    required = {"LINE_CHANNEL_SECRET": "s", "LINE_CHANNEL_ACCESS_TOKEN": "t"}
    default = Settings.from_env(required)
    assert (default.dead_after, default.scan_seconds) == (5.0, 2.0)
    short = Settings.from_env(dict(required, JOURNAL_DEAD_AFTER="2", JOURNAL_SCAN_SECONDS="0.5"))
    assert (short.dead_after, short.scan_seconds) == (2.0, 0.5)
    for name, bad in [("JOURNAL_DEAD_AFTER", "1"), ("JOURNAL_SCAN_SECONDS", "0"), ("JOURNAL_DEAD_AFTER", "x")]:
        with pytest.raises(ConfigError, match=name):
            Settings.from_env(dict(required, **{name: bad}))


def test_an_offer_that_is_not_urgent_is_shared_at_the_next_round_trip(make_store: Any) -> None:
    # A quoted message's choices: this process has them at once, the others after the next write or beat.
    a, b = make_store(), make_store()
    a.offer("quote:461230966842064897", ("webhook.status.502",), "ja", urgent=False)
    assert a.offered("quote:461230966842064897") == (("webhook.status.502",), "ja")
    a.beat()  # the journal worker's heartbeat: a round trip of its own
    assert b.offered("quote:461230966842064897") == (("webhook.status.502",), "ja")


def test_counts_must_be_whole_numbers() -> None:
    # REPLY_THREADS=1.5 ran one reply thread without a word; "64 " and an unset value keep working.
    from bot.config import ConfigError, Settings

    required = {"LINE_CHANNEL_SECRET": "s", "LINE_CHANNEL_ACCESS_TOKEN": "t"}
    assert Settings.from_env(dict(required, REPLY_THREADS="64 ", REPLY_QUEUE="")).reply_threads == 64
    for name in ("REPLY_THREADS", "REPLY_QUEUE", "REDIS_MAX_CONNECTIONS"):
        for bad in ("1.5", "1e3", "-1", "0"):
            with pytest.raises(ConfigError, match=f"{name} must be a whole number"):
                Settings.from_env(dict(required, **{name: bad}))


def test_a_line_api_base_url_without_a_usable_host_stops_the_start() -> None:
    # "https://" or a port that is no number started the server; each reply then failed after 30 s of retries.
    from bot.config import ConfigError, Settings

    required = {"LINE_CHANNEL_SECRET": "s", "LINE_CHANNEL_ACCESS_TOKEN": "t"}
    assert Settings.from_env(dict(required, LINE_API_BASE_URL="http://127.0.0.1:8080/")).api_base_url == (
        "http://127.0.0.1:8080"
    )
    for bad in ("https://", "https://api.line.me:44x", "https://api line.me", "api.line.me"):
        with pytest.raises(ConfigError, match="LINE_API_BASE_URL must be an http"):
            Settings.from_env(dict(required, LINE_API_BASE_URL=bad))
