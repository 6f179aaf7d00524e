"""Command line: ask, chat, show, validate and eval, with no LINE account needed."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from bot import knowledge, limits, menus, render, richmenu, vocabulary
from bot.evaluate import SPLITS, evaluate, load_questions
from bot.matcher import Matcher
from bot.types import Match


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
    print("LINE error bot — paste an error or ask a question (numbers pick a choice; exit or Ctrl-D ends).", file=out)
    offered: list[str] = []
    lang = "ja"
    while True:
        try:
            line = input("> ").strip()
        except (EOFError, KeyboardInterrupt):
            print(file=out)
            return 0
        if line.lower() in {"exit", "quit", "終了"}:
            return 0
        if not line:
            continue
        picked = menus.pick(line, offered)
        if picked:
            text, offered = render.answer_text(kb, picked, lang), list(kb[picked].related)
        else:
            match = matcher.match(line)
            lang, offered, text = match.lang, menus.options(kb, match), render.render_text(kb, match)
        print(text + "\n", file=out, flush=True)


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
    except knowledge.KnowledgeError as exc:
        for problem in exc.problems:
            print(problem, file=out)
        return 1
    print(f"ok: {len(kb)} entries, version {kb.version}", file=out)
    return 0


def cmd_eval(args: argparse.Namespace, out: TextIO) -> int:
    matcher = Matcher(_kb(args))
    try:
        questions = load_questions(args.file, args.split)
    except (OSError, ValueError) as exc:
        print(f"eval: {exc}", file=sys.stderr)
        return 2
    report = evaluate(matcher, questions)
    for question, got in report.misses:
        wanted = question.expect or "clarify " + ",".join(question.clarify)
        if question.deflect:
            wanted += f" ({question.deflect})"
        have = got.entry_id or (got.kind + " " + ",".join(got.choices)).strip()
        print(f"miss: {question.q!r} wanted {wanted} ({question.lang or 'any'}) got {have} ({got.lang})", file=out)
    print(report.summary(), file=out)
    return 1 if args.min_accuracy is not None and report.accuracy < args.min_accuracy else 0


def cmd_richmenu(args: argparse.Namespace, out: TextIO) -> int:
    kb = limits.checked(knowledge.load(args.knowledge))
    return richmenu.run(richmenu.load(args.knowledge, kb), args.dry_run, out, sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__)
    parser.add_argument("--knowledge", metavar="DIR", help="knowledge directory (default: knowledge/)")
    sub = parser.add_subparsers(dest="command", required=True)

    ask = sub.add_parser("ask", help="answer one question (or, with --json, one per stdin line)")
    ask.add_argument("text", nargs="*")
    ask.add_argument("--lang", choices=("ja", "en"))
    ask.add_argument("--json", action="store_true")
    ask.set_defaults(func=cmd_ask)

    chat = sub.add_parser("chat", help="chat with the bot in the terminal")
    chat.set_defaults(func=cmd_chat)

    show = sub.add_parser("show", help="the rendered LINE messages of entries")
    show.add_argument("ids", nargs="*")
    show.add_argument("--lang", choices=("ja", "en"), default="ja")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=cmd_show)

    validate = sub.add_parser("validate", help="check a knowledge directory")
    validate.add_argument("dir", nargs="?")
    validate.set_defaults(func=cmd_validate)

    ev = sub.add_parser("eval", help="score a question file")
    ev.add_argument("file")
    ev.add_argument("--min-accuracy", type=float)
    ev.add_argument("--split", choices=SPLITS, help="score only the items of this split (real questions)")
    ev.set_defaults(func=cmd_eval)

    rich = sub.add_parser("richmenu", help="set up the rich menus on LINE (replaces the ones it made before)")
    rich.add_argument("--dry-run", action="store_true", help="print the requests instead of sending them")
    rich.set_defaults(func=cmd_richmenu)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run one command; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args, out or sys.stdout)
    except knowledge.KnowledgeError as exc:
        print(exc, file=sys.stderr)
        return 1
