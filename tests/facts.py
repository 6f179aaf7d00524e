"""Facts of a probe that reached a good HTTP/2 webhook server, for the diagnosis tests to change."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from bot.diagnosis import Cert, Facts

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
