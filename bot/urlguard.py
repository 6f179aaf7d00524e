"""Check a webhook URL before the bot fetches it: https only, allowed ports, every address global.

Strangers send the bot URLs, so a URL is parsed once, its host resolved once, and every address checked
here; the probe then connects to exactly the addresses checked (so DNS rebinding cannot switch them).
"""

from __future__ import annotations

import ipaddress
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

import dns.exception
import dns.resolver
import idna

MAX_URL = 500  # LINE's rule for webhook URLs: a valid HTTPS URL of at most 500 characters
DEFAULT_PORT = 443
# LINE documents no port rule beyond "a valid HTTPS URL"; the bot accepts 443 and the unprivileged
# ports (8443, 10443, ...), and refuses the other well-known ports (22, 25, 80, ...), which no
# webhook needs and which would let the bot be pointed at mail or SSH servers.
UNPRIVILEGED = range(1024, 65536)
LOOPBACK_V4 = ipaddress.ip_network("127.0.0.0/8")
CGNAT = ipaddress.ip_network("100.64.0.0/10")
NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
# resolve(host, timeout) -> addresses as text; raises UnknownHost or DNSTimeout.
Resolver = Callable[[str, float], Sequence[str]]

_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$", re.IGNORECASE)
_HOST_CHARS = re.compile(r"^[a-z0-9_.-]+$")


class Refused(Exception):
    """The bot will not fetch this URL (a safety rule); the message says which rule, in English.

    `rule` names the rule (a key of the texts in knowledge/diagnose.yaml, `refused_<rule>`) and
    `fields` fill in its text: host, address, what, port."""

    def __init__(self, message: str, rule: str, **fields: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.fields = fields


class _Keyed(Exception):
    """A guard finding: the message in English (logs, tests); `rule` names its text in
    knowledge/diagnose.yaml (`invalid_<rule>`, `dns_<rule>`) and `fields` fill it in."""

    default = ""

    def __init__(self, message: str, rule: str = "", **fields: str) -> None:
        super().__init__(message)
        self.rule = rule or self.default
        self.fields = fields


class InvalidURL(_Keyed):
    """The URL itself is malformed: what LINE reports as "Invalid URL syntax"."""

    default = "unparsable"


class UnknownHost(_Keyed):
    """The name does not exist or has no address ("Unknown host")."""

    default = "nxdomain"


class DNSTimeout(_Keyed):
    """No name server answered in time ("DNS Query timeout")."""

    default = "timeout"


@dataclass(frozen=True)
class Why:
    """Why an address is not global: a kind (a key of diagnose.yaml's `address_<kind>` texts), the IPv4
    address an IPv6 form stands for, and for 6to4 why that one is not global; str() is the English."""

    kind: str
    of: str = ""
    inner: Why | None = None

    def __str__(self) -> str:
        if self.kind == "6to4":
            return f"6to4 address of {self.of} ({self.inner})"
        english = _KIND_ENGLISH[self.kind]
        return f"{english} (of {self.of})" if self.of else english

    def fields(self) -> dict[str, str]:
        """The refusal text's fields: `what` (the kind), `of`, `inner` (the inner kind)."""
        return {"what": self.kind, "of": self.of, "inner": self.inner.kind if self.inner else ""}


_KIND_ENGLISH = {
    "ipv4_mapped": "IPv4-mapped IPv6 address",
    "nat64": "NAT64 address",
    "teredo": "Teredo tunnel address",
    "unspecified": "unspecified address",
    "loopback": "loopback address",
    "cgnat": "shared (CGNAT) address",
    "link_local": "link-local address",
    "multicast": "multicast address",
    "private": "private address",
    "reserved": "reserved address",
    "not_global": "not a global address",
    "this_machine": "loopback",
}


@dataclass(frozen=True)
class Target:
    """A URL that passed the guard, with the only addresses the probe may connect to."""

    url: str
    host: str  # ASCII (IDNA) name or IP literal, as it goes into SNI and Host
    port: int
    target: str  # path and query, as it goes into the request line
    addresses: tuple[str, ...]
    literal: bool  # the host is an IP address (no DNS, no SNI)

    @property
    def authority(self) -> str:
        """host[:port] for the Host header and the request URL."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == DEFAULT_PORT else f"{host}:{self.port}"


def parse(url: str) -> tuple[SplitResult, str, int]:
    """Split a URL and check its form; raise InvalidURL or Refused. Returns (parts, ASCII host, port)."""
    if len(url) > MAX_URL:
        raise InvalidURL(
            f"the URL has {len(url)} characters; LINE allows at most {MAX_URL}",
            "too_long",
            length=str(len(url)),
            limit=str(MAX_URL),
        )
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        raise InvalidURL("the URL contains a space or a control character", "space")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidURL(f"the URL cannot be parsed: {exc}", "unparsable", error=str(exc)) from None
    scheme = parts.scheme.lower()
    if scheme == "http":
        raise Refused("only https:// URLs are checked (LINE sends webhooks over HTTPS only)", "https_only")
    if scheme != "https" or not parts.netloc:
        raise InvalidURL("the URL must start with https://", "scheme")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise Refused("the URL contains a user name or password; remove them", "credentials")
    raw_path = parts.path + ("?" + parts.query if parts.query else "")
    if not raw_path.isascii():
        raise InvalidURL("the path contains characters outside ASCII (full-width?); percent-encode them", "non_ascii")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise InvalidURL("the URL has no host name", "no_host")
    if "%" in host:
        raise Refused("a zone id or percent-encoding in the host is not accepted", "host_form", host=host)
    if not host.isascii():
        try:
            host = idna.encode(host, uts46=True).decode("ascii")
        except idna.IDNAError as exc:
            raise InvalidURL(f"the host name is not a valid domain name: {exc}", "bad_idn", error=str(exc)) from None
    host = host.lower()
    if ":" not in host and not _HOST_CHARS.match(host):
        raise InvalidURL("the host name contains characters a domain name cannot have", "host_chars", host=host)
    port = DEFAULT_PORT if port is None else port
    if port != DEFAULT_PORT and port not in UNPRIVILEGED:
        raise Refused(f"port {port} is not checked (443 or 1024-65535 only)", "port", port=str(port))
    return parts, host, port


def literal_address(host: str) -> Address | None:
    """The IP address a host literally is, or None for a name; refuse odd IPv4 spellings.

    Browsers and many HTTP stacks read a host whose last label is a number as IPv4, in decimal, octal
    or hex, whole or in parts (2130706433, 0x7f.1, 0177.0.0.1, 127.1): only plain dotted quads pass."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    labels = host.split(".")
    if _NUMERIC_LABEL.match(labels[-1]):
        raise Refused(
            f"the host {host!r} is an IPv4 address in an unusual form; write it as a.b.c.d", "host_form", host=host
        )
    return None


def non_global(address: Address, allow_loopback: bool = False) -> Why | None:
    """Why the bot must not connect to `address`, or None when it is a global unicast address."""
    if allow_loopback and address.version == 4 and address in LOOPBACK_V4:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return Why("ipv4_mapped", str(address.ipv4_mapped))
        if any(address in net for net in NAT64):
            return Why("nat64", str(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)))
        if address.sixtofour is not None and (inner := non_global(address.sixtofour)):
            return Why("6to4", str(address.sixtofour), inner)
        if address.teredo is not None:
            return Why("teredo")
    checks = (
        (address.is_unspecified, "unspecified"),
        (address.is_loopback, "loopback"),
        (address.version == 4 and address in CGNAT, "cgnat"),
        (address.is_link_local, "link_local"),
        (address.is_multicast, "multicast"),
        (address.is_private, "private"),
        (address.is_reserved, "reserved"),
        (not address.is_global, "not_global"),
    )
    return next((Why(kind) for bad, kind in checks if bad), None)


