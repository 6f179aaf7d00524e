"""Probe a checked webhook URL the way LINE's Verify does, and record what happened at each step.

httpcore (httpx's transport) does the HTTP/1.1 and HTTP/2; a network backend pins each connection to
the addresses the URL guard checked, keeping the name for SNI and Host, and records connect and TLS
facts. Redirects are never followed and at most `max_body` bytes of the answer are read.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import ssl
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import certifi
import h2.events
import httpcore
from cryptography import x509

from bot.diagnosis import Cert, Facts
from bot.urlguard import Target

USER_AGENT = "LineErrorBot-WebhookCheck/1.0 (a LINE error bot checking a webhook URL; not LINE)"
DESTINATION = "U" + "0" * 32  # a channel's bot user id goes here; the probe has none
DUMMY_SIGNATURE = base64.b64encode(bytes(32)).decode()  # the shape of a signature, signed by nothing


@dataclass(frozen=True)
class Limits:
    """Seconds per step (the whole probe stays near `total`) and the most body bytes read."""

    dns: float = 2.0
    connect: float = 2.5  # TCP connect; the TLS handshake gets as long again
    response: float = 2.0  # LINE gives up after 2 s
    total: float = 10.0
    max_body: int = 64 * 1024


def body_and_signature(secret: str | None) -> tuple[bytes, str]:
    """Verify's body, and X-Line-Signature signed with `secret` (a dummy one without)."""
    body = json.dumps({"destination": DESTINATION, "events": []}, separators=(",", ":")).encode()
    if secret is None:
        return body, DUMMY_SIGNATURE
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return body, base64.b64encode(digest).decode()


def cert_facts(der: bytes) -> Cert | None:
    """Issuer, subject, names and expiry of a DER certificate (None when it cannot be parsed)."""
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError:
        return None
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = [*san.get_values_for_type(x509.DNSName), *(str(a) for a in san.get_values_for_type(x509.IPAddress))]
    except (x509.ExtensionNotFound, ValueError):
        names = []
    return Cert(
        issuer=cert.issuer.rfc4514_string(),
        subject=cert.subject.rfc4514_string(),
        names=tuple(names),
        not_after=cert.not_valid_after_utc,
        self_signed=cert.issuer == cert.subject,
    )


def line_context(ciphers: Iterable[str], extra_ca: str | None = None) -> ssl.SSLContext:
    """A client context like LINE's webhook client: TLS 1.2+, LINE's suites, Mozilla's CAs (+ one test CA)."""
    context = ssl.create_default_context(cafile=certifi.where())
    if extra_ca:
        context.load_verify_locations(cafile=extra_ca)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    tls12 = [c for c in ciphers if not c.startswith("TLS_")]  # TLS 1.3 suites are configured apart
    if tls12:
        context.set_ciphers(":".join(tls12))
    return context


