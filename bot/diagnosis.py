"""Measured facts about a webhook URL -> what LINE would report (reason, detail) and the entry that explains it.

Pure: no network, no clock (the probe's time is one of the facts).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

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
# X509 verify codes (OpenSSL's x509_vfy.h) with a text of their own (fact_tls_verify_<code>); others get
# fact_tls_verify_other.
VERIFY_CODES = (9, 10, 18, 19, 20, 21, 62, 64)
DETAILS = (
    UNKNOWN_HOST,
    DNS_TIMEOUT,
    CONNECTION_TIMEOUT,
    CONNECTION_FAILED,
    CONNECTION_GOAWAY,
    CONNECTION_SESSION_CLOSED,
    INVALID_URL,
    NEGOTIATION_FAILURE,
    NO_TLS_RECORD,
    TLS_HANDSHAKE_FAILURE,
    SESSION_CLOSED,
    STREAM_CLOSED,
    DISPATCH_ERROR,
    TIMEOUT_DETAIL,
)
# The kinds of address the URL guard refuses (urlguard.Why): diagnose.yaml names each in each language.
ADDRESS_KINDS = (
    "this_machine",
    "unspecified",
    "loopback",
    "cgnat",
    "link_local",
    "multicast",
    "private",
    "reserved",
    "not_global",
    "ipv4_mapped",
    "nat64",
    "6to4",
    "teredo",
)

# Every measured fact as a text of knowledge/diagnose.yaml (in each language) and the fields it may use.
# The code says which fact it saw; the words are data, so a Japanese reply states its facts in Japanese.
_TIMING = ("http", "status", "ms")
NOTES: dict[str, tuple[str, ...]] = {
    "fact_url_ok": (),
    **{
        f"invalid_{rule}": fields
        for rule, fields in {
            "too_long": ("length", "limit"),
            "space": (),
            "unparsable": ("error",),
            "scheme": (),
            "non_ascii": (),
            "no_host": (),
            "bad_idn": ("error",),
            "host_chars": ("host",),
        }.items()
    },
    "fact_dns_nxdomain": ("host",),
    "fact_dns_no_record": ("host",),
    "fact_dns_timeout": ("host", "seconds"),
    "fact_dns_servfail": ("host",),
    "fact_dns_literal": ("address",),
    "fact_dns_resolved": ("addresses",),
    "fact_connect_timeout": ("target",),
    "fact_connect_refused": ("target", "error"),
    "fact_connect_unreachable": ("target", "error"),
    "fact_connect_none": (),
    "fact_connect_ok": ("address", "ms"),
    "fact_tls_not_tls": ("error",),
    "fact_tls_no_alpn": (),
    "fact_tls_closed": ("error",),
    "fact_tls_timeout": (),
    **{f"fact_tls_verify_{code}": () for code in VERIFY_CODES},
    "fact_tls_verify_other": ("code", "message"),
    "fact_tls_old": (),
    "fact_tls_old_server": ("version",),
    "fact_tls_failed": ("error", "message"),
    "fact_tls_ok": ("version", "cipher", "alpn", "ms"),
    "fact_tls_ok_no_alpn": ("version", "cipher", "ms"),
    "fact_certificate": ("issuer", "names"),
    "fact_expiry_left": ("until", "days"),
    "fact_expiry_expired": ("until",),
    "fact_expiry_until": ("until",),
    "fact_chain_ok": (),
    "fact_chain_bad": (),
    "fact_deprecated_cipher": ("cipher",),
    "fact_response_timeout": (),
    "fact_response_stalled": (),
    "fact_response_goaway": ("code",),
    "fact_response_reset": ("code",),
    "fact_response_closed": ("error",),
    "fact_response_protocol": ("error",),
    "fact_response_none": (),
    "fact_response_slow": (*_TIMING, "limit"),
    "fact_response_ok": _TIMING,
    "fact_response_unsigned": _TIMING,
    "fact_response_redirect": (*_TIMING, "location"),
    "fact_response_redirect_none": _TIMING,
    "fact_response_status": _TIMING,
}


@dataclass(frozen=True)
class Note:
    """One fact in words: a text of knowledge/diagnose.yaml (`key`) and what fills it in."""

    key: str
    fields: dict[str, str] = field(default_factory=dict)


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
    invalid_rule: str = ""  # which malformation (urlguard.InvalidURL.rule), and what fills in its text
    invalid_fields: dict[str, str] = field(default_factory=dict)
    dns_error: str | None = None  # "unknown_host" | "timeout"
    dns_info: str = ""
    dns_rule: str = ""  # nxdomain, no_record, timeout, servfail (urlguard's UnknownHost / DNSTimeout)
    dns_fields: dict[str, str] = field(default_factory=dict)
    addresses: tuple[str, ...] = ()
    literal: bool = False  # the URL's host is an IP address
    address: str | None = None  # the checked address the probe connected to
    connect_ms: float | None = None
    connect_error: str | None = None  # "refused" | "timeout" | "unreachable"
    connect_to: str = ""  # address:port of the failed attempt
    connect_info: str = ""  # the system's own words for it
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
    response_info: str = ""  # the HTTP/2 error code or the library's words
    body_bytes: int = 0
    elapsed_ms: float = 0.0


@dataclass(frozen=True)
class Check:
    """One measured step: its name, whether LINE would be happy with it, and what was seen."""

    name: str
    ok: bool
    note: Note


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
    warnings: tuple[Note, ...] = field(default=())


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
    return f"{value:.0f}" if value is not None else "-"


def _tls_problem(facts: Facts) -> tuple[str, Note]:
    """(detail, fact) for a handshake that failed."""
    error = facts.tls_error or ""
    if error in _NOT_TLS:
        return NO_TLS_RECORD, Note("fact_tls_not_tls", {"error": error})
    if error in _NO_ALPN:
        return NEGOTIATION_FAILURE, Note("fact_tls_no_alpn")
    if error in _CLOSED:
        return CONNECTION_SESSION_CLOSED, Note("fact_tls_closed", {"error": error})
    if error == "timeout":
        return CONNECTION_TIMEOUT, Note("fact_tls_timeout")
    if error == "verify":
        code = facts.verify_code
        if code in VERIFY_CODES:
            return TLS_HANDSHAKE_FAILURE, Note(f"fact_tls_verify_{code}")
        return TLS_HANDSHAKE_FAILURE, Note("fact_tls_verify_other", {"code": str(code), "message": facts.tls_info})
    if error in _OLD_TLS:
        if facts.server_tls_version:
            return TLS_HANDSHAKE_FAILURE, Note("fact_tls_old_server", {"version": facts.server_tls_version})
        return TLS_HANDSHAKE_FAILURE, Note("fact_tls_old")
    return TLS_HANDSHAKE_FAILURE, Note("fact_tls_failed", {"error": error or "-", "message": facts.tls_info})


def _cert_checks(facts: Facts) -> list[Check]:
    cert, checks = facts.cert, []
    if cert is None:
        return checks
    names = ", ".join(cert.names[:8]) + (" …" if len(cert.names) > 8 else "")
    checks.append(
        Check(
            "certificate",
            bool(facts.verified),
            Note("fact_certificate", {"issuer": cert.issuer, "names": names or "-"}),
        )
    )
    if cert.not_after is not None:
        until = {"until": cert.not_after.strftime("%Y-%m-%d %H:%M UTC")}
        days = (cert.not_after - facts.checked_at).days if facts.checked_at else None
        ok = days is None or days >= EXPIRY_WARNING_DAYS
        if days is None:
            note = Note("fact_expiry_until", until)
        elif days < 0:
            note = Note("fact_expiry_expired", until)
        else:
            note = Note("fact_expiry_left", {**until, "days": str(days)})
        checks.append(Check("expiry", ok, note))
    checks.append(Check("chain", bool(facts.verified), Note("fact_chain_ok" if facts.verified else "fact_chain_bad")))
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
    warnings: list[Note] = []

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
        checks.append(Check("url", False, Note(f"refused_{facts.refused_rule}", dict(facts.refused_fields))))
        return done(None, None)
    if facts.invalid_url:
        checks.append(Check("url", False, Note(f"invalid_{facts.invalid_rule}", dict(facts.invalid_fields))))
        return done(COULD_NOT_CONNECT, INVALID_URL)
    checks.append(Check("url", True, Note("fact_url_ok")))
    if facts.dns_error:
        checks.append(Check("dns", False, Note(f"fact_dns_{facts.dns_rule}", dict(facts.dns_fields))))
        return done(COULD_NOT_CONNECT, DNS_TIMEOUT if facts.dns_error == "timeout" else UNKNOWN_HOST)
    if facts.literal:
        checks.append(Check("dns", True, Note("fact_dns_literal", {"address": facts.addresses[0]})))
    else:
        checks.append(Check("dns", True, Note("fact_dns_resolved", {"addresses": ", ".join(facts.addresses)})))

    if facts.connect_error or facts.address is None:
        kind = facts.connect_error if facts.connect_error in ("timeout", "refused", "unreachable") else "none"
        note = Note(f"fact_connect_{kind}", {"target": facts.connect_to, "error": facts.connect_info})
        checks.append(Check("connect", False, note))
        detail = CONNECTION_TIMEOUT if facts.connect_error == "timeout" else CONNECTION_FAILED
        return done(COULD_NOT_CONNECT, detail)
    connected = {"address": facts.address, "ms": _ms(facts.connect_ms)}
    checks.append(Check("connect", True, Note("fact_connect_ok", connected)))

    if facts.tls_error:
        checks += _cert_checks(facts)
        detail, note = _tls_problem(facts)
        checks.insert(3, Check("tls", False, note))
        return done(COULD_NOT_CONNECT, detail)
    cipher_ok = not supported or facts.cipher in supported
    tls = {"version": str(facts.tls_version), "cipher": str(facts.cipher), "ms": _ms(facts.tls_ms)}
    if facts.alpn:
        checks.append(Check("tls", cipher_ok, Note("fact_tls_ok", {**tls, "alpn": facts.alpn})))
    else:
        checks.append(Check("tls", cipher_ok, Note("fact_tls_ok_no_alpn", tls)))
    checks += _cert_checks(facts)
    if facts.cipher in deprecated:
        warnings.append(Note("fact_deprecated_cipher", {"cipher": str(facts.cipher)}))
        if facts.alpn == "h2":
            # LINE speaks HTTP/2 only with non-deprecated suites: an h2 server on a deprecated suite fails.
            return done(COULD_NOT_CONNECT, NEGOTIATION_FAILURE)
    for check in checks:
        if check.name == "expiry" and not check.ok:
            warnings.append(check.note)

    if facts.response_error:
        error = facts.response_error
        answered = {"code": facts.response_info, "error": facts.response_info}
        key = {
            "timeout": "response_timeout" if facts.status is None else "response_stalled",
            "goaway": "response_goaway",
            "stream_reset": "response_reset",
            "closed": "response_closed",
        }.get(error, "response_protocol")
        checks.append(Check("response", False, Note(f"fact_{key}", answered)))
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
        checks.append(Check("response", False, Note("fact_response_none")))
        return done(UNCLASSIFIED, DISPATCH_ERROR)
    took = {"http": str(facts.http_version), "status": str(status), "ms": _ms(facts.response_ms)}
    if facts.response_ms is not None and facts.response_ms > response_limit_ms:
        slow = Note("fact_response_slow", {**took, "limit": f"{response_limit_ms / 1000:g}"})
        checks.append(Check("response", False, slow))
        return done(REQUEST_TIMEOUT, TIMEOUT_DETAIL)
    if 200 <= status < 300:
        checks.append(Check("response", True, Note("fact_response_ok", took)))
        return done(None, None)
    if status in (400, 401) and not facts.signed:
        checks.append(Check("response", True, Note("fact_response_unsigned", took)))
        return done(None, None, unsigned=True)
    if 300 <= status < 400 and facts.location:
        checks.append(Check("response", False, Note("fact_response_redirect", {**took, "location": facts.location})))
    elif 300 <= status < 400:
        checks.append(Check("response", False, Note("fact_response_redirect_none", took)))
    else:
        checks.append(Check("response", False, Note("fact_response_status", took)))
    return done(ERROR_STATUS_CODE, str(status))
