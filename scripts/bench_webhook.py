"""Webhook figures under LINE-like load: the web process started as the Procfile starts it, a fake
LINE API on loopback that answers after a set delay, N signed webhooks at concurrency C.

The bot runs twice per pair: with its SQLite file alone, and with REDIS_URL pointing at a redis-server
the bench starts on 127.0.0.1 (skipped when redis-server is not installed, or with --no-redis).
Usage: python scripts/bench_webhook.py [--events 1000] [--concurrency 16] [--delays 0.3,3]
Everything runs on 127.0.0.1 and stops by itself; figures are printed, nothing is asserted."""

from __future__ import annotations

import argparse
import base64
import contextlib
import functools
import hashlib
import hmac
import http.client
import json
import os
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-channel-secret"
TOKEN = "bench-access-token"
REPLY_WINDOW = 60.0  # a reply token lasts about a minute


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def procfile_argv() -> list[str]:
    line = next(ln for ln in (ROOT / "Procfile").read_text().splitlines() if ln.startswith("web:"))
    argv = shlex.split(line.removeprefix("web:"))
    return [str(Path(sys.executable).parent / argv[0]), *argv[1:]]


def start(
    argv: list[str], env: dict[str, str], port: int, stderr: int = subprocess.DEVNULL
) -> tuple[subprocess.Popen[bytes], float]:
    """Start a server; return it and the seconds from start to its first 200 on a signed webhook.

    The webhook is LINE's Verify (no events): it needs the whole intake (signature, journal) and
    sends no reply. It returns once every worker is up: gunicorn forks them a random 0-0.1 s apart,
    and load sent in that gap lands on the first one alone (all 16 keep-alive connections stay with it)."""
    body = json.dumps({"destination": "Ubench", "events": []}).encode()
    secret = env.get("LINE_CHANNEL_SECRET", SECRET).encode()
    signature = base64.b64encode(hmac.new(secret, body, hashlib.sha256).digest())
    headers = {"Content-Type": "application/json", "X-Line-Signature": signature.decode()}
    started = time.monotonic()
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
    first_200 = None
    while time.monotonic() - started < 60:
        if first_200 is None:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                conn.request("POST", "/callback", body=body, headers=headers)
                if conn.getresponse().status == 200:
                    first_200 = time.monotonic() - started
            except OSError:
                pass
        elif len(children(proc.pid)) >= workers():
            time.sleep(0.5)  # the last worker forked; let it reach its accept loop
            return proc, first_200
        time.sleep(0.01)
    proc.kill()
    raise SystemExit("server did not come up within 60 s")


def workers() -> int:
    """The worker count gunicorn.conf.py gives (WEB_CONCURRENCY, which the servers inherit, or its default)."""
    return int(gunicorn_setting("workers"))


@functools.cache
def gunicorn_setting(name: str) -> str:
    """A setting of gunicorn.conf.py, read in a child process: the file monkey-patches for gevent."""
    code = f"import runpy; print(runpy.run_path({str(ROOT / 'gunicorn.conf.py')!r})[{name!r}])"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()


def children(pid: int) -> list[int]:
    with contextlib.suppress(OSError):
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return []


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()


