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
