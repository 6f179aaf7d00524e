"""A fake LINE Messaging API on 127.0.0.1 for tests and benchmarks, with LINE's reply-token rule: a token
is accepted once, and any later call with it gets 400 "Invalid reply token".

Faults on demand: drop every Nth call (the connection closes without an answer, after the reply was
accepted or before), answer some calls with a status, hang once past the client's read timeout, hold every answer until
a test lets them go.
Run alone (for benchmarks, so it does not share the load generator's GIL), GET /stats returns when
each call arrived per token (time.monotonic(), system-wide on Linux) and which tokens were accepted;
GET /count how many tokens arrived."""

from __future__ import annotations

import argparse
import json
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

REPLY_PATH = "/v2/bot/message/reply"
OK_BODY = b'{"sentMessages":[{"id":"1","quoteToken":"q"}]}'


@dataclass
class Faults:
    """What the fake does wrong, by call number (1-based, all reply calls counted)."""

    drop_every: int = 0  # every Nth call: no answer, connection closed
    drop_after_accepting: bool = False  # ... after the reply was delivered (the answer is what got lost)
    statuses: dict[int, int] = field(default_factory=dict)  # call number -> status answered (400: bad token)
    hang_on: set[int] = field(default_factory=set)  # call numbers accepted, then answered after `hang` s
    hang: float = 3.0
    delay: float = 0.0  # every answer waits this long
    hold: threading.Event | None = None  # every answer waits until this is set (a signal, not a delay)


class FakeLine:
    """The fake API, served from threads of this process; `accepted` maps token -> times accepted."""

    def __init__(self, faults: Faults | None = None, port: int = 0) -> None:
        self.faults = faults or Faults()
        self.calls = 0
        self.arrivals: dict[str, list[float]] = {}
        self.accepted: dict[str, int] = {}
        self.answered: list[tuple[str, int]] = []  # (token, status) per answered call, in order
        self.requests: list[tuple[dict[str, str], bytes]] = []  # headers and body of every reply call
        self.sent: dict[str, list[str]] = {}  # token -> the message ids its accepted reply was given
        self.lock = threading.Condition()
        self.server = _Server(("127.0.0.1", port), _Handler)
        self.server.fake = self
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        # A 20 ms poll: shutdown() returns at once instead of after socketserver's default 0.5 s.
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), name="fake-line", daemon=True)

    def __enter__(self) -> FakeLine:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def wait(self, predicate: Callable[[FakeLine], bool], timeout: float = 15.0) -> bool:
        """Block until predicate(self) holds (checked on every call); False after `timeout`."""
        with self.lock:
            return self.lock.wait_for(lambda: predicate(self), timeout)

    def call(self, token: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes, str]:
        """Decide one reply call: (status, body, what to do: answer | drop | hang)."""
        faults = self.faults
        with self.lock:
            self.requests.append((headers, body))
            self.calls += 1
            n = self.calls
            self.arrivals.setdefault(token, []).append(time.monotonic())
            dropped = faults.drop_every and n % faults.drop_every == 0
            if dropped and not faults.drop_after_accepting:
                outcome = (0, b"", "drop")
            elif n in faults.statuses:
                status = faults.statuses[n]
                outcome = (
                    status,
                    b'{"message":"Invalid reply token"}' if status == 400 else b'{"message":"fault"}',
                    "answer",
                )
            elif token in self.accepted:
                outcome = (400, b'{"message":"Invalid reply token"}', "answer")
            else:
                self.accepted[token] = self.accepted.get(token, 0) + 1
                answer = _sent(n, body)
                self.sent[token] = [m["id"] for m in json.loads(answer)["sentMessages"]]
                outcome = (200, answer, "drop" if dropped else "hang" if n in faults.hang_on else "answer")
            if outcome[2] == "answer":
                self.answered.append((token, outcome[0]))
            self.lock.notify_all()
            return outcome

    def stats(self) -> bytes:
        with self.lock:
            return json.dumps({"arrivals": self.arrivals, "accepted": self.accepted, "calls": self.calls}).encode()

    def count(self) -> bytes:
        """How many reply tokens arrived (cheap to poll, for the soak benchmark)."""
        with self.lock:
            return str(len(self.arrivals)).encode()


def _sent(call: int, body: bytes) -> bytes:
    """LINE's answer to a reply: one sent message per message, each with its own id ("<call>-<n>")."""
    try:
        count = max(1, len(json.loads(body)["messages"]))
    except (ValueError, KeyError, TypeError):
        return OK_BODY
    sent = [{"id": f"{call}-{k}", "quoteToken": f"q{call}-{k}"} for k in range(1, count + 1)]
    return json.dumps({"sentMessages": sent}).encode()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024
    fake: FakeLine

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that went away (a bot stopped mid-keep-alive) is no error worth a traceback."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes: without this, Nagle and delayed ACKs add 40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        try:
            token = str(json.loads(body)["replyToken"])
        except (ValueError, KeyError, TypeError):
            token = "?"
        fake = self.server.fake
        status, payload, action = (
            fake.call(token, dict(self.headers), body) if self.path == REPLY_PATH else (404, b"{}", "answer")
        )
        if action == "drop":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if fake.faults.hold is not None:
            fake.faults.hold.wait(60)  # a bound if a test fails before it lets the answers go
        time.sleep(fake.faults.hang if action == "hang" else fake.faults.delay)
        self._send(status, payload)

    def do_GET(self) -> None:
        fake = self.server.fake
        self._send(200, fake.count() if self.path == "/count" else fake.stats())

    def _send(self, status: int, payload: bytes) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("x-line-request-id", f"fake-{status}")
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            self.close_connection = True  # the client gave up waiting (a hang past its timeout)

    def log_message(self, *args: object) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay", type=float, default=0.3)
    parser.add_argument("--drop-every", type=int, default=0, help="close every Nth call without an answer")
    parser.add_argument("--lifetime", type=float, default=600, help="exit after this many seconds")
    args = parser.parse_args()
    fake = FakeLine(Faults(drop_every=args.drop_every, delay=args.delay), port=args.port)
    threading.Timer(args.lifetime, fake.server.shutdown).start()
    fake.server.serve_forever()


if __name__ == "__main__":
    main()
