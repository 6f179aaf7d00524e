"""Diagnose one webhook URL: guard -> resolve once -> probe the checked addresses -> LINE's verdict."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass

import httpcore

from bot import diagnosis, probe, urlguard
from bot.diagnose_data import DiagnoseData
from bot.diagnosis import Facts, Finding
from bot.knowledge import KnowledgeBase


@dataclass(frozen=True)
class Options:
    """The two settings for tests only (never set in production)."""

    allow_loopback: bool = False  # DIAGNOSE_ALLOW_LOOPBACK=1: 127.0.0.0/8 and localhost pass the guard
    ca_file: str | None = None  # DIAGNOSE_CA_FILE=PATH: one extra CA beside Mozilla's bundle

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Options:
        """Read DIAGNOSE_ALLOW_LOOPBACK and DIAGNOSE_CA_FILE."""
        env = os.environ if env is None else env
        ca_file = env.get("DIAGNOSE_CA_FILE", "").strip() or None
        return cls(env.get("DIAGNOSE_ALLOW_LOOPBACK", "").strip() == "1", ca_file)


def run(
    url: str,
    kb: KnowledgeBase,
    data: DiagnoseData,
    secret: str | None = None,
    options: Options = Options(),
    resolver: urlguard.Resolver | None = None,
    network: httpcore.NetworkBackend | None = None,
    limits: probe.Limits = probe.Limits(),  # noqa: B008 - frozen
) -> Finding:
    """The finding for `url`. `resolver` and `network` replace DNS and sockets (tests)."""
    started = time.monotonic()
    facts = Facts(url=url)
    try:
        target = urlguard.check(url, resolver, options.allow_loopback, limits.dns)
    except urlguard.Refused as exc:
        facts.refused = str(exc)
    except urlguard.InvalidURL as exc:
        facts.invalid_url = str(exc)
    except urlguard.UnknownHost as exc:
        facts.dns_error, facts.dns_info = "unknown_host", str(exc)
    except urlguard.DNSTimeout as exc:
        facts.dns_error, facts.dns_info = "timeout", str(exc)
    else:
        facts.addresses = target.addresses
        context = probe.line_context(sorted(data.supported_ciphers | data.deprecated_ciphers), options.ca_file)
        probe.probe(target, facts, context, secret, limits, network, started)
    facts.elapsed_ms = (time.monotonic() - started) * 1000
    return diagnosis.diagnose(facts, kb, data.supported_ciphers, data.deprecated_ciphers)
