"""A real tritonserver for fault-injection tests: the real ``silero_vad`` and ``stt`` (CPU profile)
beside the test-only ``llm`` and ``tts`` of tests/integration/fault_models/, whose faults are switched
at run time through a control file. Starts in seconds (no LLM to load), and tests may kill it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from serving.launcher import TritonServer
from serving.paths import MODEL_REPOSITORY
from serving.profiles import build_profile, server_options

FAULT_MODELS = Path(__file__).parent / "fault_models"
MODELS = ["silero_vad", "stt", "llm", "tts"]


class FaultTriton:
    def __init__(self, workdir: Path, cache_dir: Path) -> None:
        repo = workdir / "model_repository"
        ignore = shutil.ignore_patterns("__pycache__")
        for real in ("silero_vad", "stt"):
            shutil.copytree(MODEL_REPOSITORY / real, repo / real, ignore=ignore)
        for fake in ("llm", "tts"):
            shutil.copytree(FAULT_MODELS / fake, repo / fake, ignore=ignore)
        shutil.copy2(FAULT_MODELS / "control.py", repo / "control.py")
        self.control_path = workdir / "faults.json"
        self.set_faults()
        profile = build_profile("cpu", cache_dir)
        profile.env["CC_FAULT_CONTROL"] = str(self.control_path)
        options = server_options(
            profile, repo, models=MODELS, run_dir=workdir / "run", exit_timeout_s=2
        )
        self.server = TritonServer(options, cache_dir=cache_dir)

    def set_faults(self, **faults: Any) -> None:
        """E.g. ``tts="raise_after:1"``, ``llm_first_token_delay_s=3``; no arguments: no faults."""
        self.control_path.write_text(json.dumps(faults))

    def server_log(self) -> str:
        return self.server.log_path.read_text(errors="replace")
