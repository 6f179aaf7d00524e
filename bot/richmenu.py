"""The bot's rich menus: knowledge/richmenu.yaml loaded and checked, the LINE request bodies built from it
(pure), and `python -m bot richmenu` sending them through the SDK's MessagingApi and MessagingApiBlob."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import struct
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from bot import render
from bot.config import ConfigError, base_url
from bot.knowledge import DEFAULT_DIR, LANGS, KnowledgeBase, KnowledgeError, Problem, read_mapping

FILE = "richmenu.yaml"
IMAGE_DIR = "richmenu"  # knowledge/richmenu/<lang>.png, drawn by scripts/draw_richmenu.py
WIDTH, HEIGHT = 2500, 843  # LINE's compact full-width size
MAX_IMAGE_BYTES = 1024 * 1024  # LINE refuses images of 1 MB or more
MAX_AREAS = 20
LABEL_MAX = 20  # a postback action's label
NOTE_MAX = 40
CHAT_BAR_MAX = 14
NAME_MAX = 300
DIGEST_KEY = "line-error-bot-labels"  # PNG text chunk: what the image was drawn from
SWITCH_PREFIX = "language="


@dataclass(frozen=True)
class Area:
    """One tappable area: a label (and note) on the image, and the postback it sends."""

    label: str
    note: str
    topic: str | None = None
    language: str | None = None
    keyboard: bool = False


@dataclass(frozen=True)
class Menu:
    """One language's menu."""

    lang: str
    name: str
    chat_bar: str
    areas: tuple[Area, ...]


@dataclass(frozen=True)
class RichMenus:
    """Both menus, the default language and the grid they are laid out in."""

    default: str
    columns: int
    menus: dict[str, Menu]
    root: Path

    def names(self) -> dict[str, str]:
        """Each language's menu name, which is how the bot finds its menus on LINE."""
        return {lang: menu.name for lang, menu in self.menus.items()}

    def image_path(self, lang: str) -> Path:
        return self.root / IMAGE_DIR / f"{lang}.png"


# -- loading ----------------------------------------------------------------------------------


def load(directory: str | Path | None, kb: KnowledgeBase, images: bool = True) -> RichMenus:
    """Read and check richmenu.yaml (and, with `images`, the committed PNGs); raise KnowledgeError."""
    root = Path(directory) if directory else DEFAULT_DIR
    path = root / FILE
    problems: list[Problem] = []

    def report(fld: str | None, message: str, line: int | None = None) -> None:
        problems.append(Problem(FILE, None, fld, message, line))

    data = read_mapping(path, problems, "default, columns and menus")
    if data is None:
        raise KnowledgeError(problems)
    lines = data["__lines__"]
    default = data.get("default")
    if default not in LANGS:
        report("default", f"must be one of {', '.join(LANGS)}, got {default!r}", lines.get("default"))
    columns = data.get("columns")
    if not isinstance(columns, int) or isinstance(columns, bool) or not 1 <= columns <= MAX_AREAS:
        report("columns", f"must be a whole number from 1 to {MAX_AREAS}, got {columns!r}", lines.get("columns"))
        columns = 1
    raw_menus = data.get("menus")
    if not isinstance(raw_menus, dict) or set(_keys(raw_menus)) != set(LANGS):
        report("menus", f"must be a mapping with exactly {' and '.join(LANGS)}", lines.get("menus"))
        raw_menus = {}
    menus = {lang: _menu(lang, raw_menus[lang], kb, report) for lang in LANGS if lang in raw_menus}
    names = [m.name for m in menus.values() if m]
    if len(set(names)) != len(names):
        report("menus", "each menu needs its own name (the name is how its old copy is found)", lines.get("menus"))
    found = RichMenus(str(default), columns, {k: m for k, m in menus.items() if m}, root)
    if images and not problems:
        for lang, menu in found.menus.items():
            _check_image(found, menu, report, lang)
    if problems:
        raise KnowledgeError(problems)
    return found


