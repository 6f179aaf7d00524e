"""Measured facts about a webhook URL -> what LINE would report (reason, detail) and the entry that explains it.

Pure: no network, no clock (the probe's time is one of the facts).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.knowledge import KnowledgeBase

# LINE's reasons and details, exactly as the console's error statistics write them.
COULD_NOT_CONNECT = "could_not_connect"
REQUEST_TIMEOUT = "request_timeout"
ERROR_STATUS_CODE = "error_status_code"
UNCLASSIFIED = "unclassified"

UNKNOWN_HOST = "Unknown host"
DNS_TIMEOUT = "DNS Query timeout"
CONNECTION_TIMEOUT = "Connection timeout"
CONNECTION_FAILED = "Connection failed"
CONNECTION_GOAWAY = "Connection failed (received GOAWAY)"
CONNECTION_SESSION_CLOSED = "Connection failed (session closed)"
INVALID_URL = "Invalid URL syntax"
NEGOTIATION_FAILURE = "Session protocol negotiation failure"
NO_TLS_RECORD = "No SSL/TLS record"
TLS_HANDSHAKE_FAILURE = "TLS handshake failure"
SESSION_CLOSED = "Session closed unexpectedly"
STREAM_CLOSED = "Stream closed unexpectedly"
DISPATCH_ERROR = "Unclassified webhook dispatch error"
TIMEOUT_DETAIL = "Request timeout"

RESPONSE_LIMIT_MS = 2000.0  # LINE gives up on a webhook after 2 seconds
EXPIRY_WARNING_DAYS = 14

# OpenSSL reasons seen when the server does not speak TLS at all (plain HTTP on the port).
_NOT_TLS = {
    "WRONG_VERSION_NUMBER",
    "RECORD_LAYER_FAILURE",
    "PACKET_LENGTH_TOO_LONG",
    "HTTP_REQUEST",
    "UNKNOWN_PROTOCOL",
}
_NO_ALPN = {"TLSV1_ALERT_NO_APPLICATION_PROTOCOL", "NO_APPLICATION_PROTOCOL"}
_OLD_TLS = {"TLSV1_ALERT_PROTOCOL_VERSION", "UNSUPPORTED_PROTOCOL", "NO_PROTOCOLS_AVAILABLE", "WRONG_SSL_VERSION"}
_CLOSED = {"eof", "reset"}
# X509 verify codes (OpenSSL's x509_vfy.h) and what they mean for a webhook.
_VERIFY = {
    9: "the certificate is not valid yet",
    10: "the certificate has expired",
    18: "the certificate is self-signed",
    19: "the chain ends in a self-signed root that is not a public CA",
    20: "the chain is incomplete or its CA is not public: send the intermediate certificates (fullchain.pem)",
    21: "the chain is incomplete: send the intermediate certificates (fullchain.pem)",
    62: "the certificate does not cover this host name",
    64: "the certificate does not cover this IP address (host name)",
}


@dataclass(frozen=True)
class Cert:
    """What the server's certificate says (read even when it does not verify)."""

    issuer: str
    subject: str
    names: tuple[str, ...]
    not_after: datetime | None
    self_signed: bool = False


@dataclass
class Facts:
    """Everything the probe measured; fields stay None for stages it did not reach."""

    url: str
    checked_at: datetime | None = None
    signed: bool = False
    refused: str | None = None  # the URL guard's reason; nothing was sent
    refused_rule: str = ""  # which rule (urlguard.Refused.rule), and what fills in its text
    refused_fields: dict[str, str] = field(default_factory=dict)
    invalid_url: str | None = None
    dns_error: str | None = None  # "unknown_host" | "timeout"
    dns_info: str = ""
    addresses: tuple[str, ...] = ()
    literal: bool = False  # the URL's host is an IP address
    address: str | None = None  # the checked address the probe connected to
    connect_ms: float | None = None
    connect_error: str | None = None  # "refused" | "timeout" | "unreachable"
    connect_info: str = ""
    tls_ms: float | None = None
    tls_error: str | None = None  # OpenSSL reason, "verify", "eof", "reset" or "timeout"
    tls_info: str = ""
    verify_code: int | None = None
    tls_version: str | None = None
    server_tls_version: str | None = None  # what the server speaks when LINE's versions fail
    cipher: str | None = None
    alpn: str | None = None
    cert: Cert | None = None
    verified: bool | None = None  # chain and name verified against Mozilla's bundle
    http_version: str | None = None
    status: int | None = None
    location: str | None = None
    response_ms: float | None = None
    response_error: str | None = None  # "timeout" | "closed" | "goaway" | "stream_reset" | "protocol"
    response_info: str = ""
    body_bytes: int = 0
    elapsed_ms: float = 0.0


