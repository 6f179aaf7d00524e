"""Load the YAML knowledge base and validate every entry before anything is served."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

LANGS = ("ja", "en")
OUTSIDE = "outside"  # the audience of deflections: near-domain topics the bot sends elsewhere
AUDIENCES = ("operator", "app_user", "sender", "anyone", OUTSIDE)
LINKS_FILE = "links.yaml"
# Files in knowledge/ that are not lists of entries; each is read by its own module.
DATA_FILES = frozenset({LINKS_FILE, "ui.yaml", "vocabulary.yaml", "richmenu.yaml", "diagnose.yaml"})
DEFAULT_DIR = Path(__file__).resolve().parent.parent / "knowledge"

_ID_RE = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)+$")
_STATUS_RE = re.compile(r"^([1-5]\d\d|[1-5]xx|other)$")
_ENTRY_KEYS = {
    "id",
    "audience",
    "code",
    "detail",
    "reason",
    "status",
    "also_status",
    "howto",
    "alone",
    "links",
    "related",
    *LANGS,
}
_TEXT_KEYS = {"title", "label", "summary", "steps", "aliases"}
LABEL_MAX = 20  # quick-reply label limit of the Messaging API
LINK_LABEL_MAX = 40  # Flex button label limit
UI_FILE = "ui.yaml"
# The fixed reply strings the code uses; ui.yaml must give each one in every language.
UI_STRINGS = (
    "steps", "links", "related", "clarify", "clarify_group", "number_range", "number_none", "fallback",
    "how_to_ask", "suggest", "outside", "hint", "join", "also", "chat_intro",
    "other_code", "other_phrase", "other_summary", "unassigned_phrase",
    "feedback_helpful", "feedback_not_helpful", "feedback_thanks", "feedback_sorry",
)  # fmt: skip
UI_PLACEHOLDERS = {"number_range": "{count}"}  # filled in by the code: a string without it would say less


@dataclass(frozen=True)
class Problem:
    """One validation problem, pointing at a file, an entry and a field."""

    file: str
    entry: str | None
    field: str | None
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = self.file + (f":{self.line}" if self.line else "")
        parts = [where]
        if self.entry:
            parts.append(f"entry {self.entry}")
        if self.field:
            parts.append(f"field {self.field}")
        return f"{': '.join(parts)}: {self.message}"


class KnowledgeError(Exception):
    """The knowledge base is invalid; `problems` lists every reason."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass(frozen=True)
class Link:
    """A self-check link in one language."""

    url: str
    label: str


@dataclass(frozen=True)
class Text:
    """An entry's content in one language."""

    title: str
    label: str
    summary: str
    steps: tuple[str, ...]
    aliases: tuple[str, ...]


@dataclass(frozen=True)
class Entry:
    """One topic the bot can answer."""

    id: str
    audience: str
    text: dict[str, Text]
    links: dict[str, tuple[Link, ...]]
    related: tuple[str, ...] = ()
    code: str | None = None
    detail: str | None = None
    reason: str | None = None
    status: tuple[str, ...] = ()
    also_status: tuple[str, ...] = ()  # codes another entry owns, this one's only when the words point to it
    howto: bool = False  # also answers "how do I ..." (a procedure), though it explains an error too
    alone: bool = False  # answers a short message that is only this ("hello"), never part of a longer question
    source: str = ""

    def aliases(self) -> Iterable[str]:
        """All aliases in every language, plus the exact console strings."""
        for lang in LANGS:
            yield from self.text[lang].aliases
        for exact in (self.code, self.detail):
            if exact:
                yield exact


@dataclass(frozen=True)
class UI:
    """ui.yaml: the entry ids the code relies on and the fixed reply strings, per language."""

    help: str
    other_status: str
    elsewhere: str
    suggestions: tuple[str, ...]
    strings: dict[str, dict[str, str]]
    # Words before and after a number that leave a message just a number, a pick (「2番」, "#2").
    numbers: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())

    def text(self, lang: str, key: str) -> str:
        """A fixed string in `lang`."""
        return self.strings[lang][key]


