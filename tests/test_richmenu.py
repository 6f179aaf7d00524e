"""Rich menus: `python -m bot richmenu` against a fake LINE API (Messaging API and data API, both on
127.0.0.1), the committed images, the loader's errors, and every area's postback through the webhook."""

from __future__ import annotations

import io
import itertools
import json
import logging
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import TOKEN, LocalServer, post, replies, settings_for, text_event, wait_for
from PIL import Image
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from bot import cli, knowledge, richmenu
from bot.app import create_app
from bot.render import parse_postback

USER = "U0123456789abcdef0123456789abcdef"  # conftest's text_event user
FOREIGN = {  # a menu someone else made on the same channel: never touched
    "richMenuId": "richmenu-not-ours",
    "size": {"width": 2500, "height": 1686},
    "selected": False,
    "name": "campaign menu",
    "chatBarText": "Campaign",
    "areas": [],
}


class FakeRichMenus:
    """LINE's rich-menu endpoints as a small state machine, recording every call in order."""

    def __init__(self, api: HTTPServer, data: HTTPServer, existing: list[dict[str, Any]], profile: Any = None) -> None:
        self.menus = {m["richMenuId"]: m for m in existing}
        self.with_image = set(self.menus)
        self.default: str | None = None
        self.calls: list[tuple[str, str]] = []
        self.bodies: list[Any] = []
        self.headers: list[dict[str, str]] = []
        self.profile = profile
        self.batch_phase = "succeeded"
        self.links: dict[str, str] = {}  # user -> menu id (per-user links)
        self._ids = (f"richmenu-new-{n}" for n in itertools.count(1))
        api.expect_request("/v2/bot/richmenu/list", method="GET").respond_with_handler(self._list)
        api.expect_request("/v2/bot/richmenu/batch", method="POST").respond_with_handler(self._batch)
        api.expect_request("/v2/bot/richmenu/progress/batch", method="GET").respond_with_handler(self._progress)
        api.expect_request("/v2/bot/richmenu", method="POST").respond_with_handler(self._create)
        user_all = re.compile(r"^/v2/bot/user/all/richmenu/[^/]+$")
        api.expect_request(user_all, method="POST").respond_with_handler(self._set_default)
        user_link = re.compile(r"^/v2/bot/user/U[0-9a-f]+/richmenu/[^/]+$")
        api.expect_request(user_link, method="POST").respond_with_handler(self._link)
        api.expect_request(re.compile(r"^/v2/bot/richmenu/[^/]+$"), method="DELETE").respond_with_handler(self._delete)
        api.expect_request(re.compile(r"^/v2/bot/profile/[^/]+$"), method="GET").respond_with_handler(self._profile)
        content = re.compile(r"^/v2/bot/richmenu/[^/]+/content$")
        data.expect_request(content, method="POST").respond_with_handler(self._upload)
        self.data_url = data.url_for("/").rstrip("/")

    def _record(self, request: Request, body: Any = None) -> None:
        host = "data" if request.host_url.rstrip("/") == self.data_url else "api"
        self.calls.append((request.method, f"{host}:{request.path}"))
        self.bodies.append(body)
        self.headers.append(dict(request.headers))

    @staticmethod
    def _json(payload: Any, status: int = 200) -> Response:
        return Response(json.dumps(payload), status=status, content_type="application/json")

    def _list(self, request: Request) -> Response:
        self._record(request)
        return self._json({"richmenus": [m for k, m in self.menus.items() if k in self.with_image]})

    def _create(self, request: Request) -> Response:
        body = json.loads(request.get_data())
        self._record(request, body)
        menu_id = next(self._ids)
        self.menus[menu_id] = {"richMenuId": menu_id, **body}
        return self._json({"richMenuId": menu_id})

    def _upload(self, request: Request) -> Response:
        menu_id = request.path.split("/")[-2]
        self._record(request, request.get_data())
        if menu_id not in self.menus:
            return self._json({"message": "Not found"}, 404)
        if menu_id in self.with_image:  # LINE: an image cannot be replaced
            return self._json({"message": "An image has already been uploaded to the richmenu"}, 400)
        self.with_image.add(menu_id)
        return self._json({})

    def _set_default(self, request: Request) -> Response:
        menu_id = request.path.split("/")[-1]
        self._record(request)
        if menu_id not in self.with_image:
            return self._json({"message": "must upload richmenu image before applying it to user"}, 400)
        self.default = menu_id
        return self._json({})

    def _link(self, request: Request) -> Response:
        self._record(request)
        _, user, _, menu_id = request.path.rsplit("/", 3)
        if menu_id not in self.with_image:
            return self._json({"message": "richmenu not found"}, 404)
        self.links[user] = menu_id
        return self._json({})

    def _batch(self, request: Request) -> Response:
        body = json.loads(request.get_data())
        self._record(request, body)
        if self.batch_phase == "succeeded":
            moves = {op["from"]: op["to"] for op in body["operations"] if op["type"] == "link"}
            self.links = {user: moves.get(menu_id, menu_id) for user, menu_id in self.links.items()}
        return Response("{}", status=202, content_type="application/json", headers={"x-line-request-id": "batch-1"})

    def _progress(self, request: Request) -> Response:
        self._record(request, dict(request.args))
        done = {"completedTime": "2026-11-23T11:00:01.000Z"} if self.batch_phase != "ongoing" else {}
        return self._json({"phase": self.batch_phase, "acceptedTime": "2026-11-23T11:00:00.000Z", **done})

    def _delete(self, request: Request) -> Response:
        menu_id = request.path.split("/")[-1]
        self._record(request)
        if self.menus.pop(menu_id, None) is None:
            return self._json({"message": "Not found"}, 404)
        self.with_image.discard(menu_id)
        self.links = {user: m for user, m in self.links.items() if m != menu_id}  # its users fall back
        if self.default == menu_id:
            self.default = None
        return self._json({})

    def _profile(self, request: Request) -> Response:
        self._record(request)
        if self.profile is None:
            return self._json({"message": "Internal error"}, 500)
        if self.profile == "proxy error":  # a gateway's page in front of the API, echoing what was asked
            return Response(f"502 Bad Gateway: upstream failed for GET {request.path}", status=502)
        return self._json({"displayName": "Taro", "userId": USER, "language": self.profile})


