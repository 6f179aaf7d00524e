"""CPU cost of one reply through bot.sender.Sender (SDK model, serialisation, HTTP to a fake API on
127.0.0.1), for the messages the bot really sends: a flex answer, a clarify text, the help menu.

Usage: python scripts/bench_sender.py [--replies 2000]. Prints ms of this thread's CPU per reply."""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot import knowledge, render
from bot.matcher import Matcher
from bot.sender import Sender
from scripts.fake_line import FakeLine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--replies", type=int, default=2000)
    args = parser.parse_args()
    kb = knowledge.load()
    matcher = Matcher(kb)
    messages = [render.render(kb, matcher.match(q)) for q in ("TLS handshake failure", "500エラー", "help")]
    with FakeLine() as fake:
        sender = Sender("bench-token", fake.url, 3.0, 10.0, pool_size=1)
        for i in range(50):  # warm up: connection, caches
            sender.reply(f"warm-{i}", messages[i % 3], "-")
        runs = []
        for run in range(5):
            cpu = time.thread_time()
            for i in range(args.replies // 5):
                sender.reply(f"bench-{run}-{i}", messages[i % 3], "-")
            runs.append((time.thread_time() - cpu) * 1000 / (args.replies // 5))
        sender.close()
    shown = ", ".join(f"{r:.3f}" for r in runs)
    print(f"sender CPU per reply: median {statistics.median(runs):.3f} ms (runs: {shown})")


if __name__ == "__main__":
    main()
