"""Start-up and memory of the web process: start to first 200 over several starts (and when the app was
ready, the port bound and the first worker forked, from the server's log), then each process's
resident memory (master and workers) split into private and shared pages, and how much of it is the
Sudachi dictionary's file mapping, after every worker has answered the dev questions.

Usage: python scripts/bench_process.py [--starts 5] [--events 400] [--shared-dictionary]
The server reads its own copy of the dictionary package (in a temporary directory put first on
PYTHONPATH), as on a dyno where no other process maps or caches the file: on a development machine the
virtualenv's system.dic stays in the page cache while other processes (test suites) use it, and every
fault then maps cached neighbouring pages too. --shared-dictionary uses the virtualenv's file as it is.
Everything runs on 127.0.0.1 (the fake LINE API is scripts/fake_line.py); figures are printed."""

from __future__ import annotations

import argparse
import contextlib
import http.client
import importlib.util
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from bench_webhook import (
    bot_env,
    children,
    cpu_seconds,
    free_port,
    load,
    make_bodies,
    procfile_argv,
    start,
    start_fake,
    stop,
)

# Lines of the server's stderr whose arrival times split the start into phases (the first of each).
PHASES = {
    "app ready": "ready:",  # bot.app: settings, knowledge, SDK, dictionary, index: the preload's end
    "listening": "Listening at:",  # gunicorn's master has bound the port
    "1st worker": "Booting worker",  # the first fork
}

DICTIONARY = "system.dic"


def smaps(pid: int) -> dict[str, float]:
    """A process's resident memory in MB from /proc/PID/smaps: RSS, PSS, private and shared pages, and
    RSS split three ways: the heap (anonymous mappings: private pages, and pages still shared
    copy-on-write with the master or a sibling), the dictionary's file pages, and the rest (libraries'
    code and data, other files); `anon` counts every anonymous page (the heap and libraries' written data)."""
    keys = ("rss", "pss", "private", "shared", "anon", "heap_private", "heap_shared", "dict", "dict_pss")
    kb = dict.fromkeys(keys, 0)
    kind = ""
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        name, _, rest = line.partition(":")
        if " " in name:  # a mapping's header line: "start-end perms offset dev inode [path]"
            fields = line.split(maxsplit=5)
            path = fields[5].strip() if len(fields) == 6 else ""
            kind = "dict" if path.endswith(DICTIONARY) else "heap" if path in ("", "[heap]") else "other"
            continue
        value = rest.split()[0] if rest.split() else "0"
        if not value.isdigit():
            continue
        size = int(value)
        if name == "Rss":
            kb["rss"] += size
            kb["dict"] += size if kind == "dict" else 0
        elif name == "Pss":
            kb["pss"] += size
            kb["dict_pss"] += size if kind == "dict" else 0
        elif name in ("Private_Clean", "Private_Dirty"):
            kb["private"] += size
            kb["heap_private"] += size if kind == "heap" else 0
        elif name in ("Shared_Clean", "Shared_Dirty"):
            kb["shared"] += size
            kb["heap_shared"] += size if kind == "heap" else 0
        elif name == "Anonymous":  # the heap, and libraries' data pages written since they were loaded
            kb["anon"] += size
    mb = {k: v / 1024 for k, v in kb.items()}
    mb["other"] = mb["rss"] - mb["heap_private"] - mb["heap_shared"] - mb["dict"]
    return mb


def describe(pid: int) -> str:
    m = smaps(pid)
    return (
        f"RSS {m['rss']:5.1f}  PSS {m['pss']:5.1f}  private {m['private']:5.1f}  shared {m['shared']:5.1f} MB"
        f" = heap {m['heap_private']:5.1f} private + {m['heap_shared']:5.1f} shared"
        f", dictionary file {m['dict']:5.1f} (PSS {m['dict_pss']:4.1f}), libraries {m['other']:4.1f}"
    )