def load_if_present(directory: str | Path | None, kb: KnowledgeBase) -> RichMenus | None:
    """The menus for the web process (images not read), or None when there is no richmenu.yaml."""
    root = Path(directory) if directory else DEFAULT_DIR
    return load(root, kb, images=False) if (root / FILE).exists() else None


def _keys(mapping: dict[str, Any]) -> list[str]:
    """A mapping's own keys, without the line numbers the YAML loader adds."""
    return [k for k in mapping if not k.startswith("__")]


def _text(value: Any, limit: int) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() and len(value.strip()) <= limit else None


def _menu(lang: str, raw: Any, kb: KnowledgeBase, report: Any) -> Menu | None:
    at = f"menus.{lang}"
    if not isinstance(raw, dict):
        report(at, "must be a mapping with name, chat_bar and areas")
        return None
    count = 0
    lines = raw["__lines__"]

    def bad(fld: str, message: str, line: int | None = None) -> None:
        nonlocal count
        count += 1
        report(f"{at}.{fld}", message, line or lines.get(fld.split(".")[0].split("[")[0]))

    for key in _keys(raw):
        if key not in {"name", "chat_bar", "areas"}:
            bad(key, "unknown field")
    name = _text(raw.get("name"), NAME_MAX)
    if name is None:
        bad("name", f"must be a text of 1 to {NAME_MAX} characters")
    chat_bar = _text(raw.get("chat_bar"), CHAT_BAR_MAX)
    if chat_bar is None:
        bad("chat_bar", f"must be a text of 1 to {CHAT_BAR_MAX} characters")
    raw_areas = raw.get("areas")
    if not isinstance(raw_areas, list) or not 1 <= len(raw_areas) <= MAX_AREAS:
        bad("areas", f"must list 1 to {MAX_AREAS} areas")
        raw_areas = []
    areas = []
    for i, item in enumerate(raw_areas):
        where = f"areas[{i}]"
        if not isinstance(item, dict):
            bad(where, "must be a mapping with label and topic or language")
            continue

        def here(key: str, item: dict[str, Any] = item) -> int:
            return item["__lines__"].get(key, item["__line__"])

        for key in _keys(item):
            if key not in {"label", "note", "topic", "language", "keyboard"}:
                bad(f"{where}.{key}", "unknown field", here(key))
        label = _text(item.get("label"), LABEL_MAX)
        if label is None:
            bad(f"{where}.label", f"must be a text of 1 to {LABEL_MAX} characters", here("label"))
        note = item.get("note", "")
        if note and _text(note, NOTE_MAX) is None:
            bad(f"{where}.note", f"must be a text of at most {NOTE_MAX} characters", here("note"))
        topic, language = item.get("topic"), item.get("language")
        if (topic is None) == (language is None):
            bad(where, "needs exactly one of topic (an entry id) or language (ja or en)", item["__line__"])
        elif topic is not None and (not isinstance(topic, str) or topic not in kb):  # a list: unhashable
            bad(f"{where}.topic", f"unknown entry id {topic!r}", here("topic"))
        elif language is not None and (language not in LANGS or language == lang):
            other = [code for code in LANGS if code != lang]
            bad(
                f"{where}.language",
                f"must be another menu's language ({', '.join(other)}), got {language!r}",
                here("language"),
            )
        keyboard = item.get("keyboard", False)
        if not isinstance(keyboard, bool):
            bad(f"{where}.keyboard", "must be true or false", here("keyboard"))
        if label:
            areas.append(Area(label, str(note or "").strip(), topic, language, keyboard is True))
    if count:
        return None
    return Menu(lang, str(name), str(chat_bar), tuple(areas))