@dataclass(frozen=True)
class Check:
    """One measured step: its name, whether LINE would be happy with it, and what was seen."""

    name: str
    ok: bool
    info: str


@dataclass(frozen=True)
class Finding:
    """The verdict: ok, or LINE's reason and detail; the entry explaining it; the checks behind it."""

    url: str
    ok: bool
    reason: str | None
    detail: str | None
    status: int | None
    entry: str | None
    checks: tuple[Check, ...]
    facts: Facts
    refused: str | None = None
    unsigned_rejected: bool = False  # 400/401 to an unsigned probe: reached, and it verifies signatures
    warnings: tuple[str, ...] = field(default=())

    def as_json(self) -> dict[str, Any]:
        """The CLI's --json object."""
        return {
            "url": self.url,
            "ok": self.ok,
            "reason": self.reason,
            "detail": self.detail,
            "status": self.status,
            "entry": self.entry,
            "elapsed_ms": round(self.facts.elapsed_ms, 1),
            "checks": [{"name": c.name, "ok": c.ok, "info": c.info} for c in self.checks],
        }


def entry_for(kb: KnowledgeBase, reason: str | None, detail: str | None, status: int | None) -> str | None:
    """The knowledge-base entry for a finding: the detail's entry, else the status code's, else the reason's."""
    if status is not None and reason == ERROR_STATUS_CODE:
        wanted = (str(status), f"{status // 100}xx", "other")
        for key in wanted:
            for entry in kb.entries.values():
                if key in entry.status and entry.id.startswith("webhook."):
                    return entry.id
    for entry in kb.entries.values():
        if detail and entry.detail == detail:
            return entry.id
    for entry in kb.entries.values():
        if reason and entry.code == reason:
            return entry.id
    return None


def _ms(value: float | None) -> str:
    return f"{value:.0f} ms" if value is not None else "-"


def _tls_problem(facts: Facts) -> tuple[str, str]:
    """(detail, info) for a handshake that failed."""
    error = facts.tls_error or ""
    if error in _NOT_TLS:
        return NO_TLS_RECORD, f"the server answered without TLS ({error}): plain HTTP on an HTTPS port?"
    if error in _NO_ALPN:
        return NEGOTIATION_FAILURE, "no HTTP version both sides speak was agreed (ALPN)"
    if error in _CLOSED:
        return CONNECTION_SESSION_CLOSED, f"the server closed the connection during the TLS handshake ({error})"
    if error == "timeout":
        return CONNECTION_TIMEOUT, "the TLS handshake did not finish in time"
    if error == "verify":
        why = _VERIFY.get(facts.verify_code or -1, facts.tls_info or "the certificate does not verify")
        return TLS_HANDSHAKE_FAILURE, why
    if error in _OLD_TLS:
        spoken = f" (the server speaks {facts.server_tls_version})" if facts.server_tls_version else ""
        return TLS_HANDSHAKE_FAILURE, f"no TLS version in common: LINE speaks TLS 1.2 and 1.3 only{spoken}"
    return TLS_HANDSHAKE_FAILURE, f"{error or 'handshake failed'}: {facts.tls_info}".rstrip(": ")


def _cert_checks(facts: Facts) -> list[Check]:
    cert, checks = facts.cert, []
    if cert is None:
        return checks
    names = ", ".join(cert.names[:8]) + (" …" if len(cert.names) > 8 else "")
    checks.append(Check("certificate", bool(facts.verified), f"issuer {cert.issuer}; names {names or '-'}"))
    if cert.not_after is not None:
        expires = cert.not_after.strftime("%Y-%m-%d %H:%M UTC")
        days = (cert.not_after - facts.checked_at).days if facts.checked_at else None
        ok = days is None or days >= EXPIRY_WARNING_DAYS
        left = f" ({days} days left)" if days is not None and days >= 0 else " (expired)" if days is not None else ""
        checks.append(Check("expiry", ok, f"valid until {expires}{left}"))
    chain = "verifies against Mozilla's CA bundle" if facts.verified else "does not verify"
    checks.append(Check("chain", bool(facts.verified), chain))
    return checks