def rss_mb(pid: int) -> list[float]:
    """Resident memory of a process and its children, in MB."""
    sizes = []
    for p in [pid, *children(pid)]:
        try:
            status = Path(f"/proc/{p}/status").read_text()
            kb = next(int(ln.split()[1]) for ln in status.splitlines() if ln.startswith("VmRSS:"))
            sizes.append(kb / 1024)
        except (OSError, StopIteration):
            pass
    return sizes


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its children (gunicorn master and workers)."""
    total = 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    for p in [pid, *children(pid)]:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
        except (OSError, IndexError, ValueError):
            pass
    return total


Signed = tuple[str, str, str]  # reply token, body, X-Line-Signature


def load(port: int, bodies: list[Signed], concurrency: int) -> tuple[float, list[float], dict[str, float]]:
    """POST every body at `concurrency`; return (seconds, ack latencies in ms, ack time per reply token)."""
    latencies: list[float] = []
    acked: dict[str, float] = {}
    lock = threading.Lock()
    work = iter(bodies)

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while True:
            with lock:
                item = next(work, None)
            if item is None:
                conn.close()
                return
            token, body, signature = item
            headers = {"Content-Type": "application/json", "X-Line-Signature": signature}
            began = time.monotonic()
            try:
                conn.request("POST", "/callback", body=body.encode(), headers=headers)
                response = conn.getresponse()
                response.read()
            except OSError:
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                continue
            done = time.monotonic()
            with lock:
                latencies.append((done - began) * 1000)
                if response.status == 200:
                    acked[token] = done

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.monotonic() - started, latencies, acked


def make_bodies(n: int) -> list[Signed]:
    """N one-event webhook bodies, signed beforehand: signing is LINE's work, not the load's."""
    import yaml

    questions = [q["q"] for q in yaml.safe_load((ROOT / "tests/data/dev-questions.yaml").read_text())]
    run = f"{time.time_ns()}"
    bodies = []
    for i in range(n):
        token = f"bench-{run}-{i}"
        event = {
            "type": "message",
            "mode": "active",
            "timestamp": 1700000000000,
            "source": {"type": "user", "userId": "Ubench"},
            "webhookEventId": f"01BENCH{run}{i:06d}",
            "deliveryContext": {"isRedelivery": False},
            "replyToken": token,
            "message": {"id": str(i), "type": "text", "text": questions[i % len(questions)], "quoteToken": "q"},
        }
        body = json.dumps({"destination": "Ubench", "events": [event]})
        signature = base64.b64encode(hmac.new(SECRET.encode(), body.encode(), hashlib.sha256).digest()).decode()
        bodies.append((token, body, signature))
    return bodies


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def stats_at(port: int) -> dict[str, Any]:
    """The fake API's record: arrivals (token -> call times), accepted (token -> count), calls."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/stats")
    return json.loads(conn.getresponse().read())


def start_fake(delay: float, drop_every: int = 0) -> tuple[subprocess.Popen[bytes], int]:
    """scripts/fake_line.py in a process of its own; a token is accepted once, every Nth call dropped."""
    port = free_port()
    argv = [sys.executable, str(ROOT / "scripts/fake_line.py"), "--port", str(port), "--delay", str(delay)]
    fake = subprocess.Popen([*argv, "--drop-every", str(drop_every)])
    while not _port_open(port):
        time.sleep(0.05)
    return fake, port


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def bot_env(port: int, fake_port: int, redis_url: str = "") -> dict[str, str]:
    tmp = tempfile.mkdtemp(prefix="bench-")
    return dict(
        os.environ,
        PORT=str(port),
        LINE_CHANNEL_SECRET=SECRET,
        LINE_CHANNEL_ACCESS_TOKEN=TOKEN,
        LINE_API_BASE_URL=f"http://127.0.0.1:{fake_port}",
        DEDUPE_DB=f"{tmp}/seen.sqlite3",
        REDIS_URL=redis_url,
        QUESTION_LOG_DB=f"{tmp}/questions.sqlite3",
    )


Figures = dict[str, float]  # req/s, ack p50 and p99 (ms) of one run


def run_bot(delay: float, n: int, concurrency: int, drop_every: int = 0, redis_url: str = "") -> Figures:
    """One bot run against a fake LINE API answering after `delay` s; print its figures, return them."""
    fake, fake_port = start_fake(delay, drop_every)
    port = free_port()
    proc, boot = start(procfile_argv(), bot_env(port, fake_port, redis_url), port)
    try:
        bodies = make_bodies(n)
        cpu_before = cpu_seconds(proc.pid)
        seconds, latencies, acked = load(port, bodies, concurrency)
        cpu_load = cpu_seconds(proc.pid) - cpu_before
        deadline = time.monotonic() + REPLY_WINDOW + delay
        while time.monotonic() < deadline and len(stats_at(fake_port)["accepted"]) < n:
            time.sleep(0.2)
        rss = rss_mb(proc.pid)
        cpu_total = cpu_seconds(proc.pid) - cpu_before
        stats = stats_at(fake_port)
        arrivals, accepted = stats["arrivals"], stats["accepted"]
    finally:
        stop(proc)
        fake.terminate()
        fake.wait(timeout=10)
    duplicates = sum(count - 1 for count in accepted.values())  # delivered twice: must be 0
    retries = stats["calls"] - len(arrivals)
    delays = [arrivals[t][0] - acked[t] for t in acked if t in arrivals]
    within = sum(1 for d in delays if d <= REPLY_WINDOW)
    rps = n / seconds
    print(
        f"  {'redis' if redis_url else 'bot':5} {rps:5.0f} req/s  ack p50 {statistics.median(latencies):5.1f} ms"
        f" p99 {pct(latencies, 0.99):5.1f} ms"
        f"  replied {len(accepted)}/{n} ({within} within {REPLY_WINDOW:.0f} s), {duplicates} duplicate(s),"
        f" {retries} retried call(s){f' (every {drop_every}th call dropped)' if drop_every else ''},"
        f" largest ack-to-reply {max(delays) if delays else float('nan'):.1f} s"
    )
    print(
        f"        start to first 200 {boot:.2f} s  RSS {', '.join(f'{m:.0f}' for m in rss)} MB (master first)"
        f"  server CPU per event {1000 * cpu_load / n:.2f} ms while acking, {1000 * cpu_total / n:.2f} ms with reply"
    )
    return {"rps": rps, "p50": statistics.median(latencies), "p99": pct(latencies, 0.99)}