@dataclass(frozen=True)
class KnowledgeBase:
    """All entries, keyed by id, the UI strings, and a content hash as the version."""

    entries: dict[str, Entry]
    version: str
    ui: UI
    root: Path | None = None  # the directory it was loaded from (the matcher reads its vocabulary.yaml)

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, entry_id: str) -> Entry:
        return self.entries[entry_id]

    def __contains__(self, entry_id: object) -> bool:
        return entry_id in self.entries


# libyaml's parser when PyYAML was built with it: the pure-Python one took ~0.5 s of every start-up.
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _LineLoader(_SafeLoader):  # type: ignore[misc,valid-type]
    """SafeLoader that records the line of every mapping key (1-based) in `__lines__`."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        mapping = super().construct_mapping(node, deep=deep)
        mapping["__lines__"] = {key_node.value: key_node.start_mark.line + 1 for key_node, _ in node.value}
        mapping["__line__"] = node.start_mark.line + 1
        return mapping


def _read_yaml(path: Path, problems: list[Problem]) -> Any:
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_LineLoader)  # noqa: S506
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark else None
        problems.append(Problem(path.name, None, None, f"YAML error: {exc.problem}", line))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        problems.append(Problem(path.name, None, None, f"cannot read: {exc}"))
    return None


def read_mapping(path: Path, problems: list[Problem], what: str) -> dict[str, Any] | None:
    """A data file that must be a YAML mapping (keys' lines in `__lines__`); None after reporting why not.

    For every data file of knowledge/ (links, ui, vocabulary, rich menus): `what` names its content."""
    if not path.exists():
        problems.append(Problem(path.name, None, None, "file is missing"))
        return None
    data = _read_yaml(path, problems)
    if data is None:
        return None
    if not isinstance(data, dict):
        problems.append(Problem(path.name, None, None, f"must be a mapping of {what}"))
        return None
    return data


def _load_links(path: Path, problems: list[Problem]) -> dict[str, dict[str, Link]] | None:
    """Read links.yaml into {name: {lang: Link}}; None when the file itself is unusable."""
    data = read_mapping(path, problems, "link names")
    if data is None:
        return None
    links: dict[str, dict[str, Link]] = {}
    lines = data.get("__lines__", {})
    for name, spec in data.items():
        if name.startswith("__"):
            continue
        line = lines.get(name)
        if not isinstance(spec, dict):
            problems.append(Problem(path.name, name, None, "must be a mapping", line))
            continue
        url = spec.get("url")
        # One URL ("{lang}" becomes ja or en), or one per language for a site that names its languages
        # otherwise (developers.worksmobile.com/jp/ is its Japanese).
        if isinstance(url, dict):
            url = {k: v for k, v in url.items() if not str(k).startswith("__")}
        urls = url if isinstance(url, dict) and set(url) == set(LANGS) else dict.fromkeys(LANGS, url)
        if not all(isinstance(u, str) and u.startswith("https://") for u in urls.values()):
            message = "must be an https:// URL, or one for each of " + ", ".join(LANGS)
            problems.append(Problem(path.name, name, "url", message, line))
            continue
        per_lang: dict[str, Link] = {}
        for lang in LANGS:
            label = spec.get(lang)
            if not isinstance(label, str) or not label.strip():
                problems.append(Problem(path.name, name, lang, "label is missing", line))
            elif len(label) > LINK_LABEL_MAX:
                problems.append(Problem(path.name, name, lang, f"label is over {LINK_LABEL_MAX} characters", line))
            else:
                per_lang[lang] = Link(urls[lang].replace("{lang}", lang), label.strip())
        if len(per_lang) == len(LANGS):
            links[name] = per_lang
    return links


def _kind(value: Any) -> str:
    """How a wrong YAML value is named in a message: "a list", "a mapping", "a number"."""
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return "a number" if isinstance(value, int | float) else f"a {type(value).__name__}"


def _str_list(value: Any) -> list[str] | None:
    if isinstance(value, list) and all(isinstance(v, str | int) for v in value):
        return [str(v) for v in value]
    return None


def _parse_text(raw: Any, report: Any, lang: str, line: int | None) -> Text | None:
    if not isinstance(raw, dict):
        report(lang, "language section is missing", line)
        return None
    lines = raw.get("__lines__", {})
    for key in raw:
        if not key.startswith("__") and key not in _TEXT_KEYS:
            report(f"{lang}.{key}", "unknown field", lines.get(key, line))
    ok = True
    values: dict[str, Any] = {}
    for key in ("title", "label", "summary"):
        value = raw.get(key)
        if value is not None and not isinstance(value, str):
            report(f"{lang}.{key}", f"must be a text, got {_kind(value)}", lines.get(key, line))
            ok = False
        elif not isinstance(value, str) or not value.strip():
            report(f"{lang}.{key}", "is missing or empty", lines.get(key, line))
            ok = False
        else:
            values[key] = " ".join(value.split()) if key != "summary" else value.strip()
    if ok and len(values["label"]) > LABEL_MAX:
        report(f"{lang}.label", f"is over {LABEL_MAX} characters", lines.get("label", line))
        ok = False
    for key in ("steps", "aliases"):
        items = _str_list(raw.get(key, []))
        if items is None or any(not s.strip() for s in items):
            report(f"{lang}.{key}", "must be a list of non-empty texts", lines.get(key, line))
            ok = False
        elif key == "aliases" and "aliases" in raw and not items:
            report(
                f"{lang}.aliases",
                "is an empty list: list at least one alias, or leave the field out",
                lines.get(key, line),
            )
            ok = False
        elif key == "aliases" and any(s.strip() == "=" for s in items):
            report(f"{lang}.aliases", 'an alias "=" needs text after the "="', lines.get(key, line))
            ok = False
        else:
            values[key] = tuple(s.strip() for s in items)
    return Text(**values) if ok else None


def _parse_entry(
    raw: Any, file: str, links: dict[str, dict[str, Link]] | None, problems: list[Problem]
) -> Entry | None:
    """One entry, or None after reporting its problems (links None: links.yaml is unusable, not judged)."""
    if not isinstance(raw, dict):
        problems.append(Problem(file, None, None, "an entry must be a mapping"))
        return None
    entry_line = raw.get("__line__")
    lines = raw.get("__lines__", {})
    entry_id = raw.get("id")
    name = entry_id if isinstance(entry_id, str) else f"#{entry_line}"
    count = len(problems)

    def report(fld: str | None, message: str, line: int | None = None) -> None:
        problems.append(Problem(file, name, fld, message, line or entry_line))

    if not isinstance(entry_id, str) or not _ID_RE.match(entry_id):
        report("id", "is missing or not of the form area.name", lines.get("id"))
    for key in raw:
        if not key.startswith("__") and key not in _ENTRY_KEYS:
            report(key, "unknown field", lines.get(key))
    audience = raw.get("audience")
    if audience not in AUDIENCES:
        report("audience", f"must be one of {', '.join(AUDIENCES)}", lines.get("audience"))
    for key in ("code", "detail", "reason"):
        if key in raw and (not isinstance(raw[key], str) or not raw[key].strip()):
            report(key, "must be a non-empty text", lines.get(key))
    status = _str_list(raw.get("status", []))
    if status is None or not all(_STATUS_RE.match(s) for s in status):
        report("status", "must list codes such as 404, 5xx or other", lines.get("status"))
        status = []
    also_status = _str_list(raw.get("also_status", []))
    if also_status is None or not all(_STATUS_RE.match(s) and s != "other" for s in also_status):
        report("also_status", "must list codes such as 400 or 4xx", lines.get("also_status"))
        also_status = []
    for key in ("howto", "alone"):
        if not isinstance(raw.get(key, False), bool):
            report(key, "must be true or false", lines.get(key))
    link_names = _str_list(raw.get("links"))
    if link_names is None or not 1 <= len(link_names) <= 3:
        report("links", "must list 1 to 3 link names from links.yaml", lines.get("links"))
        link_names = []
    for link_name in link_names if links is not None else ():
        if link_name not in links:
            report("links", f"unknown link {link_name!r} (not in links.yaml)", lines.get("links"))
    related = _str_list(raw.get("related", []))
    if related is None:
        report("related", "must be a list of entry ids", lines.get("related"))
        related = []
    texts = {lang: _parse_text(raw.get(lang), report, lang, lines.get(lang)) for lang in LANGS}
    if len(problems) > count or links is None:
        return None
    return Entry(
        id=entry_id,
        audience=audience,
        text={lang: t for lang, t in texts.items() if t is not None},
        links={lang: tuple(links[n][lang] for n in link_names) for lang in LANGS},
        related=tuple(related),
        code=raw.get("code"),
        detail=raw.get("detail"),
        reason=raw.get("reason"),
        status=tuple(status),
        also_status=tuple(also_status),
        howto=raw.get("howto") is True,
        alone=raw.get("alone") is True,
        source=f"{file}:{entry_line}",
    )


def _cross_check(entries: dict[str, Entry], named: set[str], problems: list[Problem]) -> None:
    """Checks that need every entry: related ids, reasons of details, exact strings.

    `named` holds every id written in the files, valid or not, so one broken entry is
    reported once, not again by every entry that relates to it."""
    codes = {e.code for e in entries.values() if e.code}
    seen_exact: dict[str, str] = {}
    for entry in entries.values():
        file, _, line = entry.source.partition(":")
        at = int(line) if line.isdigit() else None
        for rel in entry.related:
            if rel not in named:
                problems.append(Problem(file, entry.id, "related", f"unknown entry id {rel!r}", at))
            elif rel == entry.id:
                problems.append(Problem(file, entry.id, "related", "an entry cannot relate to itself", at))
        if entry.reason and entry.reason not in codes:
            problems.append(Problem(file, entry.id, "reason", f"unknown reason code {entry.reason!r}", at))
        for exact in (entry.code, entry.detail):
            if not exact:
                continue
            key = "".join(ch for ch in exact.casefold() if ch.isalnum())
            other = seen_exact.setdefault(key, entry.id)
            if other != entry.id:
                problems.append(Problem(file, entry.id, "detail", f"{exact!r} is already used by {other}", at))


def _load_ui(path: Path, named: set[str], problems: list[Problem]) -> UI | None:
    """Read ui.yaml; every id must name an entry written in the files, every string must be there."""
    data = read_mapping(path, problems, "ids and strings")
    if data is None:
        return None
    count = len(problems)

    def report(fld: str, message: str, line: int | None = None) -> None:
        problems.append(Problem(path.name, None, fld, message, line))

    ids = data.get("ids")
    if not isinstance(ids, dict):
        keys = "help, other_status, elsewhere and suggestions"
        report("ids", f"is missing (a mapping of {keys})", data["__lines__"].get("ids"))
        ids = {}
    id_lines = ids.get("__lines__", {})
    for key in ("help", "other_status", "elsewhere"):
        value = ids.get(key)
        if not isinstance(value, str) or value not in named:
            report(f"ids.{key}", f"must name an entry, got {value!r}", id_lines.get(key))
    suggestions = _str_list(ids.get("suggestions"))
    if not suggestions or any(s not in named for s in suggestions):
        report("ids.suggestions", f"must list entry ids, got {ids.get('suggestions')!r}", id_lines.get("suggestions"))
    strings = data.get("strings")
    if not isinstance(strings, dict):
        report("strings", "is missing (a mapping of ja and en)", data["__lines__"].get("strings"))
        strings = {}
    texts: dict[str, dict[str, str]] = {}
    for lang in LANGS:
        section = strings.get(lang)
        if not isinstance(section, dict):
            report(f"strings.{lang}", "language section is missing", strings.get("__lines__", {}).get(lang))
            continue
        lines = section.get("__lines__", {})
        for key in section:
            if not key.startswith("__") and key not in UI_STRINGS:
                report(f"strings.{lang}.{key}", "unknown string (the code does not use it)", lines.get(key))
        for key in UI_STRINGS:
            value = section.get(key)
            if not isinstance(value, str) or not value.strip():
                report(f"strings.{lang}.{key}", "is missing or empty", section.get("__line__"))
            elif key in UI_PLACEHOLDERS and UI_PLACEHOLDERS[key] not in value:
                report(f"strings.{lang}.{key}", f"must contain {UI_PLACEHOLDERS[key]}", lines.get(key))
        texts[lang] = {k: " ".join(str(v).split()) for k, v in section.items() if k in UI_STRINGS}
    numbers = data.get("numbers", {})  # optional
    around: list[tuple[str, ...]] = []
    for side in ("before", "after"):
        words = _str_list(numbers.get(side, [])) if isinstance(numbers, dict) else None
        if words is None or any(not w.strip() or any(c.isdigit() for c in w) for w in words):
            line = numbers.get("__lines__", {}).get(side) if isinstance(numbers, dict) else None
            report(
                f"numbers.{side}", "must be a list of words without digits", line or data["__lines__"].get("numbers")
            )
            words = []
        around.append(tuple(words))
    if len(problems) > count:
        return None
    return UI(
        ids["help"], ids["other_status"], ids["elsewhere"], tuple(suggestions or ()), texts, (around[0], around[1])
    )


def load(directory: str | Path | None = None) -> KnowledgeBase:
    """Load and validate a knowledge directory; raise KnowledgeError listing every problem.

    This checks the data only; bot.limits checks what LINE would refuse once entries are rendered."""
    root = Path(directory) if directory else DEFAULT_DIR
    problems: list[Problem] = []
    if not root.is_dir():
        raise KnowledgeError([Problem(str(root), None, None, "knowledge directory not found")])
    links = _load_links(root / LINKS_FILE, problems)
    entries: dict[str, Entry] = {}
    named: set[str] = set()
    digest = hashlib.sha256()
    files = sorted(p for p in root.glob("*.yaml") if p.name not in DATA_FILES)
    if not files:
        problems.append(Problem(str(root), None, None, "no entry files (*.yaml) found"))
    for path in sorted(root.glob("*.yaml")):  # every data file counts toward the version
        if path.exists():
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    unread = False  # a file that cannot be read hides ids: references to them are not judged
    for path in files:
        data = _read_yaml(path, problems)
        if data is None:
            unread = True
            continue
        if not isinstance(data, list):
            problems.append(Problem(path.name, None, None, "must be a list of entries"))
            continue
        for raw in data:
            if isinstance(raw, dict) and isinstance(raw.get("id"), str):
                named.add(raw["id"])
            entry = _parse_entry(raw, path.name, links, problems)
            if entry is None:
                continue
            if entry.id in entries:
                problems.append(
                    Problem(
                        path.name,
                        entry.id,
                        "id",
                        f"duplicate id (first defined at {entries[entry.id].source})",
                        raw.get("__line__"),
                    )
                )
                continue
            entries[entry.id] = entry
    if unread or links is None:
        raise KnowledgeError(problems)  # the rest would only echo the unreadable file
    _cross_check(entries, named, problems)
    ui = _load_ui(root / UI_FILE, named, problems)
    if problems or ui is None:
        raise KnowledgeError(problems)
    return KnowledgeBase(entries=entries, version=digest.hexdigest()[:12], ui=ui, root=root)
