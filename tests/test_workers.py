"""The reply pool: bounded, webhooks first, nothing lost on shutdown, a failing job kills nothing."""

from __future__ import annotations

import threading
import time

import pytest
from conftest import wait_for

from bot.workers import WorkerPool


def test_jobs_wait_while_a_webhook_is_in_progress_up_to_patience() -> None:
    pool = WorkerPool(2, 10, quiet=0.01, patience=0.3)
    ran: list[float] = []
    try:
        with pool.foreground():  # a webhook that lasts until the job has run
            submitted = time.monotonic()
            assert pool.submit(lambda: ran.append(time.monotonic()))
            assert wait_for(lambda: ran, timeout=10)  # patience lets it through under endless load
        assert ran[0] - submitted >= 0.3  # held back while the webhook was in progress (a lower bound only)
    finally:
        assert pool.shutdown(5)


def test_full_pool_refuses_until_a_job_finishes() -> None:
    pool = WorkerPool(1, 2, quiet=0)
    release = threading.Event()
    try:
        assert pool.submit(lambda: release.wait(10))
        assert pool.submit(lambda: None)
        assert pool.pending == 2
        assert not pool.submit(lambda: None)  # two unfinished: the limit
        release.set()
        assert wait_for(lambda: pool.pending == 0, timeout=10)
        assert pool.submit(lambda: None)
    finally:
        assert pool.shutdown(5)


def test_shutdown_runs_held_jobs_at_once_and_then_refuses() -> None:
    pool = WorkerPool(2, 10, quiet=0.01, patience=60)
    done: list[int] = []
    with pool.foreground():
        for i in range(5):
            assert pool.submit(lambda i=i: done.append(i))
        assert pool.shutdown(30)  # False if it had sat out the minute of patience
    assert sorted(done) == [0, 1, 2, 3, 4]
    assert not pool.submit(lambda: None)


def test_failing_job_is_logged_and_the_thread_carries_on(caplog: pytest.LogCaptureFixture) -> None:
    pool = WorkerPool(1, 10, quiet=0)
    ran = threading.Event()
    try:
        assert pool.submit(lambda: 1 / 0)
        assert pool.submit(ran.set)
        assert wait_for(ran.is_set, timeout=10)
        assert "reply job failed" in caplog.text and "ZeroDivisionError" in caplog.text
    finally:
        assert pool.shutdown(5)


def test_a_short_gap_between_webhooks_releases_few_held_jobs() -> None:
    # quiet 0.25 s: 16 held jobs need 5 quiet periods (1, 2, 4, 8 more), 1.25 s without a webhook
    pool = WorkerPool(16, 100, quiet=0.25, patience=60)
    ran: list[int] = []
    first = threading.Event()

    def job(i: int) -> None:
        ran.append(i)
        first.set()

    with pool.foreground():
        for i in range(16):
            assert pool.submit(lambda i=i: job(i))
    assert first.wait(10)  # the quiet after the webhook let the first one go
    with pool.foreground():  # the next webhook: the burst goes on
        during_gap = len(ran)
        assert pool.shutdown(30)  # shutting down lets every held job go at once
    assert during_gap < 16
    assert sorted(ran) == list(range(16))


def test_held_jobs_all_go_once_the_quiet_lasts() -> None:
    pool = WorkerPool(8, 100, quiet=0.01, patience=60)
    ran: list[int] = []
    try:
        with pool.foreground():
            for i in range(40):
                assert pool.submit(lambda i=i: ran.append(i))
        assert wait_for(lambda: len(ran) == 40, timeout=10)  # 40 jobs: 7 quiet periods, not patience's minute
    finally:
        assert pool.shutdown(5)
