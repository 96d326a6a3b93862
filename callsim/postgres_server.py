"""A throwaway PostgreSQL server for the database tests and benchmarks.memory_load.

:class:`PostgresServer` runs Debian's PostgreSQL binaries (``initdb``, then ``postgres``) on a fresh
data directory in a temporary folder, listening on 127.0.0.1 at a free port with trust
authentication, and removes everything again on :meth:`~PostgresServer.stop`. When this process runs
as root, the server runs as the ``postgres`` system user (PostgreSQL refuses root): the child
switches user itself (``subprocess`` ``user=``) rather than through ``runuser``, so that the process
we hold and signal is the postmaster itself. The postmaster gets its own process group, and stopping
it is a fast shutdown (SIGINT), then SIGKILL to the group if it lingers.
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

_PR_SET_PDEATHSIG = 1  # linux/prctl.h
RUN_PREFIX = "cc-postgres-"  # each server's folder in the temporary directory
SERVER_USER = "postgres"
SUPERUSER = "postgres"
# Durability off: for tests only, where a crash loses nothing of value. Start-up and writes are
# several times faster on a loaded machine.
TEST_SETTINGS: Mapping[str, str] = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
}


class PostgresNotInstalled(RuntimeError):
    """No PostgreSQL server binaries on this machine."""


class PostgresServerError(RuntimeError):
    """The server could not be initialised or did not become ready."""


def postgres_bindir() -> Path:
    """The folder of ``initdb`` and ``postgres``: Debian's newest ``/usr/lib/postgresql/<v>/bin``,
    else what ``pg_config --bindir`` says, else ``PATH``."""
    candidates = sorted(
        (Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin")),
        key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0,
        reverse=True,
    )
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.CalledProcessError):
            said = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, check=True
            ).stdout.strip()
            candidates.append(Path(said))
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).parent)
    for bindir in candidates:
        if (bindir / "initdb").is_file() and (bindir / "postgres").is_file():
            return bindir
    raise PostgresNotInstalled(
        "no PostgreSQL server binaries (initdb, postgres): "
        "install Debian's postgresql (scripts/bootstrap.sh does)"
    )


def remove_abandoned_runs(older_than_s: float = 600.0) -> None:
    """Delete run folders whose server is gone, left by a process killed before it could stop its
    server (the server itself dies with it: see :func:`_die_with_parent`). Young folders are left
    alone: another process may be running initdb in one."""
    for root in Path(tempfile.gettempdir()).glob(f"{RUN_PREFIX}*"):
        with contextlib.suppress(OSError, ValueError):
            if time.time() - root.stat().st_mtime < older_than_s or _postmaster_alive(root):
                continue
            shutil.rmtree(root)


def _postmaster_alive(root: Path) -> bool:
    pid_file = root / "data" / "postmaster.pid"
    if not pid_file.is_file():
        return False
    pid = int(pid_file.read_text().split()[0])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def free_port() -> int:
    """A TCP port free right now on 127.0.0.1 (a small race remains; start() retries on it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    """One PostgreSQL server with one database. Use as a context manager, or :meth:`start` and
    :meth:`stop` (which is safe to call at any point, also after a failed start)."""

    def __init__(
        self,
        database: str = "memory",
        settings: Mapping[str, str] | None = None,
        startup_timeout_s: float = 30.0,
    ) -> None:
        self.database = database
        self._settings = dict(settings or {})
        self._startup_timeout_s = startup_timeout_s
        self._process: subprocess.Popen[bytes] | None = None
        self._root: Path | None = None
        self._user: str | None = None
        self.port = 0

    @property
    def url(self) -> str:
        """SQLAlchemy URL of :attr:`database` (psycopg 3, TCP, trust authentication)."""
        return self.url_of(self.database)

    def url_of(self, database: str) -> str:
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    @property
    def log_path(self) -> Path | None:
        return self._root / "postgres.log" if self._root else None

    def __enter__(self) -> PostgresServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self, attempts: int = 3) -> None:
        """Initialise a data directory, start the server and create :attr:`database`."""
        bindir = postgres_bindir()
        self._user = _server_user()
        remove_abandoned_runs()
        try:
            self._root = Path(tempfile.mkdtemp(prefix=RUN_PREFIX))
            self._run_as_server_user([str(bindir / "initdb"), *self._initdb_options()])
            for attempt in range(1, attempts + 1):
                self.port = free_port()
                self._spawn(bindir)
                if self._wait_ready(bindir):
                    break
                if attempt == attempts or "already in use" not in self.log_tail():
                    raise PostgresServerError(f"postgres did not start:\n{self.log_tail()}")
                self._stop_process()
            self.create_database(self.database)
        except BaseException:
            self.stop()
            raise

    def create_database(self, name: str) -> str:
        """Create database ``name``; its SQLAlchemy URL."""
        bindir = postgres_bindir()
        command = [str(bindir / "createdb"), *self._client_options(), name]
        result = subprocess.run(command, capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise PostgresServerError(f"createdb {name} failed: {result.stderr.strip()}")
        return self.url_of(name)

    def stop(self) -> None:
        """Stop the server and delete its files."""
        self._stop_process()
        root, self._root = self._root, None
        if root is not None:
            shutil.rmtree(root, ignore_errors=True)

    def log_tail(self, lines: int = 30) -> str:
        path = self.log_path
        if path is None or not path.is_file():
            return "(no server log)"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def _initdb_options(self) -> list[str]:
        assert self._root is not None
        return [
            f"--pgdata={self._root / 'data'}",
            f"--username={SUPERUSER}",
            "--auth=trust",
            "--encoding=UTF8",
            "--no-locale",
            "--no-sync",  # a throwaway cluster: nothing to make durable
        ]

    def _client_options(self) -> list[str]:
        return ["--host=127.0.0.1", f"--port={self.port}", f"--username={SUPERUSER}"]

    def _spawn(self, bindir: Path) -> None:
        assert self._root is not None
        sockets = self._root / "sockets"
        sockets.mkdir(exist_ok=True)
        self._hand_to_server_user(sockets)
        command = [
            str(bindir / "postgres"),
            "-D",
            str(self._root / "data"),
            "-p",
            str(self.port),
            "-k",
            str(sockets),
            "-c",
            "listen_addresses=127.0.0.1",
        ]
        for name, value in self._settings.items():
            command += ["-c", f"{name}={value}"]
        with (self._root / "postgres.log").open("ab") as log_file:
            self._process = subprocess.Popen(
                command,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self._root,
                start_new_session=True,  # its own group: backends are reached by killpg
                preexec_fn=_die_with_parent,
                user=self._user,
                group=self._user,
                extra_groups=[] if self._user else None,
            )

    def _wait_ready(self, bindir: Path) -> bool:
        """True once the server accepts connections; False if it exited during start-up."""
        deadline = time.monotonic() + self._startup_timeout_s
        probe = [str(bindir / "pg_isready"), *self._client_options(), "--dbname=postgres"]
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                return False
            ready = subprocess.run(probe, capture_output=True, timeout=10)
            if ready.returncode == 0:
                return True
            time.sleep(0.05)
        raise PostgresServerError(
            f"postgres not ready after {self._startup_timeout_s:.0f} s:\n{self.log_tail()}"
        )

    def _stop_process(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGINT)  # fast shutdown: abort sessions, then exit
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=15)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)  # backends left behind, if any
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)

    def _run_as_server_user(self, command: list[str]) -> None:
        assert self._root is not None
        self._hand_to_server_user(self._root)
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=120,
            cwd=self._root,
            user=self._user,
            group=self._user,
            extra_groups=[] if self._user else None,
        )
        if result.returncode != 0:
            raise PostgresServerError(
                f"{Path(command[0]).name} failed ({result.returncode}):\n{result.stderr.strip()}"
            )

    def _hand_to_server_user(self, path: Path) -> None:
        if self._user is not None:
            shutil.chown(path, self._user, self._user)


def _die_with_parent() -> None:
    """In the server's process, before exec: have the kernel send it SIGQUIT (PostgreSQL's
    immediate shutdown) if the process that started it dies, e.g. a pytest run killed by SIGTERM or
    SIGKILL, which runs no fixture teardown. Runs after the switch to the server user, which would
    clear the setting. (The kernel means the starting *thread*: start the server from one that lives
    as long as the server should.)"""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGQUIT) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")


def _server_user() -> str | None:
    """Whom the server runs as: :data:`SERVER_USER` when we are root, else ourselves (None)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError:
        raise PostgresNotInstalled(
            f"no '{SERVER_USER}' system user to run the server as: "
            "install Debian's postgresql (scripts/bootstrap.sh does)"
        ) from None
    return SERVER_USER