def _check_image(menus: RichMenus, menu: Menu, report: Any, lang: str) -> None:
    """The committed PNG: there, LINE's size, under 1 MB, and drawn from the current labels."""
    path = menus.image_path(lang)
    where = f"menus.{lang} image {path.relative_to(menus.root)}"
    try:
        data = path.read_bytes()
    except OSError:
        report(where, "is missing: run `make richmenu-images`")
        return
    facts = png_facts(data)
    if facts is None:
        report(where, "is not a PNG file")
        return
    width, height, text = facts
    if (width, height) != (WIDTH, HEIGHT):
        report(where, f"is {width}x{height}, must be {WIDTH}x{HEIGHT}")
    if len(data) >= MAX_IMAGE_BYTES:
        report(where, f"is {len(data)} bytes, must be under {MAX_IMAGE_BYTES}")
    if text.get(DIGEST_KEY) != labels_digest(menus, menu):
        report(where, "was drawn from other labels: run `make richmenu-images` and commit the images")


def png_facts(data: bytes) -> tuple[int, int, dict[str, str]] | None:
    """(width, height, tEXt chunks) of a PNG, or None when it is not one.

    Read with the standard library, not Pillow: Pillow is a maintainer tool (requirements-dev.txt),
    and `python -m bot richmenu` runs on the deployed app, which has no Pillow."""
    if not data.startswith(b"\x89PNG\r\n\x1a\n") or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    text: dict[str, str] = {}
    pos = 8
    while pos + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if kind == b"tEXt":
            key, _, value = data[pos + 8 : pos + 8 + size].partition(b"\0")
            text[key.decode("latin-1")] = value.decode("latin-1")
        if kind == b"IEND":
            break
        pos += 12 + size
    return width, height, text


def labels_digest(menus: RichMenus, menu: Menu) -> str:
    """A short hash of what an image shows (labels, notes, grid), stored in the PNG it was drawn into."""
    shown = [menus.columns, WIDTH, HEIGHT, [[a.label, a.note] for a in menu.areas]]
    return hashlib.sha256(json.dumps(shown, ensure_ascii=False).encode()).hexdigest()[:16]


# -- request bodies (pure) ---------------------------------------------------------------------


