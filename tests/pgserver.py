"""A throw-away PostgreSQL cluster for the suite: initdb in a temp dir, pg_ctl on a free 127.0.0.1 port.

Skips (with how to install) only when the PostgreSQL binaries are missing. As root, the server runs as
the `postgres` user that the distribution's package creates (postgres refuses to run as root).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from ports import free_port

INSTALL_HINT = (
    "PostgreSQL server binaries (initdb, pg_ctl) not found: install them, e.g. `apt-get install postgresql` "
    "(Debian/Ubuntu) or `brew install postgresql` (macOS); .ci/run does this in CI"
)


def _bin_dir() -> Path | None:
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(found).resolve().parent
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    return None


class Cluster:
    """A running throw-away cluster; `url` reaches its `postgres` database as the `postgres` superuser."""

    def __init__(self) -> None:
        bin_dir = _bin_dir()
        if bin_dir is None:
            pytest.skip(INSTALL_HINT)
        self._prefix: list[str] = []
        self._root = Path(tempfile.mkdtemp(prefix="pgtest-"))
        if os.geteuid() == 0:
            try:
                user = pwd.getpwnam("postgres")
            except KeyError:
                shutil.rmtree(self._root)
                pytest.fail(
                    "running as root needs a `postgres` user for the test cluster (the postgresql package makes it)"
                )
            os.chown(self._root, user.pw_uid, user.pw_gid)
            self._prefix = ["runuser", "-u", "postgres", "--"]
        self._data = self._root / "data"
        self._pg_ctl = str(bin_dir / "pg_ctl")
        self.port = free_port()
        self._run(
            str(bin_dir / "initdb"),
            "-D",
            str(self._data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self._root} -F -c max_connections=60"
        self._run(
            self._pg_ctl, "-D", str(self._data), "-o", options, "-l", str(self._root / "log"), "-w", "-t", "60", "start"
        )
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        result = subprocess.run([*self._prefix, *args], capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            log = (self._root / "log").read_text() if (self._root / "log").exists() else ""
            raise RuntimeError(f"{args[0]} failed: {result.stdout}{result.stderr}{log}")

    def stop(self) -> None:
        """Stop the server at once and delete the cluster."""
        try:
            self._run(self._pg_ctl, "-D", str(self._data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self._root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    """One cluster for the whole run (started on first use)."""
    cluster = Cluster()
    yield cluster
    cluster.stop()


@pytest.fixture
def pg_url(pg_cluster: Cluster) -> str:
    """The cluster's URL with an empty public schema (each test starts from no tables)."""
    import psycopg

    with psycopg.connect(pg_cluster.url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")
    return pg_cluster.url
