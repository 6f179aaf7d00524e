"""`diagnose` against local servers on 127.0.0.1, one per way a webhook server fails LINE's Verify."""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from diagnose_servers import (
    FullBacklog,
    Server,
    answer,
    closed_port,
    cut_mid_body,
    h2_server,
    h2_without_alpn,
    hang_up,
    self_signed_context,
    server_context,
)

from bot import cli, diagnose, diagnose_data, diagnose_render, urlguard
from bot.diagnosis import Finding
from bot.knowledge import KnowledgeBase
from bot.probe import Limits

SHORT = Limits(connect=0.5)  # for the cases that must time out while connecting
# Everything else gets room on a slow, noisy machine (a bound, not a target).
ROOMY = Limits(connect=10.0, response=10.0, total=30.0)


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("ca") / "test-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture
def servers() -> Iterator[list[Any]]:
    started: list[Any] = []
    yield started
    for server in started:
        server.close()


def _run(url: str, kb: KnowledgeBase, data: Any, ca_file: str | None, **kwargs: Any) -> Finding:
    options = diagnose.Options(allow_loopback=True, ca_file=ca_file)
    kwargs.setdefault("limits", ROOMY)
    return diagnose.run(url, kb, data, options=options, **kwargs)


def _start(servers: list[Any], server: Any) -> Any:
    servers.append(server)
    return server


def _check(finding: Finding, name: str) -> dict[str, Any]:
    return next(c for c in diagnose_render.as_json(finding, diagnose_data.load())["checks"] if c["name"] == name)


def test_good_server_is_ok_and_gets_verify_request(kb, data, ca, ca_file, servers) -> None:
    server = _start(servers, Server(answer(200), server_context(ca.issue_cert("127.0.0.1"))))
    finding = _run(server.url(), kb, data, ca_file)
    assert finding.ok and finding.reason is None and finding.status == 200 and finding.entry is None
    assert _check(finding, "chain")["ok"] and "TLSv1.3" in _check(finding, "tls")["info"]
    head, _, body = server.requests[0].partition(b"\r\n\r\n")
    assert head.startswith(b"POST /callback HTTP/1.1")
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(b":") for h in head.split(b"\r\n")[1:])}
    assert headers[b"content-type"] == b"application/json"
    assert b"LineErrorBot" in headers[b"user-agent"] and headers[b"x-line-signature"]
    assert json.loads(body)["events"] == []


def test_signed_probe_matches_line_signature(kb, data, ca, ca_file, servers, monkeypatch, capsys) -> None:
    server = _start(servers, Server(answer(200), server_context(ca.issue_cert("127.0.0.1"))))
    monkeypatch.setenv("MY_SECRET", "s3cret")
    monkeypatch.setenv("DIAGNOSE_ALLOW_LOOPBACK", "1")
    monkeypatch.setenv("DIAGNOSE_CA_FILE", ca_file)
    assert cli.main(["diagnose", server.url(), "--json", "--secret-env", "MY_SECRET"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] is True and out["status"] == 200 and set(out) >= {"url", "elapsed_ms", "checks", "entry"}
    head, _, body = server.requests[0].partition(b"\r\n\r\n")
    expected = base64.b64encode(hmac.new(b"s3cret", body, hashlib.sha256).digest())
    assert b"x-line-signature: " + expected in head.lower().replace(expected.lower(), expected)


def test_plain_http_is_no_tls_record(kb, data, ca_file, servers) -> None:
    server = _start(servers, Server(answer(400, body=b"plain HTTP"), whole=False))
    finding = _run(server.url(), kb, data, ca_file)
    assert (finding.reason, finding.detail) == ("could_not_connect", "No SSL/TLS record")
    assert finding.entry == "webhook.detail.no_ssl_tls_record"


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("self_signed", "self-signed"),
        ("incomplete_chain", "fullchain.pem"),
        ("expired", "expired"),
        ("wrong_name", "host name"),
        ("unknown_ca", "not public"),
    ],
)
def test_certificate_problems_are_tls_handshake_failure(kind, words, kb, data, ca, ca_file, servers, tmp_path) -> None:
    if kind == "self_signed":
        context = self_signed_context(tmp_path)
    elif kind == "incomplete_chain":
        context = server_context(ca.create_child_ca().issue_cert("127.0.0.1"), chain=False)
    elif kind == "expired":
        past = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)
        context = server_context(ca.issue_cert("127.0.0.1", not_before=past, not_after=past + datetime.timedelta(1)))
    elif kind == "wrong_name":
        context = server_context(ca.issue_cert("webhook.example.org"))
    else:
        context = server_context(trustme.CA().issue_cert("127.0.0.1"))
    server = _start(servers, Server(answer(200), context))
    finding = _run(server.url(), kb, data, ca_file)
    assert (finding.reason, finding.detail) == ("could_not_connect", "TLS handshake failure"), finding.checks
    assert finding.entry == "webhook.detail.tls_handshake_failure"
    assert words in _check(finding, "tls")["info"]
    assert _check(finding, "chain")["ok"] is False  # the certificate was still read for the facts
    assert _check(finding, "certificate")["info"].startswith("issuer ")