def _peek_context() -> ssl.SSLContext:
    """No verification, any version: only to read what a failing server presents."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        context.set_ciphers("ALL:@SECLEVEL=0")
        context.minimum_version = ssl.TLSVersion.TLSv1
    except (ssl.SSLError, ValueError):
        pass  # this OpenSSL cannot go lower: the facts say less, the verdict is the same
    context.set_alpn_protocols(["h2", "http/1.1"])
    return context


def _cause(exc: BaseException) -> BaseException:
    return exc.__cause__ or exc.__context__ or exc


def _ms(start: float) -> float:
    return (time.monotonic() - start) * 1000


class _Recorder(httpcore.NetworkStream):
    """Passes everything through to the real stream; records the TLS handshake in `facts`."""

    def __init__(self, inner: httpcore.NetworkStream, facts: Facts) -> None:
        self.inner = inner
        self.facts = facts
        self.tls_done = time.monotonic()

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self.inner.read(max_bytes, timeout)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.inner.write(buffer, timeout)

    def close(self) -> None:
        self.inner.close()

    def get_extra_info(self, info: str) -> Any:
        return self.inner.get_extra_info(info)

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        facts, start = self.facts, time.monotonic()
        try:
            stream = self.inner.start_tls(ssl_context, server_hostname, timeout)
        except httpcore.ConnectTimeout:
            facts.tls_error, facts.tls_ms = "timeout", _ms(start)
            raise
        except httpcore.ConnectError as exc:
            facts.tls_ms = _ms(start)
            cause = _cause(exc)
            if isinstance(cause, ssl.SSLCertVerificationError):
                facts.tls_error, facts.verify_code = "verify", cause.verify_code
                facts.tls_info = str(cause.verify_message)
            elif isinstance(cause, ssl.SSLEOFError) or "EOF" in str(cause):
                facts.tls_error, facts.tls_info = "eof", str(cause)
            elif isinstance(cause, ConnectionResetError):
                facts.tls_error, facts.tls_info = "reset", str(cause)
            elif isinstance(cause, ssl.SSLError):
                facts.tls_error, facts.tls_info = cause.reason or type(cause).__name__, str(cause)
            else:
                facts.tls_error, facts.tls_info = type(cause).__name__, str(cause)
            raise
        facts.tls_ms = _ms(start)
        tls = stream.get_extra_info("ssl_object")
        if tls is not None:
            facts.tls_version, facts.alpn = tls.version(), tls.selected_alpn_protocol()
            facts.cipher = (tls.cipher() or (None,))[0]
            der = tls.getpeercert(True)
            facts.cert = cert_facts(der) if der else None
            facts.verified = True
        self.tls_done = time.monotonic()  # the request is written from here on
        return stream


class PinnedBackend(httpcore.NetworkBackend):
    """Connects only to the checked addresses, whatever host httpcore asks for; records connect facts."""

    def __init__(self, addresses: tuple[str, ...], facts: Facts, inner: httpcore.NetworkBackend | None = None) -> None:
        self.addresses = addresses
        self.facts = facts
        self.inner = inner or httpcore.SyncBackend()
        self.last: _Recorder | None = None

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        facts = self.facts
        deadline = time.monotonic() + (timeout or 10.0)
        error: Exception | None = None
        for address in self.addresses:  # the name in `host` is never resolved again
            start = time.monotonic()
            try:
                stream = self.inner.connect_tcp(address, port, max(0.05, deadline - start), None, socket_options)
            except httpcore.ConnectTimeout as exc:
                facts.connect_error, facts.connect_to, facts.connect_info = "timeout", f"{address}:{port}", ""
                error = exc
                continue
            except httpcore.ConnectError as exc:
                cause = _cause(exc)
                kind = "refused" if isinstance(cause, ConnectionRefusedError) else "unreachable"
                facts.connect_error, facts.connect_to, facts.connect_info = kind, f"{address}:{port}", str(cause)
                error = exc
                continue
            facts.address, facts.connect_ms = address, _ms(start)
            facts.connect_error, facts.connect_info = None, ""
            self.last = _Recorder(stream, facts)
            return self.last
        raise error or httpcore.ConnectError("no address to connect to")

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)


def _peek(backend: PinnedBackend, target: Target, timeout: float) -> None:
    """After a failed handshake: shake hands again without verifying, to report what the server presents."""
    facts = backend.facts
    if facts.address is None or timeout <= 0.05:
        return
    try:
        stream = backend.inner.connect_tcp(facts.address, target.port, timeout)
    except (httpcore.ConnectError, httpcore.ConnectTimeout):
        return
    try:
        name = None if target.literal else target.host
        tls_stream = stream.start_tls(_peek_context(), name, timeout)
    except (httpcore.ConnectError, httpcore.ConnectTimeout):
        stream.close()
        return
    try:
        tls = tls_stream.get_extra_info("ssl_object")
        if tls is not None:
            facts.server_tls_version = tls.version()
            der = tls.getpeercert(True)
            if der and facts.cert is None:
                facts.cert = cert_facts(der)
                facts.verified = False
    finally:
        tls_stream.close()


def _response_error(exc: Exception, facts: Facts) -> None:
    if isinstance(exc, httpcore.TimeoutException):
        facts.response_error = "timeout"
        facts.response_info = ""
        return
    event = exc.args[0] if exc.args else None
    if isinstance(event, h2.events.ConnectionTerminated):
        facts.response_error, facts.response_info = "goaway", str(event.error_code)
    elif isinstance(event, h2.events.StreamReset):
        facts.response_error, facts.response_info = "stream_reset", str(event.error_code)
    elif isinstance(exc, httpcore.ReadError | httpcore.WriteError) or any(
        word in str(exc).lower() for word in ("disconnect", "closed", "incomplete")
    ):
        facts.response_error, facts.response_info = "closed", str(exc)
    else:
        facts.response_error, facts.response_info = "protocol", f"{type(exc).__name__}: {exc}"


def probe(
    target: Target,
    facts: Facts,
    context: ssl.SSLContext,
    secret: str | None = None,
    limits: Limits = Limits(),
    network: httpcore.NetworkBackend | None = None,
    started: float | None = None,
) -> Facts:
    """POST Verify's body to `target` over the checked addresses; fill in `facts` and return it."""
    started = started or time.monotonic()
    facts.checked_at = facts.checked_at or datetime.now(UTC)
    backend = PinnedBackend(target.addresses, facts, network)
    body, signature = body_and_signature(secret)
    facts.signed = secret is not None
    headers = [
        (b"Host", target.authority.encode()),
        (b"Content-Type", b"application/json"),
        (b"User-Agent", USER_AGENT.encode()),
        (b"X-Line-Signature", signature.encode()),
    ]
    url = f"https://{target.authority}{target.target}"
    timeouts = {"connect": limits.connect, "read": limits.response, "write": limits.response, "pool": 1.0}
    with httpcore.ConnectionPool(
        ssl_context=context, http1=True, http2=True, retries=0, network_backend=backend
    ) as pool:
        request_start = time.monotonic()
        try:
            with pool.stream("POST", url, headers=headers, content=body, extensions={"timeout": timeouts}) as answer:
                recorder = backend.last
                sent = recorder.tls_done if recorder else request_start
                facts.response_ms = _ms(sent)
                facts.status = answer.status
                version = answer.extensions.get("http_version", b"")
                facts.http_version = version.decode() if isinstance(version, bytes) else str(version)
                for name, value in answer.headers:
                    if name.lower() == b"location":
                        facts.location = value.decode("latin-1")[:300]
                for chunk in answer.iter_stream():
                    facts.body_bytes += len(chunk)
                    if facts.body_bytes >= limits.max_body or time.monotonic() - started > limits.total:
                        break  # the verdict is in the status line; a slow or huge body adds nothing
        except (httpcore.ConnectError, httpcore.ConnectTimeout):
            if facts.tls_error:
                _peek(backend, target, min(2.0, limits.total - (time.monotonic() - started)))
        except httpcore.ProtocolError as exc:
            _response_error(exc, facts)
        except (httpcore.NetworkError, httpcore.TimeoutException) as exc:
            _response_error(exc, facts)
    return facts
