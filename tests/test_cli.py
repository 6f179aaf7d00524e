"""The command line, run as a user runs it: `python -m bot ...` in a subprocess."""

import json
import subprocess
import sys
from pathlib import Path

from conftest import DATA

from bot import knowledge

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], input=stdin, capture_output=True, text=True, cwd=ROOT, timeout=120
    )


def test_ask_readable() -> None:
    result = run("ask", "could_not_connect / TLS handshake failure")
    assert result.returncode == 0
    assert "TLS handshake failure" in result.stdout and "1. " in result.stdout


def test_ask_json_one_object() -> None:
    result = run("ask", "--json", "500エラー")
    data = json.loads(result.stdout)
    assert data == {"kind": "clarify", "id": None, "choices": data["choices"], "score": data["score"], "lang": "ja"}
    assert set(data["choices"]) == {"line_app.500", "webhook.status.500", "messaging_api.5xx"}


def test_ask_json_stdin_lines_in_order() -> None:
    result = run("ask", "--json", "--lang", "en", stdin="unknown host\n明日の天気\nhi\n")
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["kind"] for r in rows] == ["answer", "fallback", "answer"]
    assert [r["id"] for r in rows] == ["webhook.detail.unknown_host", None, "smalltalk.greeting"]
    assert {r["lang"] for r in rows} == {"en"}


def test_chat_numbers_pick_choices() -> None:
    result = run("chat", stdin="timeout\n1\nexit\n")
    assert result.returncode == 0
    first_choice = result.stdout.split("1. ", 1)[1].splitlines()[0]
    assert f"■ {first_choice}" in result.stdout


def test_chat_ends_on_eof() -> None:
    assert run("chat", stdin="hi\n").returncode == 0


def test_show_json_maps_ids_to_messages() -> None:
    result = run("show", "bot.help", "line_app.500", "--lang", "en", "--json")
    data = json.loads(result.stdout)
    assert list(data) == ["bot.help", "line_app.500"]
    assert data["line_app.500"][0]["type"] == "flex"


def test_show_all_entries() -> None:
    assert set(json.loads(run("show", "--json").stdout)) == set(knowledge.load().entries)


def test_validate_ok_and_broken() -> None:
    ok = run("validate")
    assert ok.returncode == 0 and ok.stdout.startswith(f"ok: {len(knowledge.load())} entries")
    broken = run("validate", str(DATA / "broken" / "missing_field"))
    assert broken.returncode == 1
    assert "area.yaml:5: entry area.no_summary: field ja.summary" in broken.stdout


def test_eval_prints_summary_and_enforces_minimum() -> None:
    result = run("eval", str(DATA / "dev-questions.yaml"), "--min-accuracy", "0.95")
    assert result.returncode == 0
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("accuracy ") and "in-scope" in last and "wrong language" in last
    impossible = run("eval", str(DATA / "dev-questions.yaml"), "--min-accuracy", "1.01")
    assert impossible.returncode == 1
