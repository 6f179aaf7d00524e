"""Diagnose one webhook URL: guard -> resolve once -> probe the checked addresses -> LINE's verdict."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from bot import diagnose_render, diagnosis
from bot.config import ConfigError
from bot.diagnose_data import DiagnoseData
from bot.diagnosis import Facts, Finding
from bot.knowledge import KnowledgeBase
from bot.ratelimit import MemoryRateLimiter, RateLimiter

if TYPE_CHECKING:  # the probe's modules (httpcore, h2, cryptography, dnspython): imported on the first check
    import httpcore

    from bot import probe, urlguard

log = logging.getLogger(__name__)


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
        if ca_file and not os.path.isfile(ca_file):
            raise ConfigError(f"DIAGNOSE_CA_FILE is not a file: {ca_file!r}")
        return cls(env.get("DIAGNOSE_ALLOW_LOOPBACK", "").strip() == "1", ca_file)


def run(
    url: str,
    kb: KnowledgeBase,
    data: DiagnoseData,
    secret: str | None = None,
    options: Options = Options(),
    resolver: urlguard.Resolver | None = None,
    network: httpcore.NetworkBackend | None = None,
    limits: probe.Limits | None = None,
) -> Finding:
    """The finding for `url`. `resolver` and `network` replace DNS and sockets (tests); `limits`: probe.Limits()."""
    # Here, not at the top: they are ~0.2 s of every start-up and ~14 MB, for a check few processes make.
    from bot import probe, urlguard

    limits = limits or probe.Limits()
    started = time.monotonic()
    facts = Facts(url=url)
    try:
        target = urlguard.check(url, resolver, options.allow_loopback, limits.dns)
    except urlguard.Refused as exc:
        facts.refused, facts.refused_rule, facts.refused_fields = str(exc), exc.rule, exc.fields
    except urlguard.InvalidURL as exc:
        facts.invalid_url, facts.invalid_rule, facts.invalid_fields = str(exc), exc.rule, exc.fields
    except urlguard.UnknownHost as exc:
        facts.dns_error, facts.dns_info, facts.dns_rule = "unknown_host", str(exc), exc.rule
        facts.dns_fields = {"host": urlsplit(url).hostname or "", **exc.fields}
    except urlguard.DNSTimeout as exc:
        facts.dns_error, facts.dns_info, facts.dns_rule = "timeout", str(exc), exc.rule
        facts.dns_fields = {"host": urlsplit(url).hostname or "", "seconds": f"{limits.dns:g}", **exc.fields}
    else:
        facts.addresses, facts.literal = target.addresses, target.literal
        context = probe.line_context(sorted(data.supported_ciphers | data.deprecated_ciphers), options.ca_file)
        probe.probe(target, facts, context, secret, limits, network, started)
    facts.elapsed_ms = (time.monotonic() - started) * 1000
    return diagnosis.diagnose(facts, kb, data.supported_ciphers, data.deprecated_ciphers, limits.response * 1000)


def offered(finding: Finding, kb: KnowledgeBase) -> tuple[str, ...]:
    """The topics a finding offers under it (its entry's related ones), which a typed number then picks."""
    return tuple(kb[finding.entry].related) if finding.entry in kb else ()


class Diagnoser:
    """The reply side's URL check: rate limits, then the probe, then the finding as LINE messages."""

    def __init__(
        self,
        kb: KnowledgeBase,
        data: DiagnoseData,
        options: Options | None = None,
        limiter: RateLimiter | None = None,
        resolver: urlguard.Resolver | None = None,
        network: httpcore.NetworkBackend | None = None,
        limits: probe.Limits | None = None,
    ) -> None:
        self.kb, self.data = kb, data
        self.options = options or Options.from_env()
        self.limiter = limiter or MemoryRateLimiter()
        self._resolver, self._network, self._limits = resolver, network, limits

    def allowed(self, chat: str) -> bool:
        """One more probe for this chat and in all (data.per_chat, data.per_process: all the limiter's users)?"""
        per_chat, per_process = self.data.per_chat, self.data.per_process
        return self.limiter.allow(f"diagnose:chat:{chat}", per_chat.count, per_chat.seconds) and self.limiter.allow(
            "diagnose:process", per_process.count, per_process.seconds
        )

    def reply(self, url: str, lang: str, chat: str) -> tuple[list[dict[str, Any]], str, tuple[str, ...]]:
        """(messages, log note, the topics offered under them) for a request to check `url`; the note never
        holds the URL. The offered topics are the finding's related ones, which a typed number then picks."""
        text = self.data.text[lang]
        if not self.allowed(chat):
            seconds = int(self.data.per_chat.seconds)
            limited = [{"type": "text", "text": text["rate_limited"].format(seconds=seconds)}]
            return limited, "diagnose: rate limited", ()
        try:
            finding = run(url, self.kb, self.data, None, self.options, self._resolver, self._network, self._limits)
        except Exception:
            log.exception("diagnose: probe failed")
            return [{"type": "text", "text": text["checking_failed"]}], "diagnose: failed", ()
        verdict = "refused" if finding.refused else "ok" if finding.ok else f"{finding.reason}/{finding.detail}"
        note = f"diagnose: {verdict} in {finding.facts.elapsed_ms:.0f} ms"
        return diagnose_render.messages(finding, self.kb, self.data, lang), note, offered(finding, self.kb)
