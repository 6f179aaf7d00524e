"""The gap report: grouping, clarify picks, helpful ratios; the CLI; the HTML page in headless Chromium."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from unittest import mock

import pytest
from PIL import Image

from bot import cli, report
from bot.questionlog import Feedback, FeedbackRow, LogConfig, Question, QuestionRow, open_log

NOW = time.time()
TEN_SPELLINGS = [
    "LINEのIDを変更したい",
    "LINE IDを変えたい",
    "LINE ID 変更したいです",
    "lineのid変更",
    "ラインのIDを変更したい",
    "LINEのIDを変更したいです",
    "ＬＩＮＥのＩＤを変更したい",
    "LINE IDを変更したい",
    "LINEのID変更したい",
    "lineのidを変更したい",
]
OTHERS = ["リッチメニューが表示されない", "what time is it", "グループの作り方", "LINE公式アカウントの作り方"]


def q(
    outcome: str,
    at: float,
    entry: str | None = None,
    chat: str = "c1",
    choices: tuple[str, ...] = (),
    text: str | None = None,
) -> QuestionRow:
    return QuestionRow(at, chat, outcome, entry, 90.0, "ja", choices, text)


def test_ten_spellings_are_one_row() -> None:
    texts = [(t, "ja") for t in TEN_SPELLINGS] + [(t, "ja") for t in OTHERS]
    groups = report.group_similar(texts)
    assert groups[0].count == 10 and groups[0].question in TEN_SPELLINGS
    assert {g.question for g in groups[1:]} == set(OTHERS)  # the rest stay apart
    assert all(g.count == 1 for g in groups[1:])


def test_clarify_picks_and_helpful_ratio() -> None:
    choices = ("line_app.500", "webhook.status.500")
    rows = [
        q("clarify", NOW - 500, chat="a", choices=choices),
        q("pick", NOW - 490, "webhook.status.500", chat="a"),
        q("clarify", NOW - 400, chat="b", choices=choices),
        q("pick", NOW - 390, "webhook.status.500", chat="b"),
        q("clarify", NOW - 300, chat="c", choices=choices),  # nobody picked
        q("fallback", NOW - 290, chat="c", text="なにか"),
        q("answer", NOW - 200, "line_app.500", chat="d"),
        q("answer", NOW - 100, "line_app.500", chat="e"),
        q("answer", NOW - 10 * 86400, "line_app.500", chat="f"),  # outside the window
    ]
    taps = [
        FeedbackRow(NOW - 190, "d", "line_app.500", True, "ja", None),
        FeedbackRow(NOW - 90, "e", "line_app.500", False, "ja", "LINEで500"),
        FeedbackRow(NOW - 80, "e", "webhook.status.500", True, "ja", None),
    ]
    result = report.build(rows, taps, days=7, now=NOW)
    assert result.questions == 8 and result.taps == 3 and len(result.per_day) >= 7
    assert sum(day["clarify"] for day in result.per_day.values()) == 3
    (offer,) = result.clarify
    assert (offer.asked, offer.picked, offer.none) == (3, {"webhook.status.500": 2}, 1)
    by_entry = {h.entry_id: h for h in result.helpful}
    app = by_entry["line_app.500"]
    assert (app.answers, app.helpful, app.not_helpful, app.ratio) == (2, 1, 1, 0.5)
    assert app.complaints == ["LINEで500"]
    assert result.helpful[0].entry_id == "line_app.500"  # worst first
    assert [g.question for g in result.unanswered] == ["なにか"]


@pytest.fixture
def seeded(tmp_path: Path) -> dict[str, str]:
    """A SQLite question log with a few days of rows, and the environment that points the CLI at it."""
    path = str(tmp_path / "log.sqlite3")
    log = open_log(LogConfig(sqlite_path=path), "cli-secret")
    for day in range(5):
        at = NOW - day * 86400 - 60
        for i in range(3 + day):
            log.record(f"U{i:032x}", Question("answer", "ja", "line_app.500", 95.0), at=at)
        log.record("Ufallback", Question("fallback", "ja", text=TEN_SPELLINGS[day]), at=at)
        log.record("Uclarify", Question("clarify", "en", None, 80.0, ("line_app.403", "webhook.status.403"), "403"), at)
        log.feedback("U" + "0" * 32, Feedback(day % 2 == 0, "line_app.500", "ja", "LINEで500"), at=at + 1)
    log.close()
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "QUESTION_LOG_KEY"}}
    return {**env, "QUESTION_LOG_DB": path, "LINE_CHANNEL_SECRET": "cli-secret"}


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m bot ARGS` in this environment, run in this process (test_cli runs the module itself once
    as a subprocess; here a new interpreter per command proved nothing more)."""
    out, err = io.StringIO(), io.StringIO()
    with mock.patch.dict(os.environ, env, clear=True), contextlib.redirect_stderr(err):
        code = cli.main(list(args), out)
    return subprocess.CompletedProcess(["python", "-m", "bot", *args], code, out.getvalue(), err.getvalue())


