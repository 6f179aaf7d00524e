"""The question log's cost per question: masking, hashing and one INSERT, on SQLite and PostgreSQL.

    python scripts/bench_questionlog.py [--n 2000]

PostgreSQL runs on a throw-away local cluster (tests/pgserver.py) when its binaries are installed; that
cluster runs with fsync off (-F), so its figures leave out a real disk's flush.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from bot.mask import mask  # noqa: E402
from bot.questionlog import Feedback, LogConfig, Question, QuestionLog, open_log  # noqa: E402

FALLBACK_TEXT = "webhook https://bot.example.com/callback?token=abc123 が 404、連絡先 ops@example.com 090-1234-5678"
USERS = [f"U{n:032x}" for n in range(200)]


def _ms(samples: list[float]) -> str:
    samples = sorted(samples)
    p50 = statistics.median(samples) * 1000
    p99 = samples[int(len(samples) * 0.99) - 1] * 1000
    return f"mean {statistics.fmean(samples) * 1000:.3f} ms  p50 {p50:.3f} ms  p99 {p99:.3f} ms"


def bench(name: str, qlog: QuestionLog, n: int) -> None:
    cases = {
        "answer (no text)": lambda i: qlog.record(USERS[i % 200], Question("answer", "ja", "line_app.500", 95.0)),
        "fallback (text masked)": lambda i: qlog.record(USERS[i % 200], Question("fallback", "ja", text=FALLBACK_TEXT)),
        "feedback tap": lambda i: qlog.feedback(
            USERS[i % 200], Feedback(i % 3 != 0, "line_app.500", "ja", "LINEで500")
        ),
    }
    for case, write in cases.items():
        for i in range(50):  # warm-up: connections, statement caches
            write(i)
        samples = []
        for i in range(n):
            start = time.perf_counter()
            assert write(i)
            samples.append(time.perf_counter() - start)
        print(f"question log {name:<10} {case:<24} {_ms(samples)}  (n={n})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    args = parser.parse_args()
    samples = []
    for _ in range(args.n):
        start = time.perf_counter()
        mask(FALLBACK_TEXT)
        samples.append(time.perf_counter() - start)
    print(f"question log mask() of a {len(FALLBACK_TEXT)}-character question: {_ms(samples)}")
    from bot import feedback, knowledge, render

    kb = knowledge.load()
    answer = render.answer_messages(kb, "webhook.detail.tls_handshake_failure", "ja")
    samples = []
    for _ in range(args.n):
        start = time.perf_counter()
        feedback.with_buttons(kb, answer, "webhook.detail.tls_handshake_failure", "ja", FALLBACK_TEXT)
        samples.append(time.perf_counter() - start)
    print(f"question log feedback buttons added to an answer: {_ms(samples)}")
    with tempfile.TemporaryDirectory() as tmp:
        qlog = open_log(LogConfig(sqlite_path=str(Path(tmp) / "q.sqlite3")), "bench-secret")
        bench("SQLite", qlog, args.n)
        qlog.close()
    try:
        import pytest
        from pgserver import Cluster

        cluster = Cluster()
    except (ImportError, pytest.skip.Exception, pytest.fail.Exception) as exc:
        print(f"question log PostgreSQL: skipped ({exc})")
        return 0
    try:
        qlog = open_log(LogConfig(database_url=cluster.url), "bench-secret")
        bench("PostgreSQL", qlog, args.n)
        qlog.close()
    finally:
        cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