def diagnose(
    facts: Facts,
    kb: KnowledgeBase,
    supported: frozenset[str] = frozenset(),
    deprecated: frozenset[str] = frozenset(),
    response_limit_ms: float = RESPONSE_LIMIT_MS,
) -> Finding:
    """What LINE would report for these facts; `supported`/`deprecated` are LINE's cipher suites."""
    checks: list[Check] = []
    warnings: list[str] = []

    def done(reason: str | None, detail: str | None, unsigned: bool = False) -> Finding:
        status = facts.status if reason in (None, ERROR_STATUS_CODE) else None
        return Finding(
            url=facts.url,
            ok=reason is None and facts.refused is None,
            reason=reason,
            detail=detail,
            status=status,
            entry=entry_for(kb, reason, detail, status) if reason else None,
            checks=tuple(checks),
            facts=facts,
            refused=facts.refused,
            unsigned_rejected=unsigned,
            warnings=tuple(warnings),
        )

    if facts.refused:
        checks.append(Check("url", False, f"refused: {facts.refused}"))
        return done(None, None)
    if facts.invalid_url:
        checks.append(Check("url", False, facts.invalid_url))
        return done(COULD_NOT_CONNECT, INVALID_URL)
    checks.append(Check("url", True, "https URL, allowed port"))
    if facts.dns_error:
        checks.append(Check("dns", False, facts.dns_info))
        return done(COULD_NOT_CONNECT, DNS_TIMEOUT if facts.dns_error == "timeout" else UNKNOWN_HOST)
    if facts.literal:
        checks.append(Check("dns", True, f"{facts.addresses[0]} is an IP address: no DNS"))
    else:
        checks.append(Check("dns", True, "resolved to " + ", ".join(facts.addresses)))

    if facts.connect_error or facts.address is None:
        checks.append(Check("connect", False, facts.connect_info or "not connected"))
        detail = CONNECTION_TIMEOUT if facts.connect_error == "timeout" else CONNECTION_FAILED
        return done(COULD_NOT_CONNECT, detail)
    checks.append(Check("connect", True, f"connected to {facts.address} in {_ms(facts.connect_ms)}"))

    if facts.tls_error:
        checks += _cert_checks(facts)
        detail, info = _tls_problem(facts)
        checks.insert(3, Check("tls", False, info))
        return done(COULD_NOT_CONNECT, detail)
    cipher_ok = not supported or facts.cipher in supported
    tls_info = f"{facts.tls_version}, {facts.cipher}, ALPN {facts.alpn or 'none'}, in {_ms(facts.tls_ms)}"
    checks.append(Check("tls", cipher_ok, tls_info))
    checks += _cert_checks(facts)
    if facts.cipher in deprecated:
        warnings.append(f"cipher {facts.cipher} is deprecated by LINE and may stop working without notice")
        if facts.alpn == "h2":
            # LINE speaks HTTP/2 only with non-deprecated suites: an h2 server on a deprecated suite fails.
            return done(COULD_NOT_CONNECT, NEGOTIATION_FAILURE)
    for check in checks:
        if check.name == "expiry" and not check.ok:
            warnings.append(check.info)

    if facts.response_error:
        checks.append(Check("response", False, facts.response_info or facts.response_error))
        error = facts.response_error
        if error == "timeout":
            return done(REQUEST_TIMEOUT, TIMEOUT_DETAIL)
        if error == "goaway":
            return done(COULD_NOT_CONNECT, CONNECTION_GOAWAY)
        if error == "stream_reset" or (error == "closed" and facts.alpn == "h2"):
            return done(UNCLASSIFIED, STREAM_CLOSED)
        if error == "closed":
            return done(UNCLASSIFIED, SESSION_CLOSED)
        if facts.alpn is None:
            # No HTTP version agreed by ALPN and the answer is not HTTP/1.x: an HTTP/2-only server.
            return done(COULD_NOT_CONNECT, NEGOTIATION_FAILURE)
        return done(UNCLASSIFIED, DISPATCH_ERROR)
    status = facts.status
    if status is None:
        checks.append(Check("response", False, "no response"))
        return done(UNCLASSIFIED, DISPATCH_ERROR)
    took = f"{facts.http_version} {status} in {_ms(facts.response_ms)}"
    if facts.response_ms is not None and facts.response_ms > response_limit_ms:
        checks.append(Check("response", False, f"{took}: over LINE's {response_limit_ms / 1000:g} s"))
        return done(REQUEST_TIMEOUT, TIMEOUT_DETAIL)
    if 200 <= status < 300:
        checks.append(Check("response", True, took))
        return done(None, None)
    if status in (400, 401) and not facts.signed:
        checks.append(Check("response", True, f"{took}: rejects the unsigned probe, as it should"))
        return done(None, None, unsigned=True)
    if 300 <= status < 400:
        target = facts.location or "(no Location header)"
        checks.append(Check("response", False, f"{took}; redirects to {target} (LINE never follows redirects)"))
    else:
        checks.append(Check("response", False, took))
    return done(ERROR_STATUS_CODE, str(status))
