"""Start, watch and stop one real ``tritonserver`` process.

The tests, the CPU demo and the benchmarks all start Triton through :class:`TritonServer`, so they serve
exactly what a GPU host serves. Where the binary comes from (:func:`locate_installation`):

1. ``$TRITONSERVER_BIN`` (with ``$TRITONSERVER_BACKENDS``, default ``/opt/tritonserver/backends``);
2. a system ``tritonserver`` on ``PATH`` with ``/opt/tritonserver/backends`` (the NGC image, a GPU host);
3. the tritonserver 2.51 (= Triton 24.10) that the PyPI package ``nvidia-pytriton`` ships. It is copied once
   into a cache folder, with the Python-backend stub for this interpreter's version put into
   ``backends/python/``, and runs with ``LD_LIBRARY_PATH`` pointing at ``nvidia_pytriton.libs``.

How ``model.py`` files see our packages: the stub embeds ``libpython3.X`` (Debian's ``libpython3.11`` for
the bundled stub) in an isolated configuration that ignores ``PYTHONPATH``. It does, however, locate its
prefix like ``python3`` would, by searching ``PATH``; so the launcher puts this virtual environment's
``bin/`` first on the server's ``PATH``, the embedded interpreter finds ``pyvenv.cfg``, and its ``site``
adds the venv's site-packages (and, through the editable install's ``.pth``, this project). In the Docker
image the packages are installed into the system Python, so nothing is needed there.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import tritonclient.grpc as grpcclient

from serving.paths import DEFAULT_CACHE_DIR

log = logging.getLogger(__name__)

START_MARKER = "\n=== tritonserver start "


class TritonLaunchError(RuntimeError):
    """tritonserver could not be found, prepared or brought to readiness."""


@dataclass(frozen=True)
class TritonInstallation:
    """A runnable tritonserver: its binary, backend directory and the environment it needs."""

    binary: Path
    backends: Path
    env: Mapping[str, str] = field(default_factory=dict)
    source: str = "system"


@dataclass(frozen=True)
class TritonServerOptions:
    """What to serve and how. Ports left at 0 are picked free at start and kept across restarts."""

    model_repository: Path
    models: Sequence[str] | None = None  # None: every model in the repository
    grpc_port: int = 0
    http_port: int = 0
    metrics_port: int = 0
    # Python-based backends (a folder holding model.py) added beside ``python`` in the backend directory,
    # e.g. {"vllm": Path(...)} for a stand-in of Triton's vLLM backend.
    extra_backends: Mapping[str, Path] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)  # model settings overrides (profiles)
    run_dir: Path | None = None  # log and backend dir; a fresh folder under the cache by default
    startup_timeout_s: float = 300.0  # the CPU profile's LLM alone takes 25-70 s on 2 busy cores
    # Triton waits this long for open requests and sequences at shutdown (its default is 30 s).
    exit_timeout_s: int = 5
    log_verbose: int = 0
    # The server's working directory, which the stubs' Python puts on sys.path; None: this process's.
    cwd: Path | None = None


def _bundled_tritonserver_dir() -> Path | None:
    spec = importlib.util.find_spec("pytriton")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "tritonserver"
    return path if (path / "bin" / "tritonserver").exists() else None


def _prepare_bundled(bundle: Path, cache_dir: Path) -> TritonInstallation:
    """Copy the pytriton bundle once into the cache, with this Python's backend stub in place."""
    py_version = f"{sys.version_info.major}.{sys.version_info.minor}"
    stub = bundle / "python_backend_stubs" / py_version / "triton_python_backend_stub"
    if not stub.exists():
        raise TritonLaunchError(
            f"nvidia-pytriton ships no Python backend stub for Python {py_version}"
        )
    libs = bundle.parent.parent / "nvidia_pytriton.libs"
    target = cache_dir / f"tritonserver-pytriton-py{py_version}"
    marker = target / ".prepared"
    if not marker.exists() or marker.read_text() != str(bundle):
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(bundle / "bin", target / "bin")
        shutil.copytree(bundle / "backends", target / "backends")
        shutil.copytree(bundle / "caches", target / "caches")
        shutil.copy2(stub, target / "backends" / "python" / "triton_python_backend_stub")
        marker.write_text(str(bundle))
    ld_path = os.pathsep.join(p for p in (str(libs), os.environ.get("LD_LIBRARY_PATH", "")) if p)
    return TritonInstallation(
        binary=target / "bin" / "tritonserver",
        backends=target / "backends",
        env={"LD_LIBRARY_PATH": ld_path},
        source="nvidia-pytriton",
    )


