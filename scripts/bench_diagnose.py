"""Webhook URL check figures: time per probe against local servers on 127.0.0.1, one per kind of finding."""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the misbehaving servers the tests use

import trustme  # noqa: E402
from diagnose_servers import FullBacklog, Server, answer, closed_port, h2_server, self_signed_context, server_context  # noqa: E402

from bot import diagnose, diagnose_data, knowledge  # noqa: E402

ROUNDS = 5


def main() -> None:
    kb, data = knowledge.load(), diagnose_data.load()
    ca = trustme.CA()
    workdir = Path(tempfile.mkdtemp())
    ca_file = workdir / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    options = diagnose.Options(allow_loopback=True, ca_file=str(ca_file))
    cases = {
        "200 over TLS 1.3": Server(answer(200), server_context(ca.issue_cert("127.0.0.1"))),
        "404": Server(answer(404), server_context(ca.issue_cert("127.0.0.1"))),
        "self-signed": Server(answer(200), self_signed_context(workdir)),
        "plain HTTP": Server(answer(400), whole=False),
        "HTTP/2 GOAWAY": h2_server(ca.issue_cert("127.0.0.1"), "goaway"),
    }
    for name, server in cases.items():
        times, finding = [], None
        for _ in range(ROUNDS):
            finding = diagnose.run(server.url(), kb, data, options=options)
            times.append(finding.facts.elapsed_ms)
        server.close()
        verdict = "ok" if finding.ok else f"{finding.reason} / {finding.detail}"
        print(f"diagnose: {name:18} {verdict:55} median {statistics.median(times):6.1f} ms (x{ROUNDS})")
    once = {"closed port": f"https://127.0.0.1:{closed_port()}/callback"}
    backlog = FullBacklog()
    once["full listen backlog"] = f"https://127.0.0.1:{backlog.port}/callback"
    silent = Server(lambda conn, _: silent.release.wait(30), server_context(ca.issue_cert("127.0.0.1")))
    once["never answers"] = silent.url()
    for name, url in once.items():
        finding = diagnose.run(url, kb, data, options=options)
        print(f"diagnose: {name:18} {finding.reason + ' / ' + finding.detail:55} {finding.facts.elapsed_ms:6.1f} ms")
    backlog.close()
    silent.close()


if __name__ == "__main__":
    main()
