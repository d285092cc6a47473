"""A PostgreSQL of a test's own, on a port of its own, so the test can stop, restart or freeze it without touching
the run's shared database. Its binaries are pgserver's (a dependency of the server extra), so it runs on a bare
machine too; as root it runs as pgserver's unprivileged system user, since PostgreSQL refuses to run as root."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from .services import free_port

SYSTEM_USER = "pgserver"  # the account pgserver itself creates and uses when run as root


class PostgresProcess:
    def __init__(self) -> None:
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="fapiao-pg-"))
        self.data = self.folder / "data"
        self._user: str | None = None
        if os.geteuid() == 0:
            from pgserver.utils import ensure_user_exists

            ensure_user_exists(SYSTEM_USER)
            self._user = SYSTEM_USER
            entry = pwd.getpwnam(SYSTEM_USER)
            os.chown(self.folder, entry.pw_uid, entry.pw_gid)

    def _run(self, tool: str, *args: str) -> None:
        from pgserver._commands import POSTGRES_BIN_PATH

        command = [str(POSTGRES_BIN_PATH / tool), *args]
        user = self._user
        if user is not None and (runuser := shutil.which("runuser")):
            # runuser rather than subprocess's user=, which makes Python fork() instead of vfork(): a fork in a
            # process with gRPC threads running (a test's clients) can crash the child in gRPC's fork handlers.
            command, user = [runuser, "-u", user, "--", *command], None
        subprocess.run(
            command,
            check=True,
            user=user,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=120,
        )

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> PostgresProcess:
        if not (self.data / "PG_VERSION").exists():
            self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "--encoding=utf8")
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder} -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.folder / "log"), "-w", "start")
        return self

    def stop(self, mode: str = "fast") -> None:
        """``fast``: clients are disconnected, a clean shutdown; ``immediate``: as if the machine lost power."""
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def pause(self) -> None:
        """Freeze the server (SIGSTOP to every process of it): connections stay open and nothing answers."""
        self._signal_all(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal_all(signal.SIGCONT)

    def _signal_all(self, signum: int) -> None:
        import psutil  # pgserver's dependency

        postmaster = psutil.Process(int((self.data / "postmaster.pid").read_text().split()[0]))
        for process in [postmaster, *postmaster.children()]:
            process.send_signal(signum)

    def close(self) -> None:
        try:
            self.stop("immediate")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)
