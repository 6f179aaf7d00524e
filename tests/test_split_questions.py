"""scripts/split_questions.py: a seeded third of each language's new items frozen, the file's text kept."""

import subprocess
import sys
from pathlib import Path

import yaml

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "split_questions.py"

TEXT = """# header kept
- q: first
  expect: none
  lang: en
  split: tune
# a section comment
- {q: "second", expect: none, lang: en}
- {q: "third", expect: none, lang: en}
- q: fourth
  expect: none
  lang: en
- {q: "五", expect: none, lang: ja}
"""


def _split(tmp_path: Path, seed: int) -> tuple[str, list[dict]]:
    path = tmp_path / "questions.yaml"
    path.write_text(TEXT, encoding="utf-8")
    subprocess.run([sys.executable, str(SCRIPT), "--seed", str(seed), str(path)], check=True, capture_output=True)
    text = path.read_text(encoding="utf-8")
    return text, yaml.safe_load(text)


def test_new_items_get_a_split_in_block_and_flow_style(tmp_path: Path) -> None:
    text, items = _split(tmp_path, 7)
    assert [item["q"] for item in items] == ["first", "second", "third", "fourth", "五"]
    assert all(item["split"] in ("tune", "frozen") for item in items)
    assert items[0]["split"] == "tune"  # an item already split keeps its split
    english = [item["split"] for item in items[1:4]]
    assert english.count("frozen") == 1  # a third of the 3 new English items
    assert items[4]["split"] == "tune"  # a third of one Japanese item is none
    assert text.startswith("# header kept\n") and "# a section comment\n" in text


def test_the_same_seed_gives_the_same_split(tmp_path: Path) -> None:
    assert _split(tmp_path, 11)[0] == _split(tmp_path, 11)[0]
