"""Read a Triton model's ``config.pbtxt`` parameters, with environment overrides and defaults.

Precedence: ``CC_MODEL_<MODEL>_<KEY>`` in the server's environment > ``parameters { key: ... }`` in
``config.pbtxt`` > the model's defaults. Profiles (CPU demo, GPU) are sets of such environment variables
passed to the launcher, so one repository and one ``model.py`` per model serve every profile.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any


def env_override_name(model_name: str, key: str) -> str:
    """``silero_vad``, ``max_windows`` -> ``CC_MODEL_SILERO_VAD_MAX_WINDOWS``."""
    return "CC_MODEL_" + re.sub(r"[^A-Za-z0-9]+", "_", f"{model_name}_{key}").upper()


def read_parameters(
    model_config: Mapping[str, Any],
    defaults: Mapping[str, str],
    environ: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Every key of ``defaults`` resolved to a string; unknown config keys are an error (typos)."""
    environ = os.environ if environ is None else environ
    name = str(model_config.get("name", ""))
    configured = {
        key: str(value.get("string_value", ""))
        for key, value in (model_config.get("parameters") or {}).items()
    }
    unknown = sorted(set(configured) - set(defaults))
    if unknown:
        raise ValueError(
            f"{name}: unknown config.pbtxt parameters {unknown}; known: {sorted(defaults)}"
        )
    resolved = {**defaults, **configured}
    for key in defaults:
        override = environ.get(env_override_name(name, key))
        if override is not None:
            resolved[key] = override
    return resolved
