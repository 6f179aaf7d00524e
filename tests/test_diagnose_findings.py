"""Pure diagnosis: facts in, LINE's verdict out (the cases no local server produces cheaply)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from facts import reached

from bot import diagnose_data, diagnose_render
from bot.diagnosis import Cert, Facts, diagnose

NOW = datetime(2026, 11, 23, tzinfo=UTC)


def _reached(**fields: object) -> Facts:
    return reached(NOW, **fields)


def test_h2_on_a_deprecated_suite_is_negotiation_failure(kb) -> None:
    data = diagnose_data.load()
    facts = _reached(tls_version="TLSv1.2", cipher="ECDHE-RSA-AES128-SHA")
    finding = diagnose(facts, kb, data.supported_ciphers, data.deprecated_ciphers)
    assert (finding.reason, finding.detail) == ("could_not_connect", "Session protocol negotiation failure")
    http1 = diagnose(
        _reached(cipher="ECDHE-RSA-AES128-SHA", alpn="http/1.1"), kb, data.supported_ciphers, data.deprecated_ciphers
    )
    warned = [diagnose_render.note_text(w, data, "en") for w in http1.warnings]
    assert http1.ok and any("deprecated" in w for w in warned)


def test_certificate_expiring_soon_is_a_warning_not_a_failure(kb) -> None:
    cert = Cert("CN=R11", "CN=bot.example.com", ("bot.example.com",), NOW + timedelta(days=5))
    finding = diagnose(_reached(cert=cert), kb)
    warned = [diagnose_render.note_text(w, diagnose_data.load(), "en") for w in finding.warnings]
    assert finding.ok and any("5 days left" in w for w in warned)


def test_redirect_without_location_and_slow_answer(kb) -> None:
    redirect = diagnose(_reached(status=308), kb)
    assert (redirect.detail, redirect.entry) == ("308", "webhook.status.3xx")
    assert "no Location header" in diagnose_render.as_json(redirect, diagnose_data.load())["checks"][-1]["info"]
    slow = diagnose(_reached(response_ms=2300.0), kb)
    assert (slow.reason, slow.detail, slow.status) == ("request_timeout", "Request timeout", None)


def test_json_shape(kb) -> None:
    out = diagnose_render.as_json(diagnose(_reached(status=502), kb), diagnose_data.load())
    assert list(out) == ["url", "ok", "reason", "detail", "status", "entry", "elapsed_ms", "checks"]
    assert (out["ok"], out["reason"], out["detail"], out["status"], out["entry"]) == (
        False,
        "error_status_code",
        "502",
        502,
        "webhook.status.502",
    )
    assert all(set(c) == {"name", "ok", "info"} for c in out["checks"])
