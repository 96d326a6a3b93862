"""The launcher leaves nothing behind: processes a model spawned die with the server."""

from __future__ import annotations

import os
import time
from pathlib import Path

from serving.launcher import TritonServer, TritonServerOptions

SPAWNING_MODEL = """
import subprocess
import triton_python_backend_utils as pb_utils

class TritonPythonModel:
    def initialize(self, args):
        # Like vLLM's engine core: a child process that would outlive a hurried shutdown.
        child = subprocess.Popen(["sleep", "600"])
        with open("{pid_file}", "w") as f:
            f.write(str(child.pid))

    def execute(self, requests):
        return []
"""
CONFIG = """
name: "spawner"
backend: "python"
max_batch_size: 0
input [ { name: "x" data_type: TYPE_FP32 dims: [ 1 ] } ]
output [ { name: "y" data_type: TYPE_FP32 dims: [ 1 ] } ]
instance_group [ { kind: KIND_CPU, count: 1 } ]
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead but not yet reaped (its parent, the stub, is gone; init reaps it).
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "zombie" not in status.read_text()


def test_processes_spawned_by_a_model_die_with_the_server(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    model = tmp_path / "repo" / "spawner"
    (model / "1").mkdir(parents=True)
    (model / "config.pbtxt").write_text(CONFIG)
    (model / "1" / "model.py").write_text(SPAWNING_MODEL.format(pid_file=pid_file))

    server = TritonServer(
        TritonServerOptions(model_repository=tmp_path / "repo", run_dir=tmp_path / "run")
    )
    server.start()
    child = int(pid_file.read_text())
    assert alive(child)
    server.stop()
    deadline = time.monotonic() + 5
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(child), "a process the model spawned outlived the server"