def run_bare(n: int, concurrency: int) -> Figures:
    """One run of the bare Flask app under the same gunicorn settings; print its figures, return them."""
    port = free_port()
    env = dict(os.environ, PORT=str(port))
    argv = [str(Path(sys.executable).parent / "gunicorn"), "--pythonpath", "scripts", "bare_app:app"]
    proc, _ = start(argv, env, port)
    try:
        cpu_before = cpu_seconds(proc.pid)
        seconds, latencies, _ = load(port, make_bodies(n), concurrency)
        cpu = cpu_seconds(proc.pid) - cpu_before
    finally:
        stop(proc)
    rps = n / seconds
    print(
        f"  bare  {rps:5.0f} req/s  ack p50 {statistics.median(latencies):5.1f} ms p99 {pct(latencies, 0.99):5.1f} ms"
        f"  server CPU per request {1000 * cpu / n:.2f} ms"
    )
    return {"rps": rps, "p50": statistics.median(latencies), "p99": pct(latencies, 0.99)}


def run_slow_clients(n: int = 200, slow: int = 64) -> None:
    """Webhook acks, one at a time, while `slow` connections each hold half a request header."""
    fake, fake_port = start_fake(0.3)
    port = free_port()
    proc, _ = start(procfile_argv(), bot_env(port, fake_port), port)
    held = []
    try:
        for _ in range(slow):
            conn = socket.create_connection(("127.0.0.1", port), timeout=30)
            conn.sendall(b"POST /callback HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Line-Sig")
            held.append(conn)
        latencies, acked = [], 0
        for _, body, signature in make_bodies(n):  # a new connection each: either worker may take it
            began = time.monotonic()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            try:
                headers = {"Content-Type": "application/json", "X-Line-Signature": signature}
                conn.request("POST", "/callback", body=body.encode(), headers=headers)
                acked += conn.getresponse().status == 200
            except OSError:
                pass  # a timeout: counted as 10 s below
            finally:
                conn.close()
            latencies.append((time.monotonic() - began) * 1000)
    finally:
        for conn in held:
            conn.close()
        stop(proc)
        fake.terminate()
        fake.wait(timeout=10)
    print(
        f"  {slow} slow clients attached: {acked}/{n} webhooks acked,"
        f" ack p50 {statistics.median(latencies):.1f} ms"
        f" p99 {pct(latencies, 0.99):.1f} ms max {max(latencies):.1f} ms"
        f" (worker class {gunicorn_setting('worker_class')})"
    )


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """A redis-server on a free loopback port without persistence; "" when it is not installed."""
    binary = shutil.which("redis-server")
    if binary is None:
        print("redis-server not installed: Redis runs skipped (apt-get install redis-server)")
        yield ""
        return
    port = free_port()
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, cwd=tempfile.gettempdir())
    try:
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
                conn.sendall(b"PING\r\n")
                if conn.recv(16).startswith(b"+PONG"):
                    break
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def journal_cost(redis_url: str, n: int = 2000) -> None:
    """What journaling one event costs the webhook (put, before the 200) and the reply (done), per store."""
    sys.path.insert(0, str(ROOT))
    from bot.store import open_store

    event = json.loads(make_bodies(1)[0][1])["events"][0]
    for name, url in (("SQLite", ""), ("Redis", redis_url)):
        if name == "Redis" and not url:
            continue
        store = open_store(f"{tempfile.mkdtemp(prefix='bench-')}/seen.sqlite3", url)
        ids = [f"01JOURNAL{time.time_ns()}{i}" for i in range(n)]
        began = time.perf_counter()
        for event_id in ids:
            store.put([(event_id, event)])
        put = time.perf_counter() - began
        began = time.perf_counter()
        for event_id in ids:
            store.done(event_id)
        done = time.perf_counter() - began
        store.release()
        print(f"journal ({name}): put {1e6 * put / n:.0f} us per webhook, done {1e6 * done / n:.0f} us per reply")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--delays", default="0.3,3")
    parser.add_argument("--runs", type=int, default=3, help="bare/bot pairs per delay (the machine is noisy)")
    parser.add_argument("--drop-every", type=int, default=3, help="the fault run: the fake drops every Nth call")
    parser.add_argument("--no-redis", action="store_true", help="SQLite runs only")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        redis_url = "" if args.no_redis else stack.enter_context(redis_server())
        journal_cost(redis_url)
        run_all(args, redis_url)