def bounds(count: int, columns: int) -> list[tuple[int, int, int, int]]:
    """(x, y, width, height) of `count` areas in a grid: rows of `columns`, a short last row stretched."""
    rows = -(-count // columns)
    out = []
    for i in range(count):
        row, col = divmod(i, columns)
        in_row = min(columns, count - row * columns)
        x0, x1 = col * WIDTH // in_row, (col + 1) * WIDTH // in_row
        y0, y1 = row * HEIGHT // rows, (row + 1) * HEIGHT // rows
        out.append((x0, y0, x1 - x0, y1 - y0))
    return out


def switch_data(lang: str) -> str:
    """Postback data of a "switch the menu to this language" area."""
    return f"{SWITCH_PREFIX}{lang}"


def parse_switch(data: str) -> str | None:
    """The language a menu-switch postback asks for, or None when it is not one."""
    lang = data[len(SWITCH_PREFIX) :] if data.startswith(SWITCH_PREFIX) else None
    return lang if lang in LANGS else None


def area_data(area: Area, lang: str) -> str:
    """The postback data an area sends: a topic in the menu's language, or a language switch."""
    return render.postback_data(area.topic, lang) if area.topic else switch_data(str(area.language))


def request_body(menus: RichMenus, lang: str) -> dict[str, Any]:
    """The create-rich-menu request for one language, as LINE takes it (camelCase)."""
    menu = menus.menus[lang]
    areas = []
    for area, (x, y, w, h) in zip(menu.areas, bounds(len(menu.areas), menus.columns), strict=True):
        action: dict[str, Any] = {
            "type": "postback",
            "label": area.label,
            "data": area_data(area, lang),
            "displayText": area.label,
        }
        if area.keyboard:
            action["inputOption"] = "openKeyboard"
        areas.append({"bounds": {"x": x, "y": y, "width": w, "height": h}, "action": action})
    return {
        "size": {"width": WIDTH, "height": HEIGHT},
        "selected": True,  # shown open on a new chat: the point is that people see what the bot does
        "name": menu.name,
        "chatBarText": menu.chat_bar,
        "areas": areas,
    }


def menu_language(profile_language: str | None) -> str | None:
    """The menu for a profile's language: Japanese for ja, English for any other, None when unknown.

    The bot speaks two languages; a reader of neither is likelier to read English."""
    if not profile_language:
        return None
    return "ja" if profile_language.lower().startswith("ja") else "en"


# -- sending (the CLI's network edge) ----------------------------------------------------------


@dataclass(frozen=True)
class Endpoints:
    """Where the requests go: the Messaging API and the data API (image uploads)."""

    api: str = "https://api.line.me"
    data: str = "https://api-data.line.me"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Endpoints:
        """LINE_API_BASE_URL and LINE_DATA_API_BASE_URL, defaulting to LINE's own hosts."""
        env = os.environ if env is None else env
        found = {}
        for name, key, default in (("LINE_API_BASE_URL", "api", cls.api), ("LINE_DATA_API_BASE_URL", "data", cls.data)):
            try:
                found[key] = base_url(env, name, default)
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
        return cls(**found)


class Line:
    """The SDK calls setting up menus needs, with one timeout; nothing else reaches LINE."""

    def __init__(self, token: str, endpoints: Endpoints, timeout: float = 20.0) -> None:
        from linebot.v3.messaging import ApiClient, Configuration, MessagingApi, MessagingApiBlob

        # The blob API's uploads go to the data host; each client has its own base URL.
        self._clients = [
            ApiClient(Configuration(host=endpoints.api, access_token=token)),
            ApiClient(Configuration(host=endpoints.data, access_token=token)),
        ]
        self._api = MessagingApi(self._clients[0])
        self._blob = MessagingApiBlob(self._clients[1])
        self._timeout = timeout

    def list_menus(self) -> list[tuple[str, str]]:
        """(id, name) of every rich menu of the channel."""
        found = self._api.get_rich_menu_list(_request_timeout=self._timeout)
        return [(m.rich_menu_id, m.name) for m in found.richmenus or []]

    def create(self, body: dict[str, Any]) -> str:
        from linebot.v3.messaging import RichMenuRequest

        made = self._api.create_rich_menu(RichMenuRequest.from_dict(body), _request_timeout=self._timeout)
        return str(made.rich_menu_id)

    def upload(self, menu_id: str, png: bytes) -> None:
        self._blob.set_rich_menu_image(
            menu_id, png, _headers={"Content-Type": "image/png"}, _request_timeout=self._timeout
        )

    def set_default(self, menu_id: str) -> None:
        self._api.set_default_rich_menu(menu_id, _request_timeout=self._timeout)

    def delete(self, menu_id: str) -> None:
        self._api.delete_rich_menu(menu_id, _request_timeout=self._timeout)

    def move_users(self, moves: dict[str, str], wait: float = 60.0, interval: float = 1.0) -> str:
        """Relink every user linked to an old menu to its new one (LINE's batch link: `from` -> `to`).

        LINE runs the batch in the background; this waits for its phase: 'succeeded', 'failed', or
        'ongoing' when `wait` seconds pass first."""
        from linebot.v3.messaging import RichMenuBatchRequest

        operations = [{"type": "link", "from": old, "to": new} for old, new in moves.items()]
        sent = self._api.rich_menu_batch_with_http_info(
            RichMenuBatchRequest.from_dict({"operations": operations}), _request_timeout=self._timeout
        )
        request_id = {k.lower(): v for k, v in (sent.headers or {}).items()}.get("x-line-request-id", "")
        deadline = time.monotonic() + wait
        while True:
            phase = self._api.get_rich_menu_batch_progress(request_id, _request_timeout=self._timeout).phase.value
            if phase != "ongoing" or time.monotonic() >= deadline:
                return str(phase)
            time.sleep(interval)  # LINE offers no push for a batch's end: poll, as its docs say

    def close(self) -> None:
        for client in self._clients:
            client.close()


def dry_run(menus: RichMenus, endpoints: Endpoints, out: TextIO) -> None:
    """Print the requests `apply` would send, sending none."""
    names = ", ".join(repr(n) for n in menus.names().values())
    print(f"GET {endpoints.api}/v2/bot/richmenu/list  (finds the old menus named {names})", file=out)
    for lang in menus.menus:
        body = json.dumps(request_body(menus, lang), ensure_ascii=False, indent=2)
        print(f"POST {endpoints.api}/v2/bot/richmenu\n{body}", file=out)
        png = menus.image_path(lang).read_bytes()
        print(
            f"POST {endpoints.data}/v2/bot/richmenu/<{lang} id>/content  image/png {len(png)} bytes "
            f"({menus.image_path(lang).relative_to(menus.root)})",
            file=out,
        )
    print(f"POST {endpoints.api}/v2/bot/user/all/richmenu/<{menus.default} id>  (the default menu)", file=out)
    print(f"POST {endpoints.api}/v2/bot/richmenu/batch  (link the users of each old menu to its new one)", file=out)
    print(f"GET {endpoints.api}/v2/bot/richmenu/progress/batch?requestId=<its request id>  (until done)", file=out)
    print(f"DELETE {endpoints.api}/v2/bot/richmenu/<old id>  for each old menu named {names}", file=out)


def apply(menus: RichMenus, line: Line, out: TextIO) -> dict[str, str]:
    """Create both menus with their images, make the default one default, move the users of the old
    copies to the new ones, then delete the old copies.

    The new menus are complete before anything old goes, so users always have a menu. Only menus
    named as in richmenu.yaml are deleted; others on the channel are left alone."""
    names = set(menus.names().values())
    old = [(menu_id, name) for menu_id, name in line.list_menus() if name in names]
    made: dict[str, str] = {}
    try:
        for lang in menus.menus:
            made[lang] = line.create(request_body(menus, lang))
            line.upload(made[lang], menus.image_path(lang).read_bytes())
            print(f"created {lang} menu {menus.menus[lang].name!r}: {made[lang]}", file=out)
        line.set_default(made[menus.default])
    except Exception:
        for menu_id in made.values():  # no half-made menu left behind (one without an image is unusable)
            with contextlib.suppress(Exception):  # the first error is the one to report
                line.delete(menu_id)
        raise
    print(f"default menu: {menus.default} ({made[menus.default]})", file=out)
    if not old:
        return made
    # Users linked to an old menu (those who chose English) would fall back to the default when it is
    # deleted: move them to the new menu of the same language first.
    by_name = {menu.name: lang for lang, menu in menus.menus.items()}
    phase = line.move_users({menu_id: made[by_name[name]] for menu_id, name in old})
    if phase != "succeeded":
        print(f"moving users to the new menus: {phase}; old menus kept (the next run retries)", file=out)
        return made
    for menu_id, name in old:
        line.delete(menu_id)
        print(f"deleted old menu {name!r}: {menu_id}", file=out)
    return made


def run(menus: RichMenus, dry: bool, out: TextIO, err: TextIO, env: Mapping[str, str] | None = None) -> int:
    """`python -m bot richmenu [--dry-run]`: 0 when done, 1 when LINE refused, 2 when settings are wrong."""
    env = os.environ if env is None else env
    try:
        endpoints = Endpoints.from_env(env)
    except ValueError as exc:
        print(f"richmenu: {exc}", file=err)
        return 2
    if dry:
        dry_run(menus, endpoints, out)
        return 0
    token = env.get("LINE_CHANNEL_ACCESS_TOKEN", "").strip()
    if not token:
        print("richmenu: set LINE_CHANNEL_ACCESS_TOKEN (or use --dry-run to see the requests)", file=err)
        return 2
    from linebot.v3.messaging import ApiException

    line = Line(token, endpoints)
    try:
        apply(menus, line, out)
    except ApiException as exc:
        body = exc.body.decode("utf-8", "replace") if isinstance(exc.body, bytes) else exc.body
        print(f"richmenu: LINE answered {exc.status} {exc.reason}: {body}", file=err)
        return 1
    except Exception as exc:  # noqa: BLE001 - connection refused, timeouts: one line, not a traceback
        print(f"richmenu: {type(exc).__name__}: {exc}", file=err)
        return 1
    finally:
        line.close()
    return 0
