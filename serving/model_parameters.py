"""A Python-backend model's options: its options dataclass, filled from config.pbtxt and the environment.

The dataclass is the one list of a model's parameters and their defaults. Each field resolves from
(highest first) ``CC_MODEL_<MODEL>_<KEY>`` in the server's environment, ``parameters { key: ... }`` in
``config.pbtxt``, the field's default. Profiles (CPU demo, GPU) are sets of such environment variables
passed to the launcher, so one repository and one ``model.py`` per model serve every profile.
"""

from __future__ import annotations

import dataclasses
import enum
import os
import re
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar


class _Dataclass(Protocol):  # what typeshed calls DataclassInstance
    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]


Options = TypeVar("Options", bound=_Dataclass)


def env_override_name(model_name: str, key: str) -> str:
    """``silero_vad``, ``max_windows`` -> ``CC_MODEL_SILERO_VAD_MAX_WINDOWS``."""
    return "CC_MODEL_" + re.sub(r"[^A-Za-z0-9]+", "_", f"{model_name}_{key}").upper()


def read_options(
    model_config: Mapping[str, Any],
    options_class: type[Options],
    environ: Mapping[str, str] | None = None,
) -> Options:
    """``options_class`` with every field resolved for the model ``model_config["name"]``.

    ``model_config`` is Triton's parsed config (``parameters`` maps keys to ``{"string_value": ...}``).
    Raises ValueError naming the model and key on an unknown config key (a typo would otherwise be
    ignored), a value that does not convert to the field's type, or a field without a default set nowhere.
    """
    environ = os.environ if environ is None else environ
    name = str(model_config.get("name", ""))
    fields = {f.name: f for f in dataclasses.fields(options_class) if f.init}
    configured = {
        key: str(value.get("string_value", ""))
        for key, value in (model_config.get("parameters") or {}).items()
    }
    unknown = sorted(set(configured) - set(fields))
    if unknown:
        raise ValueError(
            f"{name}: unknown config.pbtxt parameters {unknown}; "
            f"{options_class.__name__} knows {sorted(fields)}"
        )
    hints = typing.get_type_hints(options_class)
    values: dict[str, Any] = {}
    for key, field in fields.items():
        env_name = env_override_name(name, key)
        if env_name in environ:
            raw, source = environ[env_name], env_name
        elif key in configured:
            raw, source = configured[key], "config.pbtxt"
        elif _has_default(field):
            continue
        else:
            raise ValueError(
                f"{name}: parameter {key!r} has no default: set it in config.pbtxt or {env_name}"
            )
        try:
            values[key] = _convert(raw, hints[key])
        except ValueError as exc:
            raise ValueError(f"{name}: parameter {key}={raw!r} (from {source}): {exc}") from None
    return options_class(**values)


def _has_default(field: dataclasses.Field[Any]) -> bool:
    return (
        field.default is not dataclasses.MISSING or field.default_factory is not dataclasses.MISSING
    )


def _convert(raw: str, annotation: Any) -> Any:
    """``raw`` as ``annotation``: str, int, float, bool ("true"/"false"), a str Enum, Path, or
    ``X | None`` (empty string: None)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(members) != 1:
            raise TypeError(f"unsupported option type {annotation}")
        return None if raw == "" else _convert(raw, members[0])
    if annotation is bool:
        lowered = raw.strip().lower()
        if lowered not in ("true", "false"):
            raise ValueError("expected true or false")
        return lowered == "true"
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        try:
            return annotation(raw)
        except ValueError:
            raise ValueError(f"expected one of {[m.value for m in annotation]}") from None
    if annotation in (int, float):
        try:
            return annotation(raw)
        except ValueError:
            raise ValueError(f"expected {'an int' if annotation is int else 'a float'}") from None
    if annotation in (str, Path):
        return annotation(raw)
    raise TypeError(f"unsupported option type {annotation}")