def locate_installation(cache_dir: Path = DEFAULT_CACHE_DIR) -> TritonInstallation:
    """Find a tritonserver to run (see the module docstring for the order)."""
    explicit = os.environ.get("TRITONSERVER_BIN")
    if explicit:
        backends = Path(os.environ.get("TRITONSERVER_BACKENDS", "/opt/tritonserver/backends"))
        return TritonInstallation(Path(explicit), backends, source="TRITONSERVER_BIN")
    system = shutil.which("tritonserver")
    if system and Path("/opt/tritonserver/backends").is_dir():
        return TritonInstallation(Path(system), Path("/opt/tritonserver/backends"), source="system")
    bundle = _bundled_tritonserver_dir()
    if bundle is not None:
        return _prepare_bundled(bundle, cache_dir)
    raise TritonLaunchError(
        "no tritonserver found: install the 'server' extra (pip install 'nvidia-pytriton==0.7.0'), "
        "put tritonserver on PATH with /opt/tritonserver/backends, or set TRITONSERVER_BIN"
    )


LOWEST_PORT = 10_000
EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def free_port() -> int:
    """A TCP port free right now on 127.0.0.1, below the kernel's ephemeral range: a port the kernel
    hands out (bind to 0) is one any outgoing connection may take before the server binds it (CI saw
    tritonserver's gRPC port taken 25 s after it was chosen). A small race with other choosers
    remains; start() retries on it."""
    ephemeral_low = ephemeral_port_low()
    for _ in range(100):
        port = random.randrange(LOWEST_PORT, ephemeral_low)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {LOWEST_PORT}..{ephemeral_low - 1}")


def ephemeral_port_low() -> int:
    with contextlib.suppress(OSError, ValueError, IndexError):
        low = int(EPHEMERAL_RANGE.read_text().split()[0])
        if low > LOWEST_PORT + 1_000:
            return low
    return 32_768  # Linux's default range starts here


def environment_for_models(installation: TritonInstallation) -> dict[str, str]:
    """Environment that lets a stub's embedded interpreter import this venv's packages (see above)."""
    env = {"LC_ALL": "C.UTF-8"}  # adopted by serving/__init__.py inside the stubs (see there)
    if sys.prefix == sys.base_prefix:
        return env
    venv_bin = str(Path(sys.prefix) / "bin")
    env["PATH"] = os.pathsep.join([venv_bin, os.environ.get("PATH", "")])
    # The stub links libpython3.X.so.1.0 and the loader finds the system's (Debian's 3.11.2), while its
    # stdlib now comes from the venv's base Python (pyenv's 3.11.7 here), whose extension modules may
    # need that build's own libpython (``_ssl``: "undefined symbol"). Load the matching one first.
    libdir = sysconfig.get_config_var("LIBDIR")
    soname = sysconfig.get_config_var("INSTSONAME")
    if libdir and soname and (Path(libdir) / soname).is_file():
        current = installation.env.get("LD_LIBRARY_PATH", os.environ.get("LD_LIBRARY_PATH", ""))
        env["LD_LIBRARY_PATH"] = os.pathsep.join(p for p in (libdir, current) if p)
    return env


