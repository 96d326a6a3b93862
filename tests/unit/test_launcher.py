"""Launcher behaviour that needs no running server (the integration tests cover the rest)."""

import os
import socket
import sys
from pathlib import Path

import pytest

from serving import launcher
from serving.launcher import (
    TritonInstallation,
    TritonLaunchError,
    TritonServer,
    TritonServerOptions,
    environment_for_models,
    locate_installation,
)


def test_missing_model_repository_is_a_clear_error(tmp_path: Path) -> None:
    server = TritonServer(
        TritonServerOptions(model_repository=tmp_path / "nope"), cache_dir=tmp_path
    )
    with pytest.raises(TritonLaunchError, match="model repository not found"):
        server.start()


def test_missing_binary_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "repo").mkdir()
    installation = TritonInstallation(binary=tmp_path / "no-tritonserver", backends=tmp_path)
    server = TritonServer(
        TritonServerOptions(model_repository=tmp_path / "repo"), installation, cache_dir=tmp_path
    )
    with pytest.raises(FileNotFoundError):
        server.start()


def test_explicit_binary_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TRITONSERVER_BIN", "/opt/custom/tritonserver")
    monkeypatch.setenv("TRITONSERVER_BACKENDS", "/opt/custom/backends")
    found = locate_installation(tmp_path)
    assert found.binary == Path("/opt/custom/tritonserver")
    assert found.backends == Path("/opt/custom/backends")


def test_bundled_installation_has_the_python_stub(tmp_path: Path) -> None:
    found = locate_installation(tmp_path)
    assert found.source == "nvidia-pytriton"
    assert (found.backends / "python" / "triton_python_backend_stub").exists()
    assert "nvidia_pytriton.libs" in found.env["LD_LIBRARY_PATH"]


def test_models_find_this_venv_first_on_path(tmp_path: Path) -> None:
    env = environment_for_models(locate_installation(tmp_path))
    path = env["PATH"].split(os.pathsep)
    assert Path(path[0]) == Path(sys.prefix) / "bin"
    assert (Path(path[0]).parent / "pyvenv.cfg").exists()


def test_free_ports_are_below_the_ephemeral_range_and_bindable() -> None:
    # An outgoing connection takes a port from the ephemeral range: one chosen there can be gone
    # before the server binds it.
    low = launcher.ephemeral_port_low()
    for _ in range(20):
        port = launcher.free_port()
        assert launcher.LOWEST_PORT <= port < low
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", port))