def test_report_text_and_json(seeded: dict[str, str]) -> None:
    text = run(seeded, "report", "--days", "7")
    assert text.returncode == 0, text.stderr
    assert "Top unanswered questions" in text.stdout and "LINEのIDを変更したい" in text.stdout
    assert re.search(r"^\s+5\s+LINE", text.stdout, re.M)  # five spellings, one row
    assert re.search(r"line_app\.500\s+25\s+3\s+2\s+0\.60", text.stdout)
    data = json.loads(run(seeded, "report", "--days", "7", "--json").stdout)
    assert data["questions"] == 35 and data["taps"] == 5
    assert data["unanswered"][0]["count"] == 5
    assert data["clarify"][0]["asked"] == 5


def test_forget_by_hash_and_by_user(seeded: dict[str, str]) -> None:
    log = open_log(LogConfig(sqlite_path=seeded["QUESTION_LOG_DB"]), "cli-secret")
    fallback_hash = log.hash("Ufallback")
    result = run(seeded, "forget", fallback_hash)
    assert result.returncode == 0 and "forgot 5 row(s)" in result.stdout
    assert all(r.chat_hash != fallback_hash for r in log.questions())
    result = run(seeded, "forget", "--user", "Uclarify")
    assert "forgot 5 row(s)" in result.stdout
    assert {r.outcome for r in log.questions()} == {"answer"}
    log.close()


def test_html_report_to_a_path_that_cannot_be_written_says_so(seeded: dict[str, str], tmp_path: Path) -> None:
    """`report --html no/such/dir/report.html` ended in a FileNotFoundError traceback."""
    target = tmp_path / "no" / "such" / "report.html"
    result = run(seeded, "report", "--html", str(target))
    assert result.returncode == 1 and not target.exists()
    assert result.stderr == f"report: cannot write {target}: No such file or directory\n"


def test_forget_given_a_raw_user_id_without_user_deletes_nothing_and_says_so(seeded: dict[str, str]) -> None:
    """`forget Uxxxx…` (the id, not its hash) printed "forgot 0 row(s)" and exit 0: a privacy request
    looked done while every row stayed. Now exit 2 and a hint to add --user."""
    user = "U" + "0" * 32
    result = run(seeded, "forget", user)
    assert result.returncode == 2 and result.stdout == ""
    assert "not a chat hash: add --user" in result.stderr and user not in result.stderr
    log = open_log(LogConfig(sqlite_path=seeded["QUESTION_LOG_DB"]), "cli-secret")
    assert any(t.chat_hash == log.hash(user) for t in log.feedbacks())  # nothing was deleted
    log.close()


@pytest.mark.parametrize("chat", ["abc", "0123456789abcdef0123456789abcde", "0123456789abcdef0123456789abcdef0"])
def test_forget_given_something_that_is_not_a_chat_hash_says_so(seeded: dict[str, str], chat: str) -> None:
    """A hash cut short or with a character too (a bad copy from the report) printed "forgot 0 row(s)", exit 0."""
    result = run(seeded, "forget", chat)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.startswith("forget: a chat hash is 32 hex digits")


def test_report_on_an_unreachable_database_says_so() -> None:
    env = {**os.environ, "DATABASE_URL": "postgres://nobody@127.0.0.1:1/none"}
    result = run(env, "report")
    assert result.returncode == 1 and "question log (postgresql)" in result.stderr


def _colour_pixels(image: Image.Image, hex_colour: str) -> int:
    want = tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return sum(
        count
        for count, pixel in image.getcolors(maxcolors=1 << 20)
        if all(abs(a - b) <= 6 for a, b in zip(pixel[:3], want, strict=True))
    )


def test_html_report_in_headless_chromium(seeded: dict[str, str], tmp_path: Path) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        pytest.skip("Chromium not found: install it, e.g. `apt-get install chromium`; .ci/run does this in CI")
    page = tmp_path / "report.html"
    assert run(seeded, "report", "--days", "7", "--html", str(page)).returncode == 0
    html = page.read_text()
    assert "<svg" in html and "LINEのIDを変更したい" in html
    # Self-contained: every src/href is inline data or a fragment; nothing is fetched at view time.
    assert all(link.startswith(("data:", "#")) for link in re.findall(r'(?:src|href)="([^"]*)"', html))
    shot = tmp_path / "shot.png"
    result = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
         "--enable-logging=stderr", f"--screenshot={shot}", "--window-size=1200,900", page.as_uri()],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    # Console messages (script errors, failed loads) are logged as CONSOLE lines.
    assert not [line for line in result.stderr.splitlines() if "CONSOLE" in line or "net::ERR" in line]
    image = Image.open(shot).convert("RGB")
    assert image.size == (1200, 900)
    assert _colour_pixels(image, report.COLOURS["answer"]) > 2000  # the chart's bars are on screen
    assert _colour_pixels(image, report.COLOURS["fallback"]) > 200
