"""Soak: RSS per worker and the SQLite file's size from 5,000 to 100,000 events (or --events).

The web process is started as the Procfile starts it, against the fake LINE API (scripts/fake_line.py)
on 127.0.0.1; events go in signed bodies of --per-body events at --concurrency. At each checkpoint the
load pauses until every reply has arrived, then each worker's RSS and the file sizes are printed.

Usage: python scripts/soak.py [--events 100000] [--per-body 4] [--concurrency 16] [--redis]"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import hmac
import http.client
import json
import os
import subprocess
import sys
import tempfile
import time

from bench_process import smaps
from bench_webhook import (
    ROOT,
    SECRET,
    TOKEN,
    children,
    free_port,
    load,
    procfile_argv,
    redis_server,
    rss_mb,
    start,
    stop,
)

CHECKPOINTS = (5_000, 10_000, 25_000, 50_000, 75_000, 100_000)


def bodies(first: int, count: int, per_body: int, questions: list[str], run: str) -> list[tuple[str, str, str]]:
    """Signed bodies for events first..first+count-1, `per_body` events each."""
    out = []
    for start_at in range(first, first + count, per_body):
        events = []
        for i in range(start_at, min(start_at + per_body, first + count)):
            events.append(
                {
                    "type": "message",
                    "mode": "active",
                    "timestamp": int(time.time() * 1000),
                    "source": {"type": "user", "userId": f"Usoak{i % 500:028d}"},
                    "webhookEventId": f"01SOAK{run}{i:08d}",
                    "deliveryContext": {"isRedelivery": False},
                    "replyToken": f"soak-{run}-{i}",
                    "message": {"id": str(i), "type": "text", "text": questions[i % len(questions)], "quoteToken": "q"},
                }
            )
        body = json.dumps({"destination": "Usoak", "events": events})
        signature = base64.b64encode(hmac.new(SECRET.encode(), body.encode(), hashlib.sha256).digest()).decode()
        out.append((events[0]["replyToken"], body, signature))
    return out


def arrived(port: int) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/count")
    return int(conn.getresponse().read())


def size_mb(*paths: str) -> float:
    return sum(os.path.getsize(p) for p in paths if os.path.exists(p)) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--per-body", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--redis", action="store_true", help="with REDIS_URL (a redis-server on loopback)")
    args = parser.parse_args()
    import yaml

    questions = [q["q"] for q in yaml.safe_load((ROOT / "tests/data/dev-questions.yaml").read_text())]
    with contextlib.ExitStack() as stack:
        redis_url = stack.enter_context(redis_server()) if args.redis else ""
        fake_port = free_port()
        fake = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "scripts/fake_line.py"),
                "--port",
                str(fake_port),
                "--delay",
                "0.01",
                "--lifetime",
                "3600",
            ]
        )
        stack.callback(fake.wait, 10)
        stack.callback(fake.terminate)
        port = free_port()
        db = f"{tempfile.mkdtemp(prefix='soak-')}/seen.sqlite3"
        env = dict(
            os.environ,
            PORT=str(port),
            LINE_CHANNEL_SECRET=SECRET,
            LINE_CHANNEL_ACCESS_TOKEN=TOKEN,
            LINE_API_BASE_URL=f"http://127.0.0.1:{fake_port}",
            DEDUPE_DB=db,
            REDIS_URL=redis_url,
        )
        proc, _ = start(procfile_argv(), env, port)
        stack.callback(stop, proc)
        store = "Redis" if redis_url else "SQLite"
        print(f"soak ({store}): {args.events} events, {args.per_body} per body, C={args.concurrency}")
        print(f"  boot: RSS {', '.join(f'{m:.0f}' for m in rss_mb(proc.pid))} MB (master first)")
        run, sent, began = f"{time.time_ns()}", 0, time.monotonic()
        first_rss: list[float] = []
        for checkpoint in [c for c in CHECKPOINTS if c < args.events] + [args.events]:
            pending = bodies(sent, checkpoint - sent, args.per_body, questions, run)
            while pending:  # a 503 (reply queue full) is sent again, as LINE's redelivery would
                _, _, acked = load(port, pending, args.concurrency)
                pending = [b for b in pending if b[0] not in acked]
            sent = checkpoint
            deadline = time.monotonic() + 120
            while arrived(fake_port) < sent and time.monotonic() < deadline:
                time.sleep(0.2)
            rss = rss_mb(proc.pid)
            first_rss = first_rss or rss
            growth = ", ".join(f"{b - a:+.1f}" for a, b in zip(first_rss[1:], rss[1:], strict=False))
            files = f"SQLite file {size_mb(db):.1f} MB + wal {size_mb(db + '-wal'):.1f} MB"
            # Anonymous memory (the Python heap; the rest of RSS is mostly the dictionary's file pages).
            anon = ", ".join(f"{smaps(pid)['anon']:.0f}" for pid in children(proc.pid))
            files += f"  anonymous {anon} MB"
            print(
                f"  {sent:>7} events  replies {arrived(fake_port):>7}  RSS {', '.join(f'{m:.0f}' for m in rss)} MB"
                f" (workers since 5,000: {growth} MB)  {files}  {time.monotonic() - began:.0f} s"
            )
        print(f"  workers: {len(children(proc.pid))}; target: RSS per worker within 10 MB from 5,000 on")


if __name__ == "__main__":
    main()
