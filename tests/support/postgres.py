"""A throwaway PostgreSQL cluster for the tests (Debian's ``postgresql`` package, installed by
``.ci/run``): ``initdb`` into a temporary directory, ``pg_ctl start`` on a free loopback port,
password authentication over TCP, stopped and deleted at the end.

The server refuses to run as root, so as root the cluster belongs to the ``postgres`` system user
(created by the Debian package) and the commands run through ``runuser``. A missing PostgreSQL is
an error, never a skip.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from tests.support.peers import free_port

USER = "kei"
PASSWORD = "kei-test-password"
DATABASE = "kei"
INSTALL_HINT = "PostgreSQL is required: apt-get install -y postgresql (what .ci/run does)"


def _install_with_apt() -> None:
    """Install Debian's PostgreSQL when running as root on a machine with apt (a fresh CI box)."""
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=False, env=env, capture_output=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "postgresql"], check=False, env=env, capture_output=True)


def _bin_dir() -> Path:
    if not glob.glob("/usr/lib/postgresql/*/bin/initdb") and shutil.which("initdb") is None:
        _install_with_apt()
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda path: int(Path(path).parts[-3].split(".")[0])
    )
    if candidates:
        return Path(candidates[-1]).parent
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    raise RuntimeError(INSTALL_HINT)


def _as_owner(command: list[str], owner: str | None) -> list[str]:
    if owner is None:
        return command
    return ["runuser", "-u", owner, "--", *command]


@contextlib.contextmanager
def run_postgres() -> Iterator[str]:
    """Start a cluster; yields ``postgresql://kei:<password>@127.0.0.1:<port>/kei``."""
    bin_dir = _bin_dir()
    owner = None
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            raise RuntimeError(f"the postgres system user is missing. {INSTALL_HINT}") from None
        owner = "postgres"
    root = Path(tempfile.mkdtemp(prefix="kei-pg-"))
    data, sockets, log = root / "data", root / "sockets", root / "server.log"
    sockets.mkdir()
    password_file = root / "password"
    password_file.write_text(PASSWORD + "\n")
    if owner is not None:
        shutil.chown(root, owner)
        shutil.chown(sockets, owner)
        shutil.chown(password_file, owner)
    port = free_port()
    env = {**os.environ, "LC_ALL": "C", "LANG": "C"}

    def run(*args: str) -> None:
        proc = subprocess.run(
            _as_owner([str(bin_dir / args[0]), *args[1:]], owner),
            capture_output=True,
            text=True,
            env=env,
            check=False,
            timeout=120,
        )
        if proc.returncode != 0:
            details = log.read_text() if log.exists() else ""
            raise RuntimeError(f"{args[0]} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}\n{details}")

    run(
        "initdb",
        "-D",
        str(data),
        "-U",
        USER,
        f"--pwfile={password_file}",
        "--auth-local=trust",
        "--auth-host=scram-sha-256",
        "--encoding=UTF8",
        "--no-sync",
    )
    options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
    run("pg_ctl", "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "60", "start")
    try:
        run("createdb", "-h", str(sockets), "-p", str(port), "-U", USER, DATABASE)
        yield f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{port}/{DATABASE}"
    finally:
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            run("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "-t", "30", "stop")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                shutil.rmtree(root)
                break
            except OSError:
                time.sleep(0.2)