def dns_resolver(nameservers: Sequence[str] | None = None, port: int = 53) -> Resolver:
    """A Resolver asking the system's name servers (or these) with dnspython."""

    def resolve(host: str, timeout: float) -> list[str]:
        resolver = dns.resolver.Resolver(configure=nameservers is None)
        if nameservers is not None:
            resolver.nameservers, resolver.port = list(nameservers), port
        return _resolve(resolver, host, timeout)

    return resolve


def _resolve(resolver: dns.resolver.Resolver, host: str, timeout: float) -> list[str]:
    """A and AAAA records of `host`, within `timeout` seconds in all."""
    found: list[str] = []
    deadline = time.monotonic() + timeout
    try:
        for rdtype in ("A", "AAAA"):
            left = deadline - time.monotonic()
            if left <= 0:
                raise dns.exception.Timeout
            try:
                answer = resolver.resolve(host, rdtype, lifetime=left, search=False)
            except dns.resolver.NoAnswer:
                continue
            found += [r.to_text() for r in answer]
    except dns.resolver.NXDOMAIN:
        raise UnknownHost(f"{host}: no such domain (NXDOMAIN)", "nxdomain", host=host) from None
    except dns.exception.Timeout:
        raise DNSTimeout(
            f"{host}: no answer within {timeout:g} s", "timeout", host=host, seconds=f"{timeout:g}"
        ) from None
    except dns.resolver.NoNameservers:
        raise DNSTimeout(f"{host}: every name server failed to answer (SERVFAIL)", "servfail", host=host) from None
    if not found:
        raise UnknownHost(f"{host}: the name has no A or AAAA record", "no_record", host=host)
    return found


def check(url: str, resolver: Resolver | None = None, allow_loopback: bool = False, dns_timeout: float = 2.0) -> Target:
    """Parse `url`, resolve its host once and check every address; raise Refused, InvalidURL,
    UnknownHost or DNSTimeout. Nothing is connected to here."""
    parts, host, port = parse(url)
    target = (parts.path or "/") + ("?" + parts.query if parts.query else "")
    literal = literal_address(host)
    if literal is not None:
        addresses: Sequence[str] = [str(literal)]
    elif host == "localhost" or host.endswith(".localhost"):
        if not allow_loopback:
            why = Why("this_machine")
            raise Refused(f"{host} is this machine ({why})", "literal", address=host, **why.fields())
        addresses = ["127.0.0.1"]  # never asked of DNS: RFC 6761 names are this machine
    else:
        addresses = (resolver or dns_resolver())(host, dns_timeout)
        if not addresses:
            raise UnknownHost(f"{host}: the name has no address", "no_record", host=host)
    checked: list[str] = []
    for text in addresses:
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            raise Refused(f"the resolver returned {text!r}, which is not an IP address", "dns", host=host) from None
        why = non_global(address, allow_loopback)
        if why:
            if literal is not None:
                raise Refused(f"{address} is a {why}", "literal", address=str(address), **why.fields())
            raise Refused(
                f"{host} resolves to {address}: {why}", "address", host=host, address=str(address), **why.fields()
            )
        checked.append(str(address))
    return Target(url, host, port, target, tuple(dict.fromkeys(checked)), literal is not None)