def start_with_phases(
    argv: list[str], env: dict[str, str], port: int
) -> tuple[subprocess.Popen[bytes], float, dict[str, float]]:
    """bench_webhook.start, also returning when each of PHASES was logged (seconds from the start)."""
    phases: dict[str, float] = {}
    read_end, write_end = os.pipe()
    started = time.monotonic()

    def read() -> None:  # until the server and its workers have closed their copies of the pipe
        with os.fdopen(read_end, "rb") as lines:
            for raw in lines:
                line = raw.decode(errors="replace")
                for phase, marker in PHASES.items():
                    if marker in line and phase not in phases:
                        phases[phase] = time.monotonic() - started

    threading.Thread(target=read, daemon=True).start()
    try:
        proc, first_200 = start(argv, env, port, stderr=write_end)
    finally:
        os.close(write_end)
    return proc, first_200, dict(phases)


def wait_replies(fake_port: int, n: int, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    count = 0
    while time.monotonic() < deadline:
        conn = http.client.HTTPConnection("127.0.0.1", fake_port, timeout=10)
        conn.request("GET", "/count")
        count = int(conn.getresponse().read())
        if count >= n:
            break
        time.sleep(0.1)
    return count


@contextlib.contextmanager
def private_dictionary() -> Iterator[str]:
    """A temporary copy of the sudachidict_core package, written through to disk (a dirty page cannot be
    dropped from the page cache); yields the directory to put first on PYTHONPATH."""
    spec = importlib.util.find_spec("sudachidict_core")
    if spec is None or spec.origin is None:
        raise SystemExit("sudachidict_core is not installed")
    with tempfile.TemporaryDirectory(prefix="bench-dict-") as tmp:
        copy = Path(tmp) / "sudachidict_core"
        shutil.copytree(Path(spec.origin).parent, copy, ignore=shutil.ignore_patterns("__pycache__"))
        for path in copy.rglob("*"):
            if path.is_file():
                with path.open("rb") as f:
                    os.fsync(f.fileno())
        yield tmp


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--starts", type=int, default=5)
    parser.add_argument("--events", type=int, default=400, help="webhooks sent before memory is read")
    parser.add_argument("--shared-dictionary", action="store_true", help="the virtualenv's system.dic, not a copy")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        extra = "" if args.shared_dictionary else stack.enter_context(private_dictionary())
        print("process: dictionary file: " + ("a private copy" if extra else "the virtualenv's, shared"))
        run(args, extra)


def run(args: argparse.Namespace, pythonpath: str) -> None:
    """Start the server `args.starts` times, read its memory on the last start; print the figures."""
    fake, fake_port = start_fake(0.01)
    boots: list[float] = []
    timings: list[dict[str, float]] = []
    cpus: list[float] = []  # CPU seconds of master + workers when all are up: less noisy than wall time
    try:
        for i in range(args.starts):
            port = free_port()
            env = bot_env(port, fake_port)
            if pythonpath:
                env["PYTHONPATH"] = os.pathsep.join(filter(None, [pythonpath, env.get("PYTHONPATH", "")]))
            proc, boot, phases = start_with_phases(procfile_argv(), env, port)
            boots.append(boot)
            timings.append(phases)
            cpus.append(cpu_seconds(proc.pid))
            try:
                if i == args.starts - 1:  # memory once, on the last start: after real questions
                    print(f"process: boot, before any webhook:  master {describe(proc.pid)}")
                    for n, pid in enumerate(children(proc.pid), 1):
                        print(f"process:                             worker {n} {describe(pid)}")
                    before = wait_replies(fake_port, 0, 0)
                    load(port, make_bodies(args.events), 16)
                    wait_replies(fake_port, before + args.events)
                    print(f"process: after {args.events} webhooks:        master {describe(proc.pid)}")
                    for n, pid in enumerate(children(proc.pid), 1):
                        print(f"process:                             worker {n} {describe(pid)}")
            finally:
                with contextlib.suppress(Exception):
                    stop(proc)
    finally:
        fake.terminate()
        fake.wait(10)
    for phase in PHASES:
        times = [t[phase] for t in timings if phase in t]
        if times:
            listed = ", ".join(f"{t:.2f}" for t in times)
            print(f"process: {phase:>10} at {listed} s (median {statistics.median(times):.2f} s)")
    print(
        f"process: start to first 200 over {len(boots)} starts: {', '.join(f'{b:.2f}' for b in boots)} s "
        f"(median {statistics.median(boots):.2f} s); CPU of master and workers once all are up: "
        f"{', '.join(f'{c:.2f}' for c in cpus)} s (median {statistics.median(cpus):.2f} s)"
    )


if __name__ == "__main__":
    sys.exit(main())
