"""Matcher figures: start-up cost, time per question on the dev set, and on 5,000 generated entries."""

from __future__ import annotations

import random
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot import knowledge
from bot.evaluate import load_questions
from bot.knowledge import KnowledgeBase
from bot.matcher import Matcher

ROOT = Path(__file__).resolve().parent.parent
ROUNDS = 5


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def time_questions(matcher: Matcher, questions: list[str], rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        for q in questions:
            started = time.perf_counter()
            matcher.match(q)
            times.append((time.perf_counter() - started) * 1000)
    return times


def synthetic(kb: KnowledgeBase, size: int, seed: int = 7) -> KnowledgeBase:
    """`size` entries shaped like the real ones, with aliases drawn from a generated vocabulary."""
    rng = random.Random(seed)
    syllables = [c + v for c in "kstnhmyrwgzdbp" for v in "aiueo"]
    kana = [chr(c) for c in range(0x30A2, 0x30F3)]
    latin = ["".join(rng.choices(syllables, k=rng.randint(2, 4))) for _ in range(3000)]
    japanese = ["".join(rng.choices(kana, k=rng.randint(2, 5))) for _ in range(3000)]
    templates = list(kb.entries.values())
    entries = {}
    for i in range(size):
        base = templates[i % len(templates)]
        texts = {}
        for lang, pool in (("ja", japanese), ("en", latin)):
            aliases = tuple(" ".join(rng.choices(pool, k=rng.randint(1, 3))) for _ in range(8))
            texts[lang] = replace(base.text[lang], aliases=aliases)
        entry_id = f"synthetic.entry_{i}"
        entries[entry_id] = replace(base, id=entry_id, text=texts, related=(), code=None, detail=None, status=())
    return KnowledgeBase(entries=entries, version="synthetic")


def main() -> None:
    started = time.perf_counter()
    kb = knowledge.load()
    loaded = time.perf_counter()
    matcher = Matcher(kb)
    indexed = time.perf_counter()
    questions = [q.q for q in load_questions(ROOT / "tests/data/dev-questions.yaml")]
    print(
        f"matcher: knowledge load + validation {1000 * (loaded - started):.0f} ms, "
        f"index build {1000 * (indexed - loaded):.1f} ms ({len(kb)} entries, {len(matcher._aliases)} aliases)"
    )
    times = time_questions(matcher, questions, ROUNDS)
    print(
        f"matcher: dev set {len(questions)} questions x {ROUNDS}: p50 {statistics.median(times):.2f} ms, "
        f"p99 {percentile(times, 0.99):.2f} ms per question"
    )

    big = synthetic(kb, 5000)
    started = time.perf_counter()
    big_matcher = Matcher(big)
    built = time.perf_counter() - started
    times = time_questions(big_matcher, questions, 1)
    print(
        f"matcher: 5,000 generated entries ({len(big_matcher._aliases)} aliases): index build "
        f"{1000 * built:.0f} ms, p50 {statistics.median(times):.2f} ms, p99 {percentile(times, 0.99):.2f} ms "
        f"per question"
    )


if __name__ == "__main__":
    main()
