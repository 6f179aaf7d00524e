"""Command line: ask, chat, show, validate, eval and diagnose, with no LINE account needed; report and forget
(the question log); richmenu (sets up the rich menus on LINE)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import select
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

import yaml

from bot import (
    diagnose,
    diagnose_data,
    diagnose_render,
    diagnose_request,
    knowledge,
    limits,
    menus,
    render,
    report,
    richmenu,
    vocabulary,
)
from bot.config import ConfigError
from bot.evaluate import SPLITS, Question, evaluate, load_questions
from bot.matcher import Matcher
from bot.questionlog import LogConfig, LogUnavailable, QuestionLog, open_log
from bot.types import Match

Command = Callable[[argparse.Namespace, TextIO], int]
PASTE_GAP = 0.05  # seconds: lines reaching a terminal closer together than this were pasted together
LINE_ID = re.compile(r"[UCR][0-9a-f]{32}")  # a LINE user, group or room id, as `forget --user` takes it
CHAT_HASH = re.compile(r"[0-9a-fA-F]{32}")  # questionlog.chat_hash's form


def _kb(args: argparse.Namespace) -> knowledge.KnowledgeBase:
    return knowledge.load(args.knowledge)


def _as_json(match: Match) -> str:
    return json.dumps(
        {
            "kind": match.kind,
            "id": match.entry_id,
            "choices": list(match.choices),
            "score": round(match.score, 1),
            "lang": match.lang,
        },
        ensure_ascii=False,
    )


def cmd_ask(args: argparse.Namespace, out: TextIO) -> int:
    kb = _kb(args)
    matcher = Matcher(kb)
    if args.text:
        match = matcher.match(" ".join(args.text), args.lang)
        print(_as_json(match) if args.json else render.render_text(kb, match), file=out)
        return 0
    if not args.json:
        print("ask: give a question, or --json to read one question per line from stdin", file=sys.stderr)
        return 2
    for line in sys.stdin:
        print(_as_json(matcher.match(line.rstrip("\r\n"), args.lang)), file=out, flush=True)
    return 0


def cmd_chat(args: argparse.Namespace, out: TextIO) -> int:
    kb = _kb(args)
    matcher = Matcher(kb)
    # URL checks need diagnose.yaml; a knowledge directory without one (a test's) chats without them.
    has_checks = (Path(args.knowledge or knowledge.DEFAULT_DIR) / diagnose_data.FILE).exists()
    data = diagnose_data.load(args.knowledge) if has_checks else None
    try:
        options = diagnose.Options.from_env()
    except ConfigError as exc:
        print(f"chat: {exc}", file=sys.stderr)
        return 2
    print("\n".join(kb.ui.text(lang, "chat_intro") for lang in knowledge.LANGS), file=out)  # nobody spoke yet
    offered: list[str] = []
    lang = "ja"
    spoken: str | None = None  # the conversation's language, once a reply has had one
    ended = False
    while not ended:
        try:
            line, ended = _pasted(input("> "))
        except (EOFError, KeyboardInterrupt):
            print(file=out)
            return 0
        line = line.strip()
        if line.lower() in {"exit", "quit", "終了"}:
            return 0
        if not line:
            continue
        names = menus.named(kb, line)  # a choice typed or copied instead of its number, as on LINE
        picked = menus.pick(line, offered, kb.ui.numbers) or next((i for i in offered if i in names), None)
        if picked:
            text, offered = render.answer_text(kb, picked, lang), list(kb[picked].related)
        elif menus.as_number(line, kb.ui.numbers):  # a number that picks nothing: the choices again, as on LINE
            text = render.number_messages(kb, offered, spoken)[0]["text"]
        elif data and (request := diagnose_request.recognise(line, data, addressed=True)):
            # As on LINE (a one-to-one chat): "check https://...", or the URL alone, is probed, not matched.
            finding = diagnose.run(request.url, kb, data, None, options)
            lang = request.lang if request.lang_sure or not spoken else spoken  # a URL alone: as on LINE
            text, offered = diagnose_render.text(finding, kb, data, lang), list(diagnose.offered(finding, kb))
        else:
            match = matcher.match(line)
            if not match.lang_sure and spoken:  # console strings only: the conversation's language, as on LINE
                match = dataclasses.replace(match, lang=spoken)
            lang, offered, text = match.lang, menus.options(kb, match), render.render_text(kb, match)
        spoken = lang
        print(text + "\n", file=out, flush=True)
    return 0


def _pasted(first: str) -> tuple[str, bool]:
    """`first` and the lines pasted with it into a terminal (a traceback is one question, not one per line),
    and whether the input ended right after them. Piped input stays one question per line."""
    if not sys.stdin.isatty():
        return first, False
    lines = [first]
    # A terminal hands over one line per read, so what a paste brought is still waiting on the descriptor.
    while select.select([sys.stdin], [], [], PASTE_GAP)[0]:
        more = sys.stdin.readline()
        if not more:  # Ctrl-D right after the paste
            return "\n".join(lines), True
        lines.append(more.rstrip("\r\n"))
    return "\n".join(lines), False


def cmd_show(args: argparse.Namespace, out: TextIO) -> int:
    kb = _kb(args)
    ids = args.ids or list(kb.entries)
    unknown = [i for i in ids if i not in kb]
    if unknown:
        print(f"show: unknown entry id: {', '.join(unknown)}", file=sys.stderr)
        return 1
    shown = {i: render.answer_messages(kb, i, args.lang) for i in ids}
    if args.json:
        print(json.dumps(shown, ensure_ascii=False, indent=2), file=out)
    else:
        for i in ids:
            print(render.answer_text(kb, i, args.lang) + "\n", file=out)
    return 0


def cmd_validate(args: argparse.Namespace, out: TextIO) -> int:
    root = Path(args.dir or args.knowledge or knowledge.DEFAULT_DIR)
    try:
        kb = limits.checked(knowledge.load(root))
        vocabulary.load(root, kb)
        if (root / richmenu.FILE).exists():
            richmenu.load(root, kb)
        diagnose_data.load(root)  # the URL-check texts and limits, as at start-up
    except knowledge.KnowledgeError as exc:
        for problem in exc.problems:
            print(problem, file=out)
        return 1
    print(f"ok: {len(kb)} entries, version {kb.version}", file=out)
    return 0


def _unknown_ids(kb: knowledge.KnowledgeBase, questions: Sequence[Question]) -> list[str]:
    """One line per entry id a question names that the knowledge base lacks (a typo makes a question unwinnable)."""
    problems = []
    for question in questions:
        named = [question.expect, *question.clarify, *question.accept, question.deflect]
        for entry_id in (i for i in named if i and i != "none" and i not in kb):
            problems.append(f"{question.q[:60]!r}: {entry_id} is not an entry id")
    return problems


def cmd_eval(args: argparse.Namespace, out: TextIO) -> int:
    kb = _kb(args)
    try:
        questions = load_questions(args.file, args.split)
    except (OSError, ValueError) as exc:
        print(f"eval: {exc}", file=sys.stderr)
        return 2
    except yaml.YAMLError as exc:  # a Markdown or other non-YAML file given by mistake
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}: {getattr(exc, 'problem', '')})" if mark else ""
        print(f"eval: {args.file}: not a YAML question file{where}", file=sys.stderr)
        return 2
    unknown = _unknown_ids(kb, questions)
    if unknown:
        print("\n".join(f"eval: {args.file}: {problem}" for problem in unknown), file=sys.stderr)
        return 2
    report = evaluate(Matcher(kb), questions)  # the index (most of the time) only for a file worth scoring
    for question, got in report.misses:
        wanted = question.expect or "clarify " + ",".join(question.clarify)
        if question.deflect:
            wanted += f" ({question.deflect})"
        have = got.entry_id or (got.kind + " " + ",".join(got.choices)).strip()
        print(f"miss: {question.q!r} wanted {wanted} ({question.lang or 'any'}) got {have} ({got.lang})", file=out)
    print(report.summary(), file=out)
    return 1 if args.min_accuracy is not None and report.accuracy < args.min_accuracy else 0


def cmd_diagnose(args: argparse.Namespace, out: TextIO) -> int:
    kb = _kb(args)
    data = diagnose_data.load(args.knowledge)
    secret = None
    if args.secret_env:
        secret = os.environ.get(args.secret_env)
        if not secret:
            print(f"diagnose: environment variable {args.secret_env} is not set", file=sys.stderr)
            return 2
    try:
        options = diagnose.Options.from_env()
    except ConfigError as exc:
        print(f"diagnose: {exc}", file=sys.stderr)
        return 2
    finding = diagnose.run(args.url, kb, data, secret, options)
    if args.json:  # for scripts: the facts in English unless --lang asks otherwise
        print(json.dumps(diagnose_render.as_json(finding, data, args.lang or "en"), ensure_ascii=False), file=out)
    else:
        print(diagnose_render.text(finding, kb, data, args.lang or "ja"), file=out)
    return 2 if finding.refused else 0 if finding.ok else 1


def _question_log(config: LogConfig) -> QuestionLog:
    return open_log(config, os.environ.get("LINE_CHANNEL_SECRET", ""))


def _days(text: str) -> int:
    if not text.isdecimal() or not 1 <= int(text) <= 3650:
        raise argparse.ArgumentTypeError(f"must be a whole number of days from 1 to 3650, got {text!r}")
    return int(text)


def cmd_report(args: argparse.Namespace, out: TextIO) -> int:
    qlog = _question_log(LogConfig.from_env())
    since = time.time() - args.days * 86400
    result = report.build(qlog.questions(since), qlog.feedbacks(since), args.days)
    qlog.close()
    if args.html:
        try:
            Path(args.html).write_text(report.to_html(result), encoding="utf-8")
        except OSError as exc:  # a missing directory, no permission: say so, not a traceback
            print(f"report: cannot write {args.html}: {exc.strerror or exc}", file=sys.stderr)
            return 1
    if args.json:
        print(report.to_json(result), file=out)
    elif not args.html:
        print(report.to_text(result), file=out)
    return 0


def cmd_forget(args: argparse.Namespace, out: TextIO) -> int:
    config = LogConfig.from_env()
    if args.user and not (config.key or os.environ.get("LINE_CHANNEL_SECRET")):
        print("forget --user: set QUESTION_LOG_KEY or LINE_CHANNEL_SECRET (the hash key)", file=sys.stderr)
        return 2
    if not args.user and LINE_ID.fullmatch(args.chat):
        # A hash is hex only; "U" + 32 hex is the raw id, which matches no row: deleting nothing quietly
        # would tell the operator a privacy request was done.
        print(f"forget: {args.chat[:5]}… is a LINE user/group/room id, not a chat hash: add --user", file=sys.stderr)
        return 2
    if not args.user and not CHAT_HASH.fullmatch(args.chat):
        # A hash cut short or with a character too matches no row either: "forgot 0 row(s)", exit 0.
        print("forget: a chat hash is 32 hex digits, as the chat_hash column holds it (an id: --user)", file=sys.stderr)
        return 2
    qlog = _question_log(config)
    target = qlog.hash(args.chat) if args.user else args.chat.lower()
    count = qlog.forget(target)
    qlog.close()
    print(f"forgot {count} row(s) of chat {target}", file=out)
    return 0


def cmd_richmenu(args: argparse.Namespace, out: TextIO) -> int:
    kb = limits.checked(knowledge.load(args.knowledge))
    return richmenu.run(richmenu.load(args.knowledge, kb), args.dry_run, out, sys.stderr)


def _command(sub: Any, name: str, summary: str, func: Command) -> argparse.ArgumentParser:
    """A subcommand whose one-line summary shows in `python -m bot --help` and atop its own --help."""
    command: argparse.ArgumentParser = sub.add_parser(
        name, help=summary, description=summary[0].upper() + summary[1:] + "."
    )
    command.set_defaults(func=func)
    return command


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__)
    parser.add_argument("--knowledge", metavar="DIR", help="knowledge directory (default: knowledge/)")
    sub = parser.add_subparsers(dest="command", required=True)
    lang_help = "reply language (default: the question's own)"

    ask = _command(sub, "ask", "answer one question (or, with --json, one per stdin line)", cmd_ask)
    ask.add_argument("text", nargs="*", help="the question (several words are joined with spaces)")
    ask.add_argument("--lang", choices=("ja", "en"), help=lang_help)
    ask.add_argument("--json", action="store_true", help='print {"kind", "id", "choices", "score", "lang"}')

    _command(
        sub,
        "chat",
        'chat with the bot in the terminal; a webhook URL with "check" is checked (a number picks a choice)',
        cmd_chat,
    )

    show = _command(sub, "show", "each entry's answer as terminal text, or with --json its LINE messages", cmd_show)
    show.add_argument("ids", nargs="*", metavar="ID", help="entry ids (default: every entry)")
    show.add_argument("--lang", choices=("ja", "en"), default="ja", help="language (default: ja)")
    show.add_argument("--json", action="store_true", help="the LINE message objects each entry renders to")

    validate = _command(sub, "validate", "check a knowledge directory; exit 1 and one line per problem", cmd_validate)
    validate.add_argument("dir", nargs="?", metavar="DIR", help="knowledge directory (default: knowledge/)")

    ev = _command(sub, "eval", "score a question file: the misses, then an accuracy line", cmd_eval)
    ev.add_argument("file", metavar="FILE", help="a YAML list of questions (q, expect or clarify, ...)")
    ev.add_argument("--min-accuracy", type=float, metavar="X", help="exit 1 when the accuracy is below X (0 to 1)")
    ev.add_argument("--split", choices=SPLITS, help="score only the items of this split (real questions)")

    diag = _command(
        sub, "diagnose", "check a webhook URL the way LINE's Verify does; exit 0 ok, 1 not ok, 2 refused", cmd_diagnose
    )
    diag.add_argument("url", metavar="URL", help="the webhook URL (https://, port 443 or 1024-65535, public host)")
    diag.add_argument("--json", action="store_true", help="the finding as one JSON object")
    diag.add_argument("--lang", choices=("ja", "en"), help="language (default: ja; with --json: en)")
    diag.add_argument("--secret-env", metavar="NAME", help="sign the probe with the channel secret in $NAME")

    rep = _command(sub, "report", "questions, gaps and feedback from the question log", cmd_report)
    rep.add_argument("--days", type=_days, default=30, metavar="N", help="the last N days (default 30)")
    rep.add_argument("--json", action="store_true", help="the report as one JSON document")
    rep.add_argument("--html", metavar="FILE", help="write one self-contained HTML page with a chart")

    forget = _command(sub, "forget", "delete one chat's rows from the question log", cmd_forget)
    forget.add_argument("chat", metavar="CHAT_HASH", help="the chat's hash (the chat_hash column of the log's tables)")
    forget.add_argument("--user", action="store_true", help="CHAT_HASH is a LINE user/group/room id: hash it first")

    rich = _command(sub, "richmenu", "set up the rich menus on LINE (replaces the ones it made before)", cmd_richmenu)
    rich.add_argument("--dry-run", action="store_true", help="print the requests instead of sending them")
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run one command; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args, out or sys.stdout)
    except knowledge.KnowledgeError as exc:
        print(exc, file=sys.stderr)
        return 1
    except (LogUnavailable, ValueError) as exc:  # the question log's database or settings
        print(f"{args.command}: {exc}", file=sys.stderr)
        return 1
