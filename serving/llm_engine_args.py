"""vLLM engine arguments of the ``llm`` model: ``1/model.json`` plus a profile's overrides.

``model.json`` is what NGC's vLLM backend reads (its keys go straight to ``AsyncEngineArgs``); it stays
the production configuration. A profile changes it through one environment variable,
``CC_MODEL_<MODEL>_ENGINE_ARGS`` (e.g. ``CC_MODEL_LLM_ENGINE_ARGS``): a JSON object merged over the file,
where ``null`` removes a key (e.g. ``"quantization": null`` on CPU). Only our CPU stand-in backend reads
that variable; the production backend ignores it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from serving.model_parameters import env_override_name

ENGINE_ARGS_FILE = "model.json"


def engine_args_env_name(model_name: str) -> str:
    """``llm`` -> ``CC_MODEL_LLM_ENGINE_ARGS``."""
    return env_override_name(model_name, "engine_args")


def load_model_json(version_dir: Path) -> dict[str, Any]:
    path = version_dir / ENGINE_ARGS_FILE
    value = json.loads(path.read_text())
    if not isinstance(value, dict):
        raise ValueError(f"{path} must hold a JSON object of engine arguments")
    return value


def apply_overrides(engine_args: Mapping[str, Any], overrides_json: str | None) -> dict[str, Any]:
    """``engine_args`` with the JSON object ``overrides_json`` merged over it (``null`` deletes)."""
    merged = dict(engine_args)
    if not overrides_json:
        return merged
    overrides = json.loads(overrides_json)
    if not isinstance(overrides, dict):
        raise ValueError("engine argument overrides must be a JSON object")
    for key, value in overrides.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def unknown_engine_args(engine_args: Iterable[str], known: Iterable[str]) -> list[str]:
    """Keys that ``AsyncEngineArgs`` would reject (a typo in model.json fails a GPU host's start)."""
    return sorted(set(engine_args) - set(known))