@pytest.fixture
def data_api() -> Iterator[HTTPServer]:
    """A second fake: LINE's data API host (api-data.line.me), where images are uploaded."""
    server = LocalServer()
    server.start()
    yield server
    server.clear()
    server.stop()


@pytest.fixture
def menus(kb: knowledge.KnowledgeBase) -> richmenu.RichMenus:
    return richmenu.load(None, kb)


def _run(monkeypatch: pytest.MonkeyPatch, api: HTTPServer, data: HTTPServer, *args: str) -> tuple[int, str, str]:
    monkeypatch.setenv("LINE_CHANNEL_ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv("LINE_API_BASE_URL", api.url_for("/"))
    monkeypatch.setenv("LINE_DATA_API_BASE_URL", data.url_for("/"))
    out, err = io.StringIO(), io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    code = cli.main(["richmenu", *args], out=out)
    return code, out.getvalue(), err.getvalue()


def _ours(menus: richmenu.RichMenus, lang: str, menu_id: str) -> dict[str, Any]:
    return {"richMenuId": menu_id, **richmenu.request_body(menus, lang)}


# -- setting the menus up ------------------------------------------------------------------------


def _check_body(kb: knowledge.KnowledgeBase, body: dict[str, Any], lang: str) -> None:
    """A create request as LINE must get it: the image's size, areas inside it, postbacks the bot answers."""
    assert body["size"] == {"width": 2500, "height": 843}
    assert body["name"] == f"line-error-bot {lang}" and 1 <= len(body["chatBarText"]) <= 14
    covered = 0
    boxes: list[tuple[int, int, int, int]] = []
    topics, switches = set(), set()
    for area in body["areas"]:
        b = area["bounds"]
        assert b["x"] >= 0 and b["y"] >= 0 and b["x"] + b["width"] <= 2500 and b["y"] + b["height"] <= 843, b
        covered += b["width"] * b["height"]
        boxes.append((b["x"], b["y"], b["x"] + b["width"], b["y"] + b["height"]))
        action = area["action"]
        assert action["type"] == "postback" and action["displayText"] == action["label"]
        assert len(action["label"]) <= 20 and len(action["data"]) <= 300
        picked = parse_postback(action["data"])
        if picked:
            assert picked[0] in kb and picked[1] == lang, action["data"]
            topics.add(picked[0])
        else:
            switches.add(richmenu.parse_switch(action["data"]))
    for i, (x0, y0, x1, y1) in enumerate(boxes):  # no two areas overlap
        assert all(x1 <= a0 or a1 <= x0 or y1 <= b0 or b1 <= y0 for a0, b0, a1, b1 in boxes[i + 1 :])
    assert covered == 2500 * 843  # and together they cover the whole image: no dead spot
    assert topics == {"menu.webhook", "menu.messaging_api", "menu.line_app", "menu.check_url", kb.ui.help}
    assert switches == {"en" if lang == "ja" else "ja"}


def test_richmenu_creates_uploads_and_sets_default(
    monkeypatch: pytest.MonkeyPatch, line_api: HTTPServer, data_api: HTTPServer, kb: Any, menus: Any
) -> None:
    fake = FakeRichMenus(line_api, data_api, [FOREIGN])
    code, out, err = _run(monkeypatch, line_api, data_api)
    assert code == 0, err
    assert fake.calls == [
        ("GET", "api:/v2/bot/richmenu/list"),
        ("POST", "api:/v2/bot/richmenu"),
        ("POST", "data:/v2/bot/richmenu/richmenu-new-1/content"),
        ("POST", "api:/v2/bot/richmenu"),
        ("POST", "data:/v2/bot/richmenu/richmenu-new-2/content"),
        ("POST", "api:/v2/bot/user/all/richmenu/richmenu-new-1"),
    ]
    _check_body(kb, fake.bodies[1], "ja")
    _check_body(kb, fake.bodies[3], "en")
    # Through the SDK's models and back, nothing is lost (the keyboard option of the URL area included).
    assert fake.bodies[1] == richmenu.request_body(menus, "ja") and fake.bodies[3] == richmenu.request_body(menus, "en")
    check_url = [a["action"] for a in fake.bodies[1]["areas"] if "menu.check_url" in a["action"]["data"]]
    assert check_url[0]["inputOption"] == "openKeyboard"
    assert fake.bodies[2] == menus.image_path("ja").read_bytes()
    assert fake.bodies[4] == menus.image_path("en").read_bytes()
    assert fake.headers[2]["Content-Type"] == "image/png"
    assert all(h["Authorization"] == f"Bearer {TOKEN}" for h in fake.headers)
    assert fake.default == "richmenu-new-1"
    assert set(fake.menus) == {"richmenu-not-ours", "richmenu-new-1", "richmenu-new-2"}
    assert "created ja menu" in out and "deleted" not in out


def test_second_run_replaces_only_its_own_menus(
    monkeypatch: pytest.MonkeyPatch, line_api: HTTPServer, data_api: HTTPServer, menus: Any
) -> None:
    fake = FakeRichMenus(line_api, data_api, [FOREIGN])
    assert _run(monkeypatch, line_api, data_api)[0] == 0
    first = dict(fake.menus)
    fake.links = {USER: "richmenu-new-2", "Uother": "richmenu-not-ours"}  # one chose English
    fake.calls.clear()
    code, out, _ = _run(monkeypatch, line_api, data_api)
    assert code == 0
    assert fake.calls[-5:] == [
        ("POST", "api:/v2/bot/user/all/richmenu/richmenu-new-3"),  # the new default first: never no menu
        ("POST", "api:/v2/bot/richmenu/batch"),
        ("GET", "api:/v2/bot/richmenu/progress/batch"),
        ("DELETE", "api:/v2/bot/richmenu/richmenu-new-1"),
        ("DELETE", "api:/v2/bot/richmenu/richmenu-new-2"),
    ]
    assert fake.bodies[-4] == {
        "operations": [
            {"type": "link", "from": "richmenu-new-1", "to": "richmenu-new-3"},
            {"type": "link", "from": "richmenu-new-2", "to": "richmenu-new-4"},
        ]
    }
    assert fake.bodies[-3] == {"requestId": "batch-1"}
    assert fake.links == {USER: "richmenu-new-4", "Uother": "richmenu-not-ours"}  # still English
    assert set(fake.menus) == {"richmenu-not-ours", "richmenu-new-3", "richmenu-new-4"}
    assert fake.menus["richmenu-not-ours"] == first["richmenu-not-ours"]
    assert fake.default == "richmenu-new-3" and "deleted old menu 'line-error-bot en'" in out


def test_old_menus_kept_when_moving_users_fails(
    monkeypatch: pytest.MonkeyPatch, line_api: HTTPServer, data_api: HTTPServer, menus: Any
) -> None:
    fake = FakeRichMenus(line_api, data_api, [_ours(menus, "en", "richmenu-old-en")])
    fake.links = {USER: "richmenu-old-en"}
    fake.batch_phase = "failed"
    code, out, _ = _run(monkeypatch, line_api, data_api)
    assert code == 0 and "old menus kept" in out
    assert not [call for call in fake.calls if call[0] == "DELETE"]
    assert fake.links == {USER: "richmenu-old-en"} and fake.default == "richmenu-new-1"


def test_failed_upload_leaves_no_half_made_menu(
    monkeypatch: pytest.MonkeyPatch, line_api: HTTPServer, data_api: HTTPServer, menus: Any
) -> None:
    old = _ours(menus, "ja", "richmenu-old-ja")
    fake = FakeRichMenus(line_api, data_api, [FOREIGN, old])
    fake.with_image.add("richmenu-new-1")  # LINE refuses the upload: "already uploaded"
    code, _, err = _run(monkeypatch, line_api, data_api)
    assert code == 1 and "LINE answered 400" in err
    assert set(fake.menus) == {"richmenu-not-ours", "richmenu-old-ja"}  # the new one deleted, the old kept
    assert fake.default is None


def test_dry_run_sends_nothing(
    monkeypatch: pytest.MonkeyPatch, line_api: HTTPServer, data_api: HTTPServer, kb: Any
) -> None:
    monkeypatch.delenv("LINE_CHANNEL_ACCESS_TOKEN", raising=False)
    out = io.StringIO()
    monkeypatch.setenv("LINE_API_BASE_URL", line_api.url_for("/"))
    monkeypatch.setenv("LINE_DATA_API_BASE_URL", data_api.url_for("/"))
    assert cli.main(["richmenu", "--dry-run"], out=out) == 0
    text = out.getvalue()
    assert not line_api.log and not data_api.log
    assert text.count(f"POST {line_api.url_for('/').rstrip('/')}/v2/bot/richmenu\n") == 2
    assert f"POST {data_api.url_for('/').rstrip('/')}/v2/bot/richmenu/<ja id>/content  image/png" in text
    bodies = [json.loads(b) for b in re.findall(r"^(\{\n.*?\n\})$", text, flags=re.S | re.M)]
    _check_body(kb, bodies[0], "ja")
    _check_body(kb, bodies[1], "en")


def test_no_token_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LINE_CHANNEL_ACCESS_TOKEN", raising=False)
    err = io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    assert cli.main(["richmenu"], out=io.StringIO()) == 2
    assert "LINE_CHANNEL_ACCESS_TOKEN" in err.getvalue()


# -- images and data ------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_committed_images_fit_line(menus: richmenu.RichMenus, lang: str) -> None:
    path = menus.image_path(lang)
    assert path.stat().st_size < 1024 * 1024
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size == (2500, 843)
        # Drawn from the labels now in richmenu.yaml (else: make richmenu-images).
        assert image.text[richmenu.DIGEST_KEY] == richmenu.labels_digest(menus, menus.menus[lang])


def _copy_knowledge(tmp_path: Path) -> Path:
    root = tmp_path / "knowledge"
    shutil.copytree(knowledge.DEFAULT_DIR, root)
    return root


def _validate(root: Path) -> tuple[int, str]:
    out = io.StringIO()
    return cli.main(["validate", str(root)], out=out), out.getvalue()


def test_validate_names_file_and_field(tmp_path: Path) -> None:
    root = _copy_knowledge(tmp_path)
    text = (root / "richmenu.yaml").read_text(encoding="utf-8")
    text = text.replace("topic: menu.webhook", "topic: menu.nope", 1).replace("chat_bar: Menu", "chat_bar: " + "M" * 15)
    (root / "richmenu.yaml").write_text(text, encoding="utf-8")
    code, out = _validate(root)
    assert code == 1
    at = {
        key: text.splitlines().index(line) + 1
        for line in text.splitlines()
        for key in ("menu.nope", "MMM")
        if key in line
    }
    assert f"richmenu.yaml:{at['menu.nope']}: field menus.ja.areas[0].topic: unknown entry id 'menu.nope'" in out
    assert f"richmenu.yaml:{at['MMM']}: field menus.en.chat_bar: must be a text of 1 to 14 characters" in out


def test_validate_names_a_topic_written_as_a_list(tmp_path: Path) -> None:
    # "topic: [menu.webhook]" ended validate (and start-up) in "TypeError: unhashable type: 'list'".
    root = _copy_knowledge(tmp_path)
    text = (root / "richmenu.yaml").read_text(encoding="utf-8")
    text = text.replace("topic: menu.webhook", "topic: [menu.webhook]", 1)
    (root / "richmenu.yaml").write_text(text, encoding="utf-8")
    code, out = _validate(root)
    line = next(n for n, ln in enumerate(text.splitlines(), 1) if "[menu.webhook]" in ln)
    wanted = f"richmenu.yaml:{line}: field menus.ja.areas[0].topic: unknown entry id ['menu.webhook']\n"
    assert (code, out) == (1, wanted)


def test_validate_finds_an_image_not_redrawn(tmp_path: Path) -> None:
    root = _copy_knowledge(tmp_path)
    text = (root / "richmenu.yaml").read_text(encoding="utf-8").replace("label: Help", "label: Help me", 1)
    (root / "richmenu.yaml").write_text(text, encoding="utf-8")
    code, out = _validate(root)
    assert code == 1 and "field menus.en image richmenu/en.png: was drawn from other labels" in out
    (root / "richmenu" / "ja.png").write_bytes(b"GIF89a")
    assert "field menus.ja image richmenu/ja.png: is not a PNG file" in _validate(root)[1]


# -- through the webhook ----------------------------------------------------------------------------


def _postback(data: str) -> dict[str, Any]:
    event = text_event("")
    event.pop("message")
    event.update(type="postback", postback={"data": data})
    return event


def _links(fake: FakeRichMenus) -> list[str]:
    return [path.split("/")[-1] for method, path in fake.calls if "/v2/bot/user/U" in path]


def test_every_area_postback_gets_its_reply(
    client: Any, line_api: HTTPServer, data_api: HTTPServer, kb: Any, menus: Any
) -> None:
    fake = FakeRichMenus(line_api, data_api, [_ours(menus, "ja", "rm-ja"), _ours(menus, "en", "rm-en")])
    sent = 0
    for lang in ("ja", "en"):
        for area in richmenu.request_body(menus, lang)["areas"]:
            post(client, [_postback(area["action"]["data"])])
            sent += 1
            assert wait_for(lambda n=sent: len(replies(line_api)) >= n)
            (message,) = replies(line_api)[-1]["messages"]
            shown = message.get("altText") or message["text"]
            picked = parse_postback(area["action"]["data"])
            if picked:  # the entry the area names, in the menu's language
                entry = kb[picked[0]].text[lang]
                assert shown.startswith(entry.summary if message["type"] == "text" else entry.title)
                assert all(parse_postback(i["action"]["data"])[1] == lang for i in message["quickReply"]["items"])
            else:  # the language switch: the menu in the other language, and that language's menu linked
                other = richmenu.parse_switch(area["action"]["data"])
                assert other != lang and shown.startswith(kb[kb.ui.help].text[other].title)
                assert _links(fake)[-1] == f"rm-{other}"
    assert _links(fake) == ["rm-en", "rm-ja"]  # only the switches link a menu


def _follow(client: Any, line_api: HTTPServer, data_api: HTTPServer, menus: Any, profile: str | None) -> Any:
    """A follow event from a user whose profile language is `profile` (None: the lookup fails): the fake
    LINE API and the one message the bot replied with."""
    fake = FakeRichMenus(line_api, data_api, [_ours(menus, "ja", "rm-ja"), _ours(menus, "en", "rm-en")], profile)
    event = _postback("x")
    event.pop("postback")
    event.update(type="follow", follow={"isUnblocked": False})
    post(client, [event])
    assert wait_for(lambda: len(replies(line_api)) == 1)
    messages = replies(line_api)[0]["messages"]
    assert len(messages) == (2 if profile is None else 1)  # no language known: a line in English follows
    return fake, messages[0]


def test_follow_links_english_menu_for_english_profile(
    client: Any, line_api: HTTPServer, data_api: HTTPServer, kb: Any, menus: Any
) -> None:
    fake, message = _follow(client, line_api, data_api, menus, "en")
    assert message["altText"].startswith(kb[kb.ui.help].text["en"].title)
    assert ("GET", f"api:/v2/bot/profile/{USER}") in fake.calls
    assert _links(fake) == ["rm-en"]


@pytest.mark.parametrize("profile", ["ja", None])  # Japanese, or the profile lookup fails (500)
def test_follow_keeps_default_menu_otherwise(
    client: Any, line_api: HTTPServer, data_api: HTTPServer, kb: Any, menus: Any, profile: str | None
) -> None:
    fake, message = _follow(client, line_api, data_api, menus, profile)
    assert message["altText"].startswith(kb[kb.ui.help].text["ja"].title)
    assert ("GET", f"api:/v2/bot/profile/{USER}") in fake.calls and _links(fake) == []


def test_a_failed_lookup_logs_no_user_id_even_when_the_answer_echoes_it(
    client: Any, line_api: HTTPServer, data_api: HTTPServer, menus: Any, caplog: Any
) -> None:
    # An error page that repeats the request's path (/v2/bot/profile/U…) went into "profile lookup failed: …
    # body=…" as it was: the raw user id in the log.
    caplog.set_level(logging.INFO, logger="bot")
    fake = FakeRichMenus(line_api, data_api, [_ours(menus, "ja", "rm-ja"), _ours(menus, "en", "rm-en")], "proxy error")
    event = _postback("x")
    event.pop("postback")
    event.update(type="follow", follow={"isUnblocked": False})
    post(client, [event])
    assert wait_for(lambda: len(replies(line_api)) == 1)
    assert ("GET", f"api:/v2/bot/profile/{USER}") in fake.calls
    failed = [r.getMessage() for r in caplog.records if "profile lookup failed" in r.getMessage()]
    assert len(failed) == 1 and "status=502" in failed[0] and "upstream failed" in failed[0], failed
    assert not [r.getMessage() for r in caplog.records if r.name.startswith("bot") and USER in r.getMessage()]


@pytest.mark.parametrize("profile", ["ja", "en"])
def test_a_paste_after_the_welcome_is_answered_in_the_profiles_language(
    client: Any, line_api: HTTPServer, data_api: HTTPServer, kb: Any, menus: Any, profile: str
) -> None:
    """A new friend's first message is an SDK's exception pasted alone, which shows nobody's language: the
    welcome's language (the profile's) is kept, as it is for a conversation's. Before, always English."""
    _follow(client, line_api, data_api, menus, profile)
    post(client, [text_event("Error: Request failed with status code 401")])
    assert wait_for(lambda: len(replies(line_api)) == 2)
    answer = replies(line_api)[1]["messages"][0]
    assert answer["altText"].startswith(kb["messaging_api.unauthorized"].text[profile].title)


def test_switch_after_menus_were_replaced_finds_the_new_one(
    client: Any, line_api: HTTPServer, data_api: HTTPServer, menus: Any
) -> None:
    fake = FakeRichMenus(line_api, data_api, [_ours(menus, "ja", "rm-ja"), _ours(menus, "en", "rm-en")])
    post(client, [_postback(richmenu.switch_data("en"))])
    assert wait_for(lambda: len(replies(line_api)) == 1)
    # `python -m bot richmenu` ran again: the id the process remembered is gone.
    fake.menus["rm-en2"] = _ours(menus, "en", "rm-en2")
    fake.with_image.add("rm-en2")
    del fake.menus["rm-en"]
    fake.with_image.discard("rm-en")
    post(client, [_postback(richmenu.switch_data("en"))])
    assert wait_for(lambda: len(replies(line_api)) == 2)
    assert _links(fake) == ["rm-en", "rm-en", "rm-en2"]  # refused once, listed again, linked


def test_web_process_refuses_a_broken_richmenu_file(tmp_path: Path) -> None:
    root = _copy_knowledge(tmp_path)
    text = (root / "richmenu.yaml").read_text(encoding="utf-8").replace("language: en", "language: ja", 1)
    (root / "richmenu.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(knowledge.KnowledgeError) as caught:
        create_app(settings_for("http://127.0.0.1:9", tmp_path, knowledge_dir=root))
    assert "field menus.ja.areas[5].language: must be another menu's language (en), got 'ja'" in str(caught.value)


def test_bad_data_api_url_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINE_DATA_API_BASE_URL", "api-data.line.me")
    err = io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    assert cli.main(["richmenu", "--dry-run"], out=io.StringIO()) == 2
    assert "LINE_DATA_API_BASE_URL must be an http(s) URL" in err.getvalue()
