"""A throwaway PostgreSQL cluster on 127.0.0.1 for tests (Debian's server binaries, run as non-root)."""

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def server_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """initdb + pg_ctl start in a temp folder; `url` for the `zoo` database; `stop()` removes it all."""

    def __init__(self) -> None:
        bindir = server_bin()
        if bindir is None:
            raise RuntimeError("PostgreSQL server binaries not found (apt-get install -y postgresql)")
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="zoo-pg-", dir="/tmp"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.user = None
        if os.geteuid() == 0:  # initdb refuses root: run the server as the postgres user
            self.user = "postgres"
            pw = pwd.getpwnam(self.user)
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
        self._run(f"{bindir}/initdb -D {self.data} -A trust -U zoo --no-sync")
        self._run(
            f"{bindir}/pg_ctl -D {self.data} -l {self.root}/log "
            f'-o "-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off" -w start'
        )
        self._run(f"{bindir}/createdb -h 127.0.0.1 -p {self.port} -U zoo zoo")
        self.url = f"postgresql://zoo@127.0.0.1:{self.port}/zoo"

    def _run(self, command: str) -> None:
        argv = ["su", self.user, "-s", "/bin/sh", "-c", command] if self.user else ["sh", "-c", command]
        subprocess.run(argv, check=True, capture_output=True, timeout=120)

    def stop(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError):
            self._run(f"{self.bindir}/pg_ctl -D {self.data} -m immediate -w stop")
        time.sleep(0.2)
        shutil.rmtree(self.root, ignore_errors=True)
