"""A fake LINE Messaging API for benchmarks, in a process of its own so it does not share the load
generator's GIL: answers every reply after --delay seconds; GET /stats returns when each reply
token arrived (time.monotonic(), which is system-wide on Linux); GET /count how many tokens arrived."""

from __future__ import annotations

import argparse
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ARRIVALS: dict[str, list[float]] = {}
LOCK = threading.Lock()
DELAY = 0.0


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes: without this, Nagle and delayed ACKs add 40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        now = time.monotonic()
        try:
            token = json.loads(body)["replyToken"]
        except (ValueError, KeyError):
            token = "?"
        with LOCK:
            ARRIVALS.setdefault(token, []).append(now)
        time.sleep(DELAY)
        self._send(b'{"sentMessages":[{"id":"1","quoteToken":"q"}]}')

    def do_GET(self) -> None:
        with LOCK:  # /count: how many replies arrived (cheap to poll); else every arrival
            payload = json.dumps(len(ARRIVALS) if self.path == "/count" else ARRIVALS).encode()
        self._send(payload)

    def _send(self, payload: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("x-line-request-id", "bench")
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024


def main() -> None:
    global DELAY
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay", type=float, default=0.3)
    parser.add_argument("--lifetime", type=float, default=600, help="exit after this many seconds")
    args = parser.parse_args()
    DELAY = args.delay
    server = Server(("127.0.0.1", args.port), Handler)
    threading.Timer(args.lifetime, server.shutdown).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