def test_tls_1_1_only_server(kb, data, ca, ca_file, servers) -> None:
    context = server_context(ca.issue_cert("127.0.0.1"))
    try:
        context.set_ciphers("ALL:@SECLEVEL=0")
        context.minimum_version = ssl.TLSVersion.TLSv1_1
        context.maximum_version = ssl.TLSVersion.TLSv1_1
    except (ssl.SSLError, ValueError) as exc:
        pytest.skip(f"this OpenSSL cannot serve TLS 1.1: {exc}")
    server = _start(servers, Server(answer(200), context))
    finding = _run(server.url(), kb, data, ca_file)
    assert (finding.reason, finding.detail) == ("could_not_connect", "TLS handshake failure")
    info = _check(finding, "tls")["info"]
    assert "TLS 1.2 and 1.3 only" in info
    if finding.facts.server_tls_version is None:
        pytest.skip("this OpenSSL refuses TLS 1.1 on the client side too: the server's version is not seen")
    assert "TLSv1.1" in info


def test_hang_up_during_handshake_is_session_closed(kb, data, ca_file, servers) -> None:
    server = _start(servers, Server(hang_up, whole=False))  # reads the TLS hello, closes
    finding = _run(server.url(), kb, data, ca_file)
    assert (finding.reason, finding.detail) == ("could_not_connect", "Connection failed (session closed)")


def test_closed_port_is_connection_failed(kb, data, ca_file) -> None:
    finding = _run(f"https://127.0.0.1:{closed_port()}/callback", kb, data, ca_file)
    assert (finding.reason, finding.detail) == ("could_not_connect", "Connection failed")
    assert finding.entry == "webhook.detail.connection_failed"


def test_listener_that_never_accepts_is_connection_timeout(kb, data, ca_file) -> None:
    backlog = FullBacklog()
    try:
        finding = _run(f"https://127.0.0.1:{backlog.port}/callback", kb, data, ca_file, limits=SHORT)
    finally:
        backlog.close()
    assert (finding.reason, finding.detail) == ("could_not_connect", "Connection timeout")


def test_server_that_never_shakes_hands_is_connection_timeout(kb, data, ca_file) -> None:
    backlog = FullBacklog()  # its first connection is accepted by the kernel: TCP done, no TLS ever
    try:
        finding = _run(f"https://127.0.0.1:{backlog.port}/callback", kb, data, ca_file, limits=SHORT)
    finally:
        backlog.close()
    assert finding.detail == "Connection timeout"


def test_server_that_never_answers_is_request_timeout(kb, data, ca, ca_file, servers) -> None:
    server = Server(lambda conn, _: server.release.wait(30), server_context(ca.issue_cert("127.0.0.1")))
    _start(servers, server)
    # LINE's 2 s shortened: the server never answers, so any response limit ends the same way.
    finding = _run(server.url(), kb, data, ca_file, limits=Limits(response=0.5))
    assert (finding.reason, finding.detail) == ("request_timeout", "Request timeout")
    assert finding.entry == "webhook.reason.request_timeout"


@pytest.mark.parametrize(
    ("status", "entry"),
    [
        (302, "webhook.status.3xx"),
        (404, "webhook.status.404"),
        (500, "webhook.status.500"),
        (418, "webhook.status.other"),
    ],
)
def test_status_codes(status, entry, kb, data, ca, ca_file, servers) -> None:
    headers = {"Location": "https://example.com/final"} if status == 302 else {}
    server = _start(servers, Server(answer(status, headers), server_context(ca.issue_cert("127.0.0.1"))))
    finding = _run(server.url(), kb, data, ca_file)
    assert (finding.reason, finding.detail, finding.status) == ("error_status_code", str(status), status)
    assert finding.entry == entry
    assert len(server.requests) == 1  # never followed
    if status == 302:
        assert "https://example.com/final" in _check(finding, "response")["info"]