class TritonServer:
    """One tritonserver process. Use as a context manager, or call :meth:`start` and :meth:`stop`.

    ``start`` returns once the server and every requested model answer ready over gRPC, or raises
    :class:`TritonLaunchError` with the tail of the server log.
    """

    def __init__(
        self,
        options: TritonServerOptions,
        installation: TritonInstallation | None = None,
        cache_dir: Path = DEFAULT_CACHE_DIR,
    ) -> None:
        self.options = options
        self._cache_dir = cache_dir
        self._installation = installation
        self._process: subprocess.Popen[bytes] | None = None
        self._ports = {
            "grpc": options.grpc_port,
            "http": options.http_port,
            "metrics": options.metrics_port,
        }
        stamp = f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{id(self) % 10_000}"
        self.run_dir = options.run_dir or cache_dir / "triton-runs" / stamp
        self.log_path = self.run_dir / "tritonserver.log"

    @property
    def grpc_port(self) -> int:
        return self._ports["grpc"]

    @property
    def grpc_url(self) -> str:
        return f"127.0.0.1:{self._ports['grpc']}"

    @property
    def http_port(self) -> int:
        return self._ports["http"]

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self._ports['metrics']}/metrics"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def __enter__(self) -> TritonServer:
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
        """Start the server (again, on the same ports, after :meth:`stop` or :meth:`kill`)."""
        if self.is_running():
            return
        repo = self.options.model_repository
        if not repo.is_dir():
            raise TritonLaunchError(f"model repository not found: {repo}")
        if self._installation is None:
            self._installation = locate_installation(self._cache_dir)
        backends = self._backend_dir(self._installation)
        picked = [name for name, port in self._ports.items() if port == 0]
        for attempt in range(1, attempts + 1):
            for name in picked:
                self._ports[name] = free_port()
            self._spawn(self._installation, backends)
            try:
                self._wait_ready()
                return
            except TritonLaunchError:
                port_clash = "address already in use" in self.log_tail().lower()
                self.stop()
                if not (port_clash and picked and attempt < attempts):
                    raise
                log.warning("triton port clash, retrying with new ports (attempt %d)", attempt)

    def stop(self) -> None:
        """SIGTERM, wait for Triton's own drain (``exit_timeout_s``), then SIGKILL the group."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=self.options.exit_timeout_s + 10)
        except subprocess.TimeoutExpired:
            log.warning("tritonserver did not exit after SIGTERM; killing it")
        # Whatever the server left behind in its process group goes too: a stub still shutting down
        # when the exit timeout ran out, and the processes it spawned (vLLM's engine core and workers,
        # 2-3 GB each) would otherwise live on as orphans.
        self._kill_group(process)

    def kill(self) -> None:
        """Kill the server and its model stubs at once, as a crash would (for fault injection)."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            self._kill_group(process)

    def current_log(self) -> str:
        """The server log since the latest start (a run directory's log collects every start)."""
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return text[text.rfind(START_MARKER) :]

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.current_log().splitlines()[-lines:]) or "(no server log)"

    def load_failures(self) -> list[str]:
        """Triton's one-line reasons for each model that failed to load in the current run."""
        text = self.current_log()
        return [
            line[line.index('"failed to load') :][:600]
            for line in text.splitlines()
            if '"failed to load' in line
        ]

    def _launch_error(self, what: str) -> TritonLaunchError:
        failures = "\n".join(self.load_failures()) or self.log_tail()
        return TritonLaunchError(f"{what}; log {self.log_path}:\n{failures}")

    def _backend_dir(self, installation: TritonInstallation) -> Path:
        if not self.options.extra_backends:
            return installation.backends
        # Triton takes one backend directory: link the installed backends and ours side by side.
        backends = self.run_dir / "backends"
        backends.mkdir(parents=True, exist_ok=True)
        sources = {p.name: p for p in installation.backends.iterdir() if p.is_dir()}
        sources.update({name: Path(p).resolve() for name, p in self.options.extra_backends.items()})
        for name, source in sources.items():
            link = backends / name
            if not link.exists():
                link.symlink_to(source, target_is_directory=True)
        return backends

    def _command(self, installation: TritonInstallation, backends: Path) -> list[str]:
        opts = self.options
        command = [
            str(installation.binary),
            f"--model-repository={opts.model_repository.resolve()}",
            f"--backend-directory={backends}",
            "--grpc-address=127.0.0.1",
            f"--grpc-port={self._ports['grpc']}",
            "--http-address=127.0.0.1",
            f"--http-port={self._ports['http']}",
            f"--metrics-port={self._ports['metrics']}",
            f"--exit-timeout-secs={opts.exit_timeout_s}",
            f"--log-verbose={opts.log_verbose}",
            "--strict-readiness=true",
            # The orchestrator pings every 10 s (orchestrator/triton/connection.py); Triton's defaults
            # would answer an idle connection's pings with GOAWAY after two strikes.
            "--grpc-keepalive-permit-without-calls=1",
            "--grpc-http2-min-recv-ping-interval-without-data=5000",
            "--grpc-http2-max-ping-strikes=0",
        ]
        if opts.models is not None:
            command.append("--model-control-mode=explicit")
            command += [f"--load-model={name}" for name in opts.models]
        return command

    def _spawn(self, installation: TritonInstallation, backends: Path) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            **installation.env,
            **environment_for_models(installation),
            **self.options.env,
        }
        command = self._command(installation, backends)
        log.info("starting tritonserver (%s): %s", installation.source, " ".join(command))
        with self.log_path.open("ab") as log_file:
            log_file.write(
                f"{START_MARKER}{time.strftime('%H:%M:%S')} {' '.join(command)}\n".encode()
            )
            log_file.flush()
            # Own process group, so kill() also reaches the Python backend stubs.
            self._process = subprocess.Popen(
                command,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=self.options.cwd,
                start_new_session=True,
            )

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.options.startup_timeout_s
        models = self.options.models
        with grpcclient.InferenceServerClient(self.grpc_url) as client:
            while time.monotonic() < deadline:
                if self._process is None or self._process.poll() is not None:
                    code = self._process.returncode if self._process else None
                    raise self._launch_error(
                        f"tritonserver exited with code {code} during start-up"
                    )
                with contextlib.suppress(Exception):
                    if client.is_server_ready() and all(
                        client.is_model_ready(m) for m in (models or ())
                    ):
                        log.info("tritonserver ready on %s", self.grpc_url)
                        return
                time.sleep(0.2)
        raise self._launch_error(
            f"tritonserver not ready after {self.options.startup_timeout_s:.0f} s"
        )

    @staticmethod
    def _kill_group(process: subprocess.Popen[bytes]) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)  # the group outlives its leader; pgid = its pid
        process.wait(timeout=10)
