"""Local servers on 127.0.0.1 that misbehave in the ways webhook servers do, for the diagnosis tests."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import socketserver
import ssl
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h2.config
import h2.connection
import h2.events
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

Behaviour = Callable[[Any, bytes], None]  # (connection, request head and body) -> writes the answer


def answer(status: int, headers: dict[str, str] | None = None, body: bytes = b"ok") -> Behaviour:
    """A complete HTTP/1.1 answer."""

    def respond(conn: Any, _: bytes) -> None:
        lines = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}", "Connection: close"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)

    return respond


def cut_mid_body(conn: Any, _: bytes) -> None:
    """Promise 100 bytes, send 3, hang up."""
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc")


def hang_up(conn: Any, _: bytes) -> None:
    """Read the request and close without a word."""


def _read_request(conn: Any) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


class Server:
    """A threaded TCP server on 127.0.0.1: TLS (when given a context), then `behaviour` per request."""

    def __init__(self, behaviour: Behaviour, context: ssl.SSLContext | None = None, whole: bool = True) -> None:
        self.behaviour = behaviour
        self.context = context
        self.whole = whole  # False: answer after the first bytes (a plain HTTP server meeting a TLS hello)
        self.requests: list[bytes] = []
        self.release = threading.Event()  # set at teardown: servers that hang stop hanging
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                conn = self.request
                conn.settimeout(10)
                try:
                    if outer.context is not None:
                        conn = outer.context.wrap_socket(conn, server_side=True)
                    request = _read_request(conn) if outer.whole else conn.recv(65536)
                    outer.requests.append(request)
                    outer.behaviour(conn, request)
                except (OSError, ssl.SSLError):
                    pass
                finally:
                    conn.close()

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def url(self, path: str = "/callback") -> str:
        return f"https://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()


def server_context(cert: trustme.LeafCert, chain: bool = True) -> ssl.SSLContext:
    """A server context presenting `cert` (with its intermediates unless chain=False)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    if chain:
        cert.configure_cert(context)
    else:
        context.load_cert_chain(_write_leaf_only(cert))
    return context


def _write_leaf_only(cert: trustme.LeafCert) -> str:
    with tempfile.NamedTemporaryFile("wb", suffix=".pem", delete=False) as handle:
        handle.write(cert.private_key_pem.bytes() + cert.cert_chain_pems[0].bytes())
    return handle.name


def self_signed_context(directory: Path, name: str = "localhost") -> ssl.SSLContext:
    """A server presenting a self-signed certificate for `name` and 127.0.0.1 (what `openssl req -x509` makes)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=90))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(name), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    path = directory / "self-signed.pem"
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.write_bytes(key_pem + cert.public_bytes(serialization.Encoding.PEM))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(path))
    return context


def h2_server(cert: trustme.LeafCert, action: str) -> Server:
    """An HTTP/2-only server: after the request's headers, 'ok' answers 200, 'goaway' ends the connection,
    'reset' the stream."""
    context = server_context(cert)
    context.set_alpn_protocols(["h2"])

    def serve(conn: Any, preface: bytes) -> None:
        h2conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        h2conn.initiate_connection()
        conn.sendall(h2conn.data_to_send())
        data = preface
        while True:
            for event in h2conn.receive_data(data):
                if isinstance(event, h2.events.RequestReceived):
                    if action == "ok":
                        h2conn.send_headers(event.stream_id, [(":status", "200"), ("content-length", "2")])
                        h2conn.send_data(event.stream_id, b"ok", end_stream=True)
                    elif action == "goaway":
                        h2conn.close_connection(error_code=0)
                    else:
                        h2conn.reset_stream(event.stream_id, error_code=2)
                    conn.sendall(h2conn.data_to_send())
                    while conn.recv(65536):  # until the client hangs up: it must read the frame first
                        pass
                    return
            conn.sendall(h2conn.data_to_send())
            data = conn.recv(65536)
            if not data:
                return

    return Server(serve, context)


def h2_without_alpn(cert: trustme.LeafCert) -> Server:
    """A server that agrees no protocol by ALPN and speaks only HTTP/2: SETTINGS, then GOAWAY."""

    def serve(conn: Any, _: bytes) -> None:
        h2conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        h2conn.initiate_connection()
        h2conn.close_connection(error_code=1)  # PROTOCOL_ERROR: an HTTP/1.1 request is not a preface
        conn.sendall(h2conn.data_to_send())

    return Server(serve, server_context(cert))


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class FullBacklog:
    """A listener that never accepts, its accept queue full: further connects get no answer."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(0)
        self.port = self.listener.getsockname()[1]
        self.fillers: list[socket.socket] = []
        for _ in range(16):  # the kernel queues backlog + 1; stop at the first connect it ignores
            filler = socket.socket()
            filler.settimeout(0.3)
            self.fillers.append(filler)
            try:
                filler.connect(("127.0.0.1", self.port))
            except OSError:
                break

    def close(self) -> None:
        for sock in [*self.fillers, self.listener]:
            sock.close()
