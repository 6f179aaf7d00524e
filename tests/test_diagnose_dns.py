"""dnspython's answers mapped to LINE's DNS details, against a tiny name server on 127.0.0.1."""

from __future__ import annotations

import io
import shutil
import socket
import threading
from collections.abc import Iterator

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from bot import urlguard


@pytest.fixture
def name_server() -> Iterator[int]:
    """UDP on 127.0.0.1: good.test -> 93.184.215.14 (no AAAA), gone.test -> NXDOMAIN, slow.test -> silence."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                wire, peer = sock.recvfrom(4096)
            except OSError:
                return
            query = dns.message.from_wire(wire)
            question = query.question[0]
            name = question.name.to_text()
            if name.startswith("slow."):
                continue  # never answers
            response = dns.message.make_response(query)
            if name.startswith("gone."):
                response.set_rcode(dns.rcode.NXDOMAIN)
            elif question.rdtype == dns.rdatatype.A:
                response.answer.append(dns.rrset.from_text(name, 60, "IN", "A", "93.184.215.14"))
            sock.sendto(response.to_wire(), peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield sock.getsockname()[1]
    stop.set()
    sock.close()


def test_found_unknown_and_silent_names(name_server: int) -> None:
    resolve = urlguard.dns_resolver(["127.0.0.1"], name_server)
    assert resolve("good.test", 2.0) == ["93.184.215.14"]
    with pytest.raises(urlguard.UnknownHost):
        resolve("gone.test", 2.0)
    with pytest.raises(urlguard.DNSTimeout):
        resolve("slow.test", 0.3)


def test_diagnose_yaml_problems_name_file_section_and_field(tmp_path) -> None:
    from facts import diagnose_problems

    lines = diagnose_problems(
        tmp_path,
        ("per_chat: {count: 3, seconds: 60}", "per_chat: {count: 0, seconds: 60}"),
        ("  title_ok: Webhook URLの診断結果：問題なし\n", ""),
        ("  en: [webhook, url, my,", "  fr: [webhook, url, my,"),
        ("request_chars: 60", "request_chars: many"),
    )
    assert "diagnose.yaml: entry limits: field per_chat: needs count (a whole number >= 1) and seconds (> 0)" in lines
    assert "diagnose.yaml: entry ja: field title_ok: is missing or empty" in lines
    assert "diagnose.yaml: entry fillers: field fr: must be a list of words under ja or en" in lines
    assert "diagnose.yaml: entry request_chars: must be a whole number >= 1" in lines


@pytest.mark.parametrize("section", ["triggers", "fillers", "limits", "line_tls"])
def test_a_diagnose_yaml_section_that_is_not_a_mapping_is_named(tmp_path, section: str) -> None:
    # A list where diagnose.yaml wants a mapping made start-up and `validate` end in AttributeError tracebacks.
    from bot import cli
    from bot.knowledge import DEFAULT_DIR

    shutil.copytree(DEFAULT_DIR, tmp_path / "kb")
    text = (tmp_path / "kb" / "diagnose.yaml").read_text(encoding="utf-8")
    (tmp_path / "kb" / "diagnose.yaml").write_text(f"{section}: [oops]\n" + text.replace(f"\n{section}:", "\nold:"))
    out = io.StringIO()
    assert cli.main(["validate", str(tmp_path / "kb")], out) == 1
    assert out.getvalue().splitlines() == [f"diagnose.yaml: entry {section}: must be a mapping, got list"]
