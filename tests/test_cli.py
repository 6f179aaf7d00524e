"""The command line: bot.cli.main in-process (stdin and stdout swapped), and `python -m bot` as a user runs it."""

import io
import json
import os
import pty
import runpy
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from conftest import DATA

from bot import cli, knowledge

ROOT = Path(__file__).resolve().parent.parent


def run(monkeypatch: pytest.MonkeyPatch, *args: str, stdin: str = "") -> tuple[int, str]:
    """Exit status and stdout of `python -m bot ARGS`, run in this process."""
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    out = io.StringIO()
    return cli.main(list(args), out), out.getvalue()


def test_module_entry_point_runs_as_a_user_runs_it() -> None:
    """A subprocess: `python -m bot` itself (its exit status and output) from the repository root."""
    result = subprocess.run(
        [sys.executable, "-m", "bot", "validate", str(DATA / "broken" / "missing_field")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 1
    assert "area.yaml:5: entry area.no_summary: field ja.summary" in result.stdout


def test_a_reader_that_leaves_early_gets_no_traceback() -> None:
    """`python -m bot show --json | head`: the output (400 KB) outgrows the pipe, the reader closes it."""
    child = subprocess.Popen(
        [sys.executable, "-m", "bot", "show", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT
    )
    assert child.stdout is not None and child.stderr is not None
    assert child.stdout.read(100)
    child.stdout.close()
    errors = child.stderr.read().decode()
    assert child.wait(timeout=120) == 1
    assert "Traceback" not in errors and "BrokenPipeError" not in errors


def test_ask_readable(monkeypatch: pytest.MonkeyPatch) -> None:
    code, out = run(monkeypatch, "ask", "could_not_connect / TLS handshake failure")
    assert code == 0
    assert "TLS handshake failure" in out and "1. " in out


def test_ask_json_one_object(monkeypatch: pytest.MonkeyPatch) -> None:
    _, out = run(monkeypatch, "ask", "--json", "500エラー")
    data = json.loads(out)
    assert set(data) == {"kind", "id", "choices", "score", "lang"}
    assert (data["kind"], data["id"], data["lang"]) == ("clarify", None, "ja")
    assert set(data["choices"]) == {"line_app.500", "webhook.status.500", "messaging_api.5xx"}
    assert isinstance(data["score"], float) and 0 < data["score"] <= 100


def test_ask_json_reports_line_works_as_a_deflection(monkeypatch: pytest.MonkeyPatch) -> None:
    questions = "LINE WORKS API 2.0 で 401\nLINE works fine but my webhook returns 500\n"
    _, out = run(monkeypatch, "ask", "--json", stdin=questions)
    rows = [json.loads(line) for line in out.splitlines()]
    assert [(r["kind"], r["id"]) for r in rows] == [
        ("fallback", "outside.other_platforms"),
        ("answer", "webhook.status.500"),
    ]


def test_ask_json_stdin_lines_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    _, out = run(monkeypatch, "ask", "--json", "--lang", "en", stdin="unknown host\n明日の天気\nhi\n")
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["kind"] for r in rows] == ["answer", "fallback", "answer"]
    assert [r["id"] for r in rows] == ["webhook.detail.unknown_host", None, "smalltalk.greeting"]
    assert {r["lang"] for r in rows} == {"en"}


def test_chat_numbers_pick_choices(monkeypatch: pytest.MonkeyPatch) -> None:
    code, out = run(monkeypatch, "chat", stdin="timeout\n1\nexit\n")
    assert code == 0
    first_choice = out.split("1. ", 1)[1].splitlines()[0]
    assert f"■ {first_choice}" in out


def test_chat_number_that_picks_nothing_lists_the_choices_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """As on LINE: "9" after four choices names the range and lists them again (it was matched as a question:
    "Sorry, I could not find an answer", three unrelated topics), and they still count."""
    kb = knowledge.load()
    code, out = run(monkeypatch, "chat", stdin="7\ntimeout\n9\n2\nexit\n")
    assert code == 0
    lines = out.splitlines()  # the prompts go to the terminal, not `out`
    nothing = lines.index(kb.ui.text("ja", "number_none"))  # nothing offered yet: in both languages
    assert lines[nothing + 2] == kb.ui.text("en", "number_none")
    asked = lines.index(kb.ui.text("ja", "clarify"))
    assert nothing < asked
    again = lines.index(kb.ui.text("ja", "number_range").replace("{count}", "4"))
    assert lines[again + 1 : again + 5] == lines[asked + 1 : asked + 5]
    assert lines[again + 6] == "■ " + lines[asked + 2].removeprefix("2. ")


def test_chat_choice_typed_by_its_title_picks_it(monkeypatch: pytest.MonkeyPatch) -> None:
    _, out = run(monkeypatch, "chat", stdin="timeout\n")
    first = next(line for line in out.splitlines() if line.startswith("1. ")).removeprefix("1. ")
    code, out = run(monkeypatch, "chat", stdin=f"timeout\n{first}\nexit\n")
    assert code == 0 and f"■ {first}" in out.splitlines()


def test_chat_on_a_knowledge_dir_without_url_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    """`--knowledge DIR chat` on a directory without diagnose.yaml (the pipeline tests' mini_kb) chats, a URL
    being just text there."""
    code, out = run(monkeypatch, "--knowledge", str(DATA / "mini_kb"), "chat", stdin="https://example.com/x\n")
    assert code == 0 and out.count("\n") > 2


def test_chat_ends_on_eof(monkeypatch: pytest.MonkeyPatch) -> None:
    assert run(monkeypatch, "chat", stdin="hi\n")[0] == 0


def test_show_json_maps_ids_to_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    _, out = run(monkeypatch, "show", "bot.help", "line_app.500", "--lang", "en", "--json")
    data = json.loads(out)
    assert list(data) == ["bot.help", "line_app.500"]
    assert data["line_app.500"][0]["type"] == "flex"


def test_show_all_entries(monkeypatch: pytest.MonkeyPatch, kb: Any) -> None:
    _, out = run(monkeypatch, "show", "--json")
    assert set(json.loads(out)) == set(kb.entries)


def test_validate_ok_and_broken(monkeypatch: pytest.MonkeyPatch, kb: Any) -> None:
    code, out = run(monkeypatch, "validate")
    assert code == 0 and out.startswith(f"ok: {len(kb)} entries")
    code, out = run(monkeypatch, "validate", str(DATA / "broken" / "missing_field"))
    assert code == 1
    assert "area.yaml:5: entry area.no_summary: field ja.summary" in out


def test_eval_prints_summary_and_enforces_minimum(monkeypatch: pytest.MonkeyPatch) -> None:
    code, out = run(monkeypatch, "eval", str(DATA / "dev-questions.yaml"), "--min-accuracy", "0.95")
    assert code == 0
    last = out.strip().splitlines()[-1]
    assert last.startswith("accuracy ") and "in-scope" in last and "wrong language" in last
    assert run(monkeypatch, "eval", str(DATA / "dev-questions.yaml"), "--min-accuracy", "1.01")[0] == 1


def test_eval_of_a_file_that_is_not_yaml_says_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A Markdown file given by mistake: one line on stderr and exit 2, not a traceback."""
    notes = tmp_path / "notes.md"
    notes.write_text("# Questions\n\n- **502** from the webhook\n", encoding="utf-8")
    code, out = run(monkeypatch, "eval", str(notes))
    assert (code, out) == (2, "")
    errors = capsys.readouterr().err
    assert errors.startswith("eval: ") and "notes.md" in errors and len(errors.splitlines()) == 1


COMMANDS = ("ask", "chat", "show", "validate", "eval", "diagnose", "report", "forget", "richmenu")


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_help_says_what_it_and_every_argument_does(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`python -m bot CMD --help`: a sentence on what the command does, and a description beside every
    argument and option (ask, show, eval and diagnose listed bare --lang, --json, text, ids, url)."""
    with pytest.raises(SystemExit) as done:
        cli.main([command, "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    blocks = text.split("\n\n")
    assert blocks[1].strip() and not blocks[1].startswith(("positional arguments:", "options:")), text
    lines = [line for block in blocks[2:] for line in block.splitlines()[1:]]  # each section, its title dropped
    for i, line in enumerate(lines):
        if line.startswith("  ") and not line.startswith("   "):  # an argument's first line
            described = len(line.strip().split("  ", 1)) == 2 or (
                i + 1 < len(lines) and lines[i + 1].startswith("      ")
            )
            assert described, f"{command}: {line.strip()!r} has no description"


def test_chat_checks_a_webhook_url_as_the_bot_does_on_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """A URL with "check", or alone, is probed as in a one-to-one chat on LINE, not matched against the
    knowledge base (it was a fallback): refused without a packet, or probed on 127.0.0.1 when the test-only
    DIAGNOSE_ALLOW_LOOPBACK is set; a number then picks among the finding's related topics."""
    monkeypatch.delenv("DIAGNOSE_ALLOW_LOOPBACK", raising=False)
    code, out = run(monkeypatch, "chat", stdin="check https://localhost:8443/callback\nexit\n")
    assert code == 0
    assert "This URL cannot be checked. localhost" in out and "Sorry" not in out
    closed = socket.socket()  # bound, never listening: a connection to it is refused
    closed.bind(("127.0.0.1", 0))
    try:
        monkeypatch.setenv("DIAGNOSE_ALLOW_LOOPBACK", "1")
        url = f"https://127.0.0.1:{closed.getsockname()[1]}/callback"
        code, out = run(monkeypatch, "chat", stdin=f"check {url}\n1\n")
    finally:
        closed.close()
    assert code == 0
    assert "LINE would report: reason could_not_connect / detail Connection failed" in out
    titles = [line for line in out.splitlines() if line.startswith("■ ")]
    assert titles[1] == "■ Detail: Connection failed"  # the entry's own answer follows the finding
    finding = out.split(titles[2])[0]
    first_related = finding.rsplit("Related:\n", 1)[1].splitlines()[0]
    assert first_related.startswith("  1. ")
    assert first_related.removeprefix("  1. ") in titles[2]  # "1" picked the first related topic


def test_chat_checks_a_url_alone_in_the_conversations_language(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DIAGNOSE_ALLOW_LOOPBACK", raising=False)
    code, out = run(monkeypatch, "chat", stdin="my webhook returns 404\nhttps://localhost:8443/callback\n")
    assert code == 0 and "This URL cannot be checked. localhost" in out  # English, as the question before
    code, out = run(monkeypatch, "chat", stdin="https://localhost:8443/callback\n")
    assert code == 0 and "This URL cannot be checked" not in out  # no conversation yet: Japanese


def test_ctrl_c_ends_without_a_traceback(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Ctrl-C in a long `eval` (or a URL check, or a chat answer) printed a KeyboardInterrupt traceback;
    `python -m bot` now exits 130, as shells report SIGINT, with nothing but a line break."""

    def interrupted(*_: Any) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "main", interrupted)
    monkeypatch.delitem(sys.modules, "bot.__main__", raising=False)
    try:
        runpy.run_module("bot", run_name="__main__")
    except KeyboardInterrupt:
        pytest.fail("Ctrl-C escaped as a KeyboardInterrupt (a traceback for the user)")
    except SystemExit as done:
        assert done.code == 130
    else:
        pytest.fail("python -m bot did not exit")
    assert capsys.readouterr().err == "\n"


def test_eval_refuses_a_question_naming_an_unknown_entry(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A typo in expect/clarify/accept/deflect was scored as one more miss (a question no answer can win);
    eval now names it and exits 2 before scoring."""
    questions = tmp_path / "questions.yaml"
    questions.write_text(
        "- q: hi\n  expect: smalltalk.greeting\n"
        "- q: timeout\n  clarify: [webhook.reason.request_timeout, webhook.detail.conection_timeout]\n",
        encoding="utf-8",
    )
    code, out = run(monkeypatch, "eval", str(questions))
    assert (code, out) == (2, "")
    assert capsys.readouterr().err == (
        f"eval: {questions}: 'timeout': webhook.detail.conection_timeout is not an entry id\n"
    )


def test_chat_takes_a_traceback_pasted_into_a_terminal_as_one_question(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pasting a traceback into `make chat` answered each of its lines as a question of its own (four
    replies, the first ones fallbacks). In a terminal the lines of one paste are one question now."""
    paste = (
        "Traceback (most recent call last):\n"
        '  File "app.py", line 40, in callback\n'
        "    line_bot_api.reply_message(ReplyMessageRequest(reply_token=token, messages=messages))\n"
        "linebot.v3.messaging.exceptions.ApiException: (401)\n"
    )
    master, slave = pty.openpty()
    terminal = open(slave, encoding="utf-8", closefd=False)  # noqa: SIM115 - closed below
    os.write(master, paste.encode() + b"\x04")  # the paste, then Ctrl-D: all waiting before the chat reads
    monkeypatch.setattr(sys, "stdin", terminal)
    out = io.StringIO()
    done: list[int] = []
    chat = threading.Thread(target=lambda: done.append(cli.main(["chat"], out)), daemon=True)
    chat.start()
    chat.join(timeout=60)
    os.close(master)  # a chat still reading gets an error instead of waiting forever
    chat.join(timeout=10)
    terminal.close()
    os.close(slave)
    assert done == [0]
    replies = [line for line in out.getvalue().splitlines() if line.startswith(("■ ", "Sorry", "ごめん"))]
    assert replies == ["■ The Messaging API answers 401 (access token)"]
