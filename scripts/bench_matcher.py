"""Matcher figures: start-up cost, time per question on the dev set, and on 5,000 generated entries."""

from __future__ import annotations

import os
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


def time_questions(matcher: Matcher, questions: list[str], rounds: int, cpu: list[float] | None = None) -> list[float]:
    """Milliseconds per question (wall clock); `cpu`, when given, receives each question's CPU time too."""
    times = []
    for _ in range(rounds):
        for q in questions:
            started, started_cpu = time.perf_counter(), time.thread_time()
            matcher.match(q)
            times.append((time.perf_counter() - started) * 1000)
            if cpu is not None:
                cpu.append((time.thread_time() - started_cpu) * 1000)
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
    # The entries ui.yaml names (help, any other status, another platform, suggestions) stay: the code relies on them.
    ui = kb.ui
    for entry_id in (ui.help, ui.other_status, ui.elsewhere, *ui.suggestions):
        entries[entry_id] = replace(kb[entry_id], related=())
    return replace(kb, entries=entries, version="synthetic")


def memory(pid: int | str = "self") -> str:
    """Resident memory of a process split into private and shared pages (from /proc/PID/smaps_rollup).

    The Sudachi dictionary is a file mapping: private while one process maps it, shared through the page
    cache by gunicorn's forked workers (each counts only the pages it touched)."""
    fields: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
            name, _, rest = line.partition(":")
            fields[name] = int(rest.split()[0])
    except OSError:
        return "n/a (no /proc/PID/smaps_rollup)"
    private = fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)
    shared = fields.get("Shared_Clean", 0) + fields.get("Shared_Dirty", 0)
    return (
        f"RSS {fields.get('Rss', 0) / 1024:.0f} MB (private {private / 1024:.0f} MB, shared {shared / 1024:.0f} MB, "
        f"PSS {fields.get('Pss', 0) / 1024:.0f} MB)"
    )


def forked_memory(matcher: Matcher, questions: list[str]) -> str:
    """Memory of a child forked after loading, as gunicorn's preload forks workers, after it matched."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the "worker": match every question once, then report its own memory
        os.close(read)
        for q in questions:
            matcher.match(q)
        os.write(write, memory().encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        report = pipe.read()
    os.waitpid(pid, 0)
    return report


def main() -> None:
    started = time.perf_counter()
    kb = knowledge.load()
    loaded = time.perf_counter()
    matcher = Matcher(kb)
    indexed = time.perf_counter()
    print(
        f"matcher: knowledge load + validation (Sudachi dictionary already loaded at import) "
        f"{1000 * (loaded - started):.0f} ms, index build {1000 * (indexed - loaded):.1f} ms ({len(kb)} entries)"
    )
    questions = [q.q for q in load_questions(ROOT / "tests/data/dev-questions.yaml")]
    real = ROOT / "tests/data/real-questions.yaml"
    if real.exists():  # long pastes: the slow end of what people send
        long = [q.q for q in load_questions(real)]
        times = time_questions(matcher, long, ROUNDS)
        print(
            f"matcher: real set {len(long)} questions (up to {max(map(len, long))} characters) x {ROUNDS}: "
            f"p50 {statistics.median(times):.2f} ms, p99 {percentile(times, 0.99):.2f} ms per question"
        )
        questions += long
    cpu: list[float] = []
    times = time_questions(matcher, questions, ROUNDS, cpu)
    print(
        f"matcher: dev{' + real' if real.exists() else ''} set {len(questions)} questions x {ROUNDS}: "
        f"p50 {statistics.median(times):.2f} ms, p99 {percentile(times, 0.99):.2f} ms, "
        f"max {max(times):.2f} ms per question (CPU time p99 {percentile(cpu, 0.99):.2f} ms)"
    )
    print(f"matcher: this process after loading: {memory()}")
    print(f"matcher: a child forked after loading, after matching: {forked_memory(matcher, questions)}")

    big = synthetic(kb, 5000)
    started = time.perf_counter()
    big_matcher = Matcher(big, replace(matcher.vocabulary, exact=()))  # its ids are not in the generated KB
    built = time.perf_counter() - started
    cpu = []
    times = time_questions(big_matcher, questions, 1, cpu)
    # On a loaded machine the wall-clock p99 is mostly which questions were preempted; CPU time is not.
    print(
        f"matcher: 5,000 generated entries: index build "
        f"{1000 * built:.0f} ms, p50 {statistics.median(times):.2f} ms, p99 {percentile(times, 0.99):.2f} ms "
        f"per question (CPU time p50 {statistics.median(cpu):.2f} ms, p99 {percentile(cpu, 0.99):.2f} ms)"
    )


if __name__ == "__main__":
    main()
