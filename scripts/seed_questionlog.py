"""Fill a question log with a plausible fortnight: dev-set questions through the real matcher, gaps, taps.

    python scripts/seed_questionlog.py --db /tmp/seeded.sqlite3 [--days 14] [--seed 7]

The README's report and screenshot come from this (then `python -m bot report --html ...`).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot import knowledge  # noqa: E402
from bot.evaluate import load_questions  # noqa: E402
from bot.matcher import Matcher  # noqa: E402
from bot.questionlog import Feedback, LogConfig, Question, QuestionLog, open_log  # noqa: E402

# Questions the knowledge base has no entry for, each spelled several ways (as people do).
GAPS = [
    ["LINEのIDを変更したい", "LINE IDを変えたい", "lineのid変更", "LINE ID 変更したいです", "ラインのIDを変更したい"],
    ["リッチメニューが表示されない", "リッチメニューが出ない", "リッチメニュー 表示されません"],
    ["how do I change my LINE ID", "change line id", "How can I change my LINE ID?"],
    ["友だち追加のQRコードが読めない", "QRコードが読み取れない", "友達追加 QRコード 読めない"],
    ["what time is it", "what time is it now"],
    ["token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJmYWtlIn0.c2lnbmF0dXJl が使えない", "token が使えない"],
]


def seed(qlog: QuestionLog, matcher: Matcher, days: int, rng: random.Random, now: float) -> int:
    """Record `days` days of traffic; returns the number of questions."""
    asked = [q.q for q in load_questions(ROOT / "tests" / "data" / "dev-questions.yaml")]
    users = [f"U{rng.getrandbits(128):032x}" for _ in range(60)]
    total = 0
    for day in range(days, 0, -1):
        start = now - day * 86400
        for _ in range(rng.randint(25, 70) + (days - day) * 2):  # traffic grows a little
            at = start + rng.uniform(0, 86400)
            user = rng.choice(users)
            text = rng.choice(rng.choice(GAPS)) if rng.random() < 0.12 else rng.choice(asked)
            found = matcher.match(text)
            entry = found.entry_id if found.kind == "answer" else None
            outcome = "deflection" if found.kind == "fallback" and found.entry_id else found.kind
            qlog.record(user, Question(outcome, found.lang, entry, found.score, found.choices, text), at=at)
            total += 1
            if found.kind == "clarify" and rng.random() < 0.75:
                picked = found.choices[0] if rng.random() < 0.6 else rng.choice(found.choices)
                qlog.record(user, Question("pick", found.lang, picked, 100.0), at=at + 20)
                entry = picked
            if entry and rng.random() < 0.3:
                helpful = rng.random() < (0.45 if entry.startswith("line_app") else 0.85)
                qlog.feedback(user, Feedback(helpful, entry, found.lang, text), at=at + 60)
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="SQLite file to fill (created if missing)")
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    qlog = open_log(LogConfig(sqlite_path=args.db), "seed-channel-secret")
    total = seed(qlog, Matcher(knowledge.load()), args.days, random.Random(args.seed), time.time())
    qlog.close()
    print(f"seeded {total} questions over {args.days} days into {args.db}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
