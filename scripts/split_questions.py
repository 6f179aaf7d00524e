"""Split the real-question items that have no `split` yet: per language, seeded shuffle, a third frozen.

Run once per batch, after the batch is final; the existing items and their text are left as they are.
Usage: python scripts/split_questions.py [--seed N] [file]
"""

import argparse
import random
import re
from pathlib import Path

import yaml

DEFAULT_FILE = Path(__file__).resolve().parent.parent / "tests" / "data" / "real-questions.yaml"
ITEM_START = re.compile(r"^- ", re.M)


def assign(items: list[dict], seed: int) -> dict[int, str]:
    """Map the index of each item without a split to `frozen` or `tune` (a third frozen per language)."""
    result: dict[int, str] = {}
    for lang in sorted({item.get("lang") or "" for item in items}):
        todo = [i for i, item in enumerate(items) if "split" not in item and (item.get("lang") or "") == lang]
        random.Random(seed).shuffle(todo)
        frozen = len(todo) // 3
        for rank, index in enumerate(todo):
            result[index] = "frozen" if rank < frozen else "tune"
    return result


def _with_split(block: str, split: str) -> str:
    """The item's text with its `split:` added: inside the braces of a one-line flow mapping, else a line."""
    first, newline, rest = block.partition("\n")
    if first.startswith("- {") and first.rstrip().endswith("}"):
        return first.rstrip()[:-1] + f", split: {split}}}" + newline + rest
    return block.rstrip("\n") + f"\n  split: {split}\n"


def main() -> None:
    """Add `split:` lines to the file's unsplit items in place."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", type=Path, default=DEFAULT_FILE)
    parser.add_argument("--seed", type=int, default=202611233)
    args = parser.parse_args()
    text = args.file.read_text(encoding="utf-8")
    items = yaml.safe_load(text)
    starts = [m.start() for m in ITEM_START.finditer(text)]
    if len(starts) != len(items):
        raise SystemExit(f"{args.file}: found {len(starts)} item starts for {len(items)} items")
    splits = assign(items, args.seed)
    ends = [*starts[1:], len(text)]
    pieces = [text[: starts[0]]]
    for i, (start, end) in enumerate(zip(starts, ends, strict=True)):
        block = text[start:end]
        if i in splits:
            block = _with_split(block, splits[i])
        pieces.append(block)
    args.file.write_text("".join(pieces), encoding="utf-8")
    counts = {s: list(splits.values()).count(s) for s in ("tune", "frozen")}
    print(f"split {len(splits)} items with seed {args.seed}: {counts}")


if __name__ == "__main__":
    main()