def test_unsigned_probe_rejected_with_401_is_ok(kb, data, ca, ca_file, servers) -> None:
    server = _start(servers, Server(answer(401), server_context(ca.issue_cert("127.0.0.1"))))
    finding = _run(server.url(), kb, data, ca_file)
    assert finding.ok and finding.unsigned_rejected and finding.status == 401
    signed = _run(server.url(), kb, data, ca_file, secret="wrong-secret")
    assert not signed.ok and signed.detail == "401" and signed.entry == "webhook.status.401"


@pytest.mark.parametrize("behaviour", [cut_mid_body, hang_up])
def test_connection_closed_mid_response(behaviour, kb, data, ca, ca_file, servers) -> None:
    server = _start(servers, Server(behaviour, server_context(ca.issue_cert("127.0.0.1"))))
    finding = _run(server.url(), kb, data, ca_file)
    assert (finding.reason, finding.detail) == ("unclassified", "Session closed unexpectedly")


@pytest.mark.parametrize(
    ("action", "reason", "detail"),
    [
        ("goaway", "could_not_connect", "Connection failed (received GOAWAY)"),
        ("reset", "unclassified", "Stream closed unexpectedly"),
    ],
)
def test_http2_server_cutting_off(action, reason, detail, kb, data, ca, ca_file, servers) -> None:
    server = _start(servers, h2_server(ca.issue_cert("127.0.0.1"), action))
    finding = _run(server.url(), kb, data, ca_file)
    assert finding.facts.alpn == "h2"
    assert (finding.reason, finding.detail) == (reason, detail)


def test_http2_server_answering_200_is_ok(kb, data, ca, ca_file, servers) -> None:
    server = _start(servers, h2_server(ca.issue_cert("127.0.0.1"), "ok"))
    finding = _run(server.url(), kb, data, ca_file)
    assert finding.ok and finding.facts.http_version == "HTTP/2" and finding.facts.alpn == "h2"
    assert "ALPN h2" in _check(finding, "tls")["info"]


def test_http2_only_server_without_alpn_is_negotiation_failure(kb, data, ca, ca_file, servers) -> None:
    server = _start(servers, h2_without_alpn(ca.issue_cert("127.0.0.1")))
    finding = _run(server.url(), kb, data, ca_file)
    assert finding.facts.alpn is None
    assert (finding.reason, finding.detail) == ("could_not_connect", "Session protocol negotiation failure")
    assert finding.entry == "webhook.detail.session_protocol_negotiation_failure"


def test_body_read_is_capped(kb, data, ca, ca_file, servers) -> None:
    big = b"x" * (1024 * 1024)
    server = _start(servers, Server(answer(200, body=big), server_context(ca.issue_cert("127.0.0.1"))))
    finding = _run(server.url(), kb, data, ca_file)
    assert finding.ok and finding.facts.body_bytes <= 64 * 1024 + 65536


def _stub(result: Any) -> urlguard.Resolver:
    def resolve(host: str, timeout: float) -> list[str]:
        if isinstance(result, Exception):
            raise result
        return result

    return resolve


@pytest.mark.parametrize(
    ("error", "detail"),
    [
        (urlguard.UnknownHost("no such domain"), "Unknown host"),
        (urlguard.DNSTimeout("no answer"), "DNS Query timeout"),
    ],
)
def test_dns_failures(error, detail, kb, data) -> None:
    finding = diagnose.run("https://webhook.example.com/callback", kb, data, resolver=_stub(error))
    assert (finding.reason, finding.detail) == ("could_not_connect", detail)


def test_invalid_url_syntax(kb, data) -> None:
    finding = diagnose.run("https://exa mple.com/callback", kb, data, resolver=_stub(AssertionError("no DNS")))
    assert (finding.reason, finding.detail) == ("could_not_connect", "Invalid URL syntax")
    assert finding.entry == "webhook.detail.invalid_url_syntax"


def test_cli_exit_codes_and_transcript(kb, ca, ca_file, servers, monkeypatch, capsys, tmp_path: Path) -> None:
    server = _start(servers, Server(answer(200), self_signed_context(tmp_path)))
    monkeypatch.setenv("DIAGNOSE_ALLOW_LOOPBACK", "1")
    assert cli.main(["diagnose", server.url(), "--lang", "en"]) == 1
    text = capsys.readouterr().out
    assert "could_not_connect" in text and "TLS handshake failure" in text and "fullchain.pem" in text
    monkeypatch.delenv("DIAGNOSE_ALLOW_LOOPBACK")
    untouched = _start(servers, Server(answer(200), server_context(ca.issue_cert("127.0.0.1"))))
    assert cli.main(["diagnose", untouched.url(), "--json"]) == 2
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] is False and out["reason"] is None and "loopback" in out["checks"][0]["info"]
    assert untouched.requests == []  # refused before any connection (test_diagnose_guard proves no connect)