def run_all(args: argparse.Namespace, redis_url: str) -> None:
    """Slow clients, dropped connections, then bare/bot pairs per LINE API delay (SQLite and Redis)."""
    load_1m = os.getloadavg()[0]
    print(f"Machine: {os.cpu_count()} cores shared by the load generator, fake API and server; load {load_1m:.1f}")
    print("Slow clients (issue 15.3):")
    run_slow_clients()
    print(f"Dropped connections (issue 17): LINE API delay 0.3 s, every {args.drop_every}th call cut, x{args.runs}:")
    for _ in range(args.runs):
        run_bot(0.3, args.events, args.concurrency, drop_every=args.drop_every)
    for delay in (float(d) for d in args.delays.split(",")):
        then = "bot (SQLite), bot (Redis)" if redis_url else "bot"
        print(f"LINE API delay {delay:g} s, N={args.events}, C={args.concurrency}; bare Flask, {then}, x{args.runs}:")
        runs: dict[str, list[Figures]] = {"bare": [], "SQLite": [], "Redis": []}
        for i in range(args.runs):
            runs["bare"].append(run_bare(args.events, args.concurrency))
            # SQLite and Redis take turns going first after the bare run: neither always meets the
            # machine as the previous server left it.
            for store in ("SQLite", "Redis") if i % 2 == 0 else ("Redis", "SQLite"):
                if store == "SQLite" or redis_url:
                    url = redis_url if store == "Redis" else ""
                    runs[store].append(run_bot(delay, args.events, args.concurrency, redis_url=url))
        summarise(runs)


def summarise(runs: dict[str, list[Figures]]) -> None:
    """Medians and spreads over the runs; ratios pair each bot run with the bare run just before it."""

    def spread(values: list[float], form: str) -> str:
        shown = ", ".join(form.format(v) for v in values)
        return f"median {form.format(statistics.median(values))} ({shown})"

    ratios: dict[str, list[float]] = {}
    for name, figures in runs.items():
        if not figures:
            continue
        line = f"  {name:6} req/s {spread([f['rps'] for f in figures], '{:.0f}')}"
        if name != "bare":
            ratios[name] = [f["rps"] / b["rps"] for f, b in zip(figures, runs["bare"], strict=True)]
            line += f"; / bare Flask {spread(ratios[name], '{:.2f}')}"
        p50 = statistics.median(f["p50"] for f in figures)
        p99 = statistics.median(f["p99"] for f in figures)
        print(f"{line}; ack p50 {p50:.1f} ms, p99 {p99:.1f} ms (medians)")
    if "Redis" in ratios:
        cost = 1 - statistics.median(ratios["Redis"]) / statistics.median(ratios["SQLite"])
        # Each Redis run against the SQLite run beside it (the same minute of a shared machine).
        pairs = [r["rps"] / s["rps"] for r, s in zip(runs["Redis"], runs["SQLite"], strict=True)]
        print(
            f"  Redis costs {100 * cost:.0f}% of SQLite's throughput (target: at most 10%);"
            f" Redis / SQLite run by run: {spread(pairs, '{:.2f}')}"
        )


if __name__ == "__main__":
    main()
