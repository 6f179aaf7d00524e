"""Loading and validation: every problem names file, entry, field and line; nothing half-loaded."""

from pathlib import Path

import pytest
from conftest import DATA

from bot import knowledge, limits
from bot.knowledge import KnowledgeError

BROKEN = DATA / "broken"


def _problems(case: str) -> list[str]:
    with pytest.raises(KnowledgeError) as info:
        limits.checked(knowledge.load(BROKEN / case))
    return [str(p) for p in info.value.problems]


def test_real_knowledge_base_loads(kb: knowledge.KnowledgeBase) -> None:
    assert kb.ui.help in kb and kb.ui.other_status in kb
    assert all(entry_id in kb for entry_id in kb.ui.suggestions)
    assert len(kb.version) == 12
    assert limits.check_all(kb) == []


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
    assert details
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


def _copy_of_real_kb(tmp_path: Path) -> Path:
    for path in knowledge.DEFAULT_DIR.glob("*.yaml"):
        (tmp_path / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    return tmp_path


def test_renamed_ui_id_is_named_by_file_and_field(tmp_path: Path) -> None:
    """Renaming bot.help in the entries but not in ui.yaml fails validation, not every follow event."""
    ui = _copy_of_real_kb(tmp_path) / "ui.yaml"
    ui.write_text(ui.read_text(encoding="utf-8").replace("help: bot.help", "help: bot.helpx"), encoding="utf-8")
    with pytest.raises(KnowledgeError) as info:
        knowledge.load(tmp_path)
    assert [(p.file, p.field) for p in info.value.problems] == [("ui.yaml", "ids.help")]


def test_missing_ui_string_is_named(tmp_path: Path) -> None:
    ui = _copy_of_real_kb(tmp_path) / "ui.yaml"
    ui.write_text(ui.read_text(encoding="utf-8").replace("    hint: Please", "    hintt: Please"), encoding="utf-8")
    with pytest.raises(KnowledgeError) as info:
        knowledge.load(tmp_path)
    fields = sorted(p.field or "" for p in info.value.problems)
    assert fields == ["strings.en.hint", "strings.en.hintt"]


def test_ui_strings_and_words_the_code_fills_in_are_checked(tmp_path: Path) -> None:
    """A range without {count} would say "send a number from 1 to" and stop; a word around a number with
    a digit in it would make "12" out of "1" + "2"."""
    ui = _copy_of_real_kb(tmp_path) / "ui.yaml"
    text = ui.read_text(encoding="utf-8").replace("from 1 to {count}", "from 1 to N")
    ui.write_text(text.replace('before: ["#"', 'before: ["#1"'), encoding="utf-8")
    with pytest.raises(KnowledgeError) as info:
        knowledge.load(tmp_path)
    assert sorted((p.file, p.field) for p in info.value.problems) == [
        ("ui.yaml", "numbers.before"),
        ("ui.yaml", "strings.en.number_range"),
    ]


def test_loading_data_does_not_import_the_algorithm_or_the_presentation() -> None:
    """bot.knowledge parses data only: importing it alone pulls in neither render nor matcher."""
    import subprocess
    import sys

    code = "import sys, bot.knowledge; print(sorted(m for m in sys.modules if m.startswith('bot.')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['bot.knowledge']"


def test_missing_links_file_is_one_problem_not_one_per_entry(tmp_path: Path) -> None:
    (_copy_of_real_kb(tmp_path) / "links.yaml").unlink()
    with pytest.raises(KnowledgeError) as info:
        knowledge.load(tmp_path)
    assert [str(p) for p in info.value.problems] == ["links.yaml: file is missing"]


def test_unreadable_file_does_not_cascade_into_unknown_ids(tmp_path: Path) -> None:
    """Entries elsewhere relate to ids in the broken file: only the YAML error is reported."""
    broken = sorted(p for p in _copy_of_real_kb(tmp_path).glob("*.yaml") if p.name not in knowledge.DATA_FILES)[0]
    broken.write_text(broken.read_text(encoding="utf-8") + "\n- id: [unclosed\n", encoding="utf-8")
    with pytest.raises(KnowledgeError) as info:
        knowledge.load(tmp_path)
    assert len(info.value.problems) == 1 and "YAML error" in str(info.value.problems[0])


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("    aliases: [alias]", "    aliases: []", "field en.aliases: is an empty list"),
        ("    title: Title", "    title: [Title, Other]", "field en.title: must be a text, got a list"),
        ("    title: Title", "    title: 42", "field en.title: must be a text, got a number"),
        ("  audience: operator", "  audience: operator\n  howto: yes please", "field howto: must be true or false"),
        ("  audience: operator", "  audience: operator\n  alone: 1", "field alone: must be true or false"),
    ],
)
def test_wrong_types_and_empty_lists_are_named_as_such(tmp_path: Path, old: str, new: str, message: str) -> None:
    source = BROKEN / "missing_field"
    for path in source.glob("*.yaml"):
        (tmp_path / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    area = tmp_path / "area.yaml"
    fixed = area.read_text(encoding="utf-8").replace("    steps: [一つ目]", "    summary: 説明。\n    steps: [一つ目]")
    area.write_text(fixed.replace(old, new), encoding="utf-8")
    with pytest.raises(KnowledgeError) as info:
        knowledge.load(tmp_path)
    (problem,) = info.value.problems
    assert f"entry area.no_summary: {message}" in str(problem)


def test_a_link_may_name_a_url_for_each_language(tmp_path: Path) -> None:
    # developers.worksmobile.com writes Japanese as /jp/: "{lang}" cannot say it, a mapping can.
    links = _copy_of_real_kb(tmp_path) / "links.yaml"
    text = links.read_text(encoding="utf-8")
    kb = knowledge.load(tmp_path)
    urls = {lang: [link.url for link in kb["outside.other_platforms"].links[lang]] for lang in ("ja", "en")}
    assert "https://developers.worksmobile.com/jp/docs/bot" in urls["ja"]
    assert "https://developers.worksmobile.com/en/docs/bot" in urls["en"]
    links.write_text(text + "half:\n  url: {ja: 'https://example.com/ja'}\n  ja: 半分\n  en: Half\n", encoding="utf-8")
    with pytest.raises(KnowledgeError) as info:
        knowledge.load(tmp_path)
    assert [str(p) for p in info.value.problems] == [
        "links.yaml:"
        + str(text.count("\n") + 1)
        + ": entry half: field url: must be an https:// URL, or one for each of ja, en"
    ]
