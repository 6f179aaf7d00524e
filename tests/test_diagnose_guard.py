"""The URL guard refuses every non-global address form before anything is connected to."""

from __future__ import annotations

from typing import Any

import httpcore
import pytest

from bot import diagnose, diagnose_render, urlguard
from bot.ratelimit import MemoryRateLimiter


class NoNetwork(httpcore.NetworkBackend):
    """A network backend that fails the test if the probe ever tries to connect."""

    def connect_tcp(self, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
        pytest.fail(f"connect attempted: {args} {kwargs}")


def _resolver(*addresses: str) -> urlguard.Resolver:
    return lambda host, timeout: list(addresses)


def _no_dns(host: str, timeout: float) -> list[str]:
    pytest.fail(f"DNS asked for {host}")


NON_GLOBAL = [
    "127.0.0.1",
    "127.8.9.10",
    "::1",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "fe80::1",
    "100.64.0.1",  # CGNAT
    "100.127.255.254",
    "224.0.0.1",
    "ff02::1",
    "240.0.0.1",  # reserved
    "255.255.255.255",
    "0.0.0.0",
    "::",
    "fc00::1",
    "fd12:3456::1",
    "::ffff:10.0.0.1",  # IPv4-mapped
    "::ffff:8.8.8.8",  # IPv4-mapped, even of a global address
    "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
    "64:ff9b:1::1",
    "2002:c0a8:101::1",  # 6to4 of 192.168.1.1
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "2001::1",  # Teredo
    "2001:db8::1",  # documentation
    "192.0.2.1",
    "198.18.0.1",
]


@pytest.mark.parametrize("address", NON_GLOBAL)
def test_every_non_global_address_is_refused_without_connecting(address, kb, data) -> None:
    finding = diagnose.run(
        "https://webhook.example.com/callback", kb, data, resolver=_resolver(address), network=NoNetwork()
    )
    assert finding.refused and not finding.ok and finding.reason is None
    assert address.split(":")[-1] in finding.refused or "resolves to" in finding.refused


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("10.0.0.1", "プライベートアドレス"),
        ("169.254.169.254", "リンクローカルアドレス"),
        ("::1", "ループバックアドレス"),
    ],
)
def test_a_japanese_refusal_names_the_address_kind_in_japanese(address, kind, kb, data) -> None:
    """「… 公開されたアドレスではありません（private address）。」: the guard's English kind sat in the
    Japanese sentence; diagnose.yaml's address_* texts name it in Japanese (English stays English)."""
    finding = diagnose.run("https://webhook.example.com/", kb, data, resolver=_resolver(address), network=NoNetwork())
    assert finding.refused
    assert f"（{kind}）" in diagnose_render.refused_text(finding, data, "ja")
    english = diagnose_render.refused_text(finding, data, "en")
    assert data.text["en"]["address_" + finding.facts.refused_fields["what"]] in english and kind not in english


def test_one_bad_address_among_good_ones_refuses(kb, data) -> None:
    finding = diagnose.run(
        "https://webhook.example.com/", kb, data, resolver=_resolver("8.8.8.8", "10.0.0.1"), network=NoNetwork()
    )
    assert finding.refused and "10.0.0.1" in finding.refused


@pytest.mark.parametrize(
    "url",
    [
        "https://2130706433/callback",  # 127.0.0.1 as one integer
        "https://0x7f000001/callback",
        "https://0177.0.0.1/callback",  # octal
        "https://0x7f.0.0.1/callback",
        "https://127.1/callback",
        "https://127.000.000.001/callback",
        "https://10.0.0.1/callback",
        "https://[::1]/callback",
        "https://[::ffff:127.0.0.1]/callback",
        "https://[::ffff:7f00:1]/callback",
        "https://[fe80::1%25eth0]/callback",
        "https://localhost/callback",
        "https://api.localhost/callback",
        "http://webhook.example.com/callback",
        "https://user:pass@webhook.example.com/callback",
        "https://user@webhook.example.com/callback",
        "https://webhook.example.com:22/callback",
        "https://webhook.example.com:80/callback",
        "https://webhook.example.com:0/callback",
    ],
)
def test_refused_forms_never_reach_dns_or_network(url, kb, data) -> None:
    finding = diagnose.run(url, kb, data, resolver=_no_dns, network=NoNetwork())
    assert finding.refused, finding.checks
    assert diagnose_render.as_json(finding, data)["ok"] is False
    for lang in ("ja", "en"):  # every rule has its own text in both languages, every field filled
        reply = diagnose_render.refused_text(finding, data, lang)
        assert "?" not in reply and finding.refused not in reply


def test_loopback_setting_lets_only_127_through() -> None:
    assert urlguard.check("https://localhost:8443/x", _no_dns, allow_loopback=True).addresses == ("127.0.0.1",)
    assert urlguard.check("https://127.0.0.2/x", _no_dns, allow_loopback=True).addresses == ("127.0.0.2",)
    for url in ("https://[::1]/x", "https://10.0.0.1/x", "https://169.254.169.254/x"):
        with pytest.raises(urlguard.Refused):
            urlguard.check(url, _no_dns, allow_loopback=True)


def test_allowed_url_keeps_name_port_and_path() -> None:
    target = urlguard.check(
        "https://Bot.Example.com:8443/line/callback?x=1", _resolver("93.184.215.14", "2606:4700::1111")
    )
    assert target.host == "bot.example.com" and target.port == 8443
    assert target.target == "/line/callback?x=1" and target.authority == "bot.example.com:8443"
    assert target.addresses == ("93.184.215.14", "2606:4700::1111")


def test_idn_host_is_encoded() -> None:
    target = urlguard.check("https://ボット.example/callback", _resolver("8.8.8.8"))
    assert target.host.startswith("xn--")


@pytest.mark.parametrize(
    "url",
    [
        "https://exa mple.com/callback",
        "https://example.com/コールバック",
        "https://example.com:99999/callback",
        "https://example.com/" + "a" * 500,
        "htps://example.com/callback",
        "https:///callback",
    ],
)
def test_malformed_urls_are_invalid_url_syntax(url, kb, data) -> None:
    finding = diagnose.run(url, kb, data, resolver=_no_dns, network=NoNetwork())
    assert (finding.reason, finding.detail) == ("could_not_connect", "Invalid URL syntax")


def test_rate_limiter_window() -> None:
    now = [100.0]
    limiter = MemoryRateLimiter(clock=lambda: now[0])
    assert [limiter.allow("chat", 3, 60) for _ in range(4)] == [True, True, True, False]
    assert limiter.allow("other", 3, 60)
    now[0] += 60.5
    assert limiter.allow("chat", 3, 60)


def test_rate_limiter_forgets_least_recent_keys() -> None:
    limiter = MemoryRateLimiter(max_keys=2, clock=lambda: 0.0)
    assert limiter.allow("a", 1, 60) and limiter.allow("b", 1, 60) and limiter.allow("c", 1, 60)
    assert limiter.allow("a", 1, 60)  # "a" was dropped to keep two keys
    assert not limiter.allow("c", 1, 60)
