"""Loading and validation: every problem names file, entry, field and line; nothing half-loaded."""

from pathlib import Path

import pytest
from conftest import DATA

from bot import knowledge
from bot.knowledge import KnowledgeError

BROKEN = DATA / "broken"


def _problems(case: str) -> list[str]:
    with pytest.raises(KnowledgeError) as info:
        knowledge.load(BROKEN / case)
    return [str(p) for p in info.value.problems]


def test_real_knowledge_base_loads(kb: knowledge.KnowledgeBase) -> None:
    assert len(kb) == len(kb.entries) > 0
    assert len(kb.version) == 12


def test_every_topic_has_both_languages_and_links(kb: knowledge.KnowledgeBase) -> None:
    for entry in kb.entries.values():
        for lang in ("ja", "en"):
            assert entry.text[lang].title and entry.text[lang].summary, entry.id
            assert 1 <= len(entry.links[lang]) <= 3, entry.id
            assert all(link.url.startswith("https://") for link in entry.links[lang])
        docs = [link.url for link in entry.links["ja"] if "developers.line.biz" in link.url]
        assert all("/ja/" in url for url in docs), entry.id


def test_details_name_their_reason(kb: knowledge.KnowledgeBase) -> None:
    details = [e for e in kb.entries.values() if e.detail and e.id.startswith("webhook.detail.")]
    assert len(details) == 13
    for entry in details:
        assert f"webhook.reason.{entry.reason}" in entry.related
        assert entry.reason in entry.text["en"].summary


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("yaml_error", "area.yaml:20: YAML error"),
        ("missing_language", "entry area.no_en: field en: language section is missing"),
        ("missing_field", "entry area.no_summary: field ja.summary: is missing or empty"),
        ("duplicate_id", "area.yaml:17: entry area.twice: field id: duplicate id (first defined at area.yaml:1)"),
        ("unknown_related", "entry area.lonely: field related: unknown entry id 'area.nowhere'"),
        ("http_link", "links.yaml:1: entry stats: field url: must be an https:// URL"),
        ("label_too_long", "entry area.huge: field ja.label: is over 20 characters"),
        ("over_limits", "entry area.huge: field ja: rendered answer: bubble JSON is"),
    ],
)
def test_broken_file_names_file_entry_and_field(case: str, expected: str) -> None:
    problems = _problems(case)
    assert any(expected in p for p in problems), problems


def test_yaml_error_does_not_half_load(tmp_path: Path) -> None:
    """The real files beside one broken file: the whole load fails, nothing is served."""
    for path in knowledge.DEFAULT_DIR.glob("*.yaml"):
        (tmp_path / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    knowledge.load(tmp_path)  # the copy alone is fine
    (tmp_path / "zz.yaml").write_text("- id: [unclosed\n")
    with pytest.raises(KnowledgeError) as info:
        knowledge.load(tmp_path)
    assert [p.file for p in info.value.problems] == ["zz.yaml"]


def test_missing_directory() -> None:
    with pytest.raises(KnowledgeError, match="knowledge directory not found"):
        knowledge.load(BROKEN / "does-not-exist")
