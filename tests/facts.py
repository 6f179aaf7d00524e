"""Facts of a probe that reached a good HTTP/2 webhook server, for the diagnosis tests to change; and
diagnose.yaml broken on purpose."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot import diagnose_data
from bot.diagnosis import Cert, Facts
from bot.knowledge import DEFAULT_DIR, KnowledgeError

HOST = "bot.example.com"


def reached(now: datetime, **fields: Any) -> Facts:
    """A probe at `now` that reached a good HTTP/2 server at HOST, with `fields` changed."""
    base: dict[str, Any] = {
        "url": f"https://{HOST}/callback",
        "checked_at": now,
        "addresses": ("93.184.215.14",),
        "address": "93.184.215.14",
        "connect_ms": 10.0,
        "tls_ms": 20.0,
        "tls_version": "TLSv1.3",
        "cipher": "TLS_AES_128_GCM_SHA256",
        "alpn": "h2",
        "verified": True,
        "cert": Cert("CN=R11,O=Let's Encrypt,C=US", f"CN={HOST}", (HOST,), now + timedelta(60)),
        "http_version": "HTTP/2",
        "status": 200,
        "response_ms": 80.0,
    }
    base.update(fields)
    return Facts(**base)


def diagnose_problems(tmp_path: Path, *replacements: tuple[str, str]) -> list[str]:
    """The validation lines of the production diagnose.yaml with each (old, new) replaced (each must be there)."""
    text = (DEFAULT_DIR / "diagnose.yaml").read_text(encoding="utf-8")
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new)
    (tmp_path / "diagnose.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(KnowledgeError) as caught:
        diagnose_data.load(tmp_path)
    return str(caught.value).splitlines()
