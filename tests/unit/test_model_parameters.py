"""serving/model_parameters.py: options dataclasses filled from config.pbtxt and CC_MODEL_* overrides,
and the committed config.pbtxt files resolving to the production options."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import pytest

from serving.model_parameters import env_override_name, read_options
from serving.paths import MODEL_REPOSITORY
from serving.stt_engine import SttOptions
from serving.tts.contract import TtsEngineKind, TtsOptions
from serving.turn_detector_engine import TurnDetectorOptions
from serving.vad_engine import VadOptions
from serving.weights import _WEIGHT_KEYS, config_parameters


class Colour(StrEnum):
    RED = "red"
    BLUE = "blue"


@dataclass(frozen=True)
class Options:
    label: str
    count: int = 1
    ratio: float = 0.5
    enabled: bool = False
    colour: Colour = Colour.RED
    path: Path | None = None


def config(model: str, /, **parameters: str) -> dict[str, Any]:
    """Triton's parsed model config, as model.py gets it."""
    return {"name": model, "parameters": {k: {"string_value": v} for k, v in parameters.items()}}


def test_defaults_then_config_then_environment() -> None:
    cfg = config("m", label="a", count="3")
    assert read_options(cfg, Options, environ={}) == Options("a", count=3)
    env = {"CC_MODEL_M_COUNT": "7", "CC_MODEL_M_RATIO": "0.25", "CC_MODEL_OTHER_ENABLED": "true"}
    assert read_options(cfg, Options, environ=env) == Options("a", count=7, ratio=0.25)


def test_environment_overrides_config() -> None:
    env = {"CC_MODEL_SILERO_VAD_MAX_WINDOWS": "8", "CC_MODEL_SILERO_VAD_THREADS": "2"}
    vad = config("silero_vad", max_windows="32")
    assert read_options(vad, VadOptions, environ=env) == VadOptions(max_windows=8, threads=2)
    assert read_options(vad, VadOptions, environ={}) == VadOptions(max_windows=32)


def test_values_convert_to_the_field_types() -> None:
    cfg = config("m", label="a", enabled="True", colour="blue", path="/x/y.onnx", ratio="1e-2")
    assert read_options(cfg, Options, environ={}) == Options(
        "a", ratio=0.01, enabled=True, colour=Colour.BLUE, path=Path("/x/y.onnx")
    )
    assert read_options(config("m", label="a", path=""), Options, environ={}).path is None
    env = {"CC_MODEL_M_ENABLED": "false"}
    assert read_options(config("m", label="a", enabled="true"), Options, env).enabled is False


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("count", "four", r"m: parameter count='four' \(from config.pbtxt\): expected an int"),
        ("ratio", "", "m: parameter ratio=''.*expected a float"),
        ("enabled", "yes", "m: parameter enabled='yes'.*expected true or false"),
        ("colour", "green", r"m: parameter colour='green'.*\['red', 'blue'\]"),
    ],
)
def test_a_bad_value_names_the_model_key_and_source(key: str, value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        read_options(config("m", label="a", **{key: value}), Options, environ={})


def test_a_bad_override_names_the_variable() -> None:
    with pytest.raises(ValueError, match=r"stt: parameter num_workers='x' \(from CC_MODEL_STT_NUM"):
        read_options(config("stt", model="m"), SttOptions, {"CC_MODEL_STT_NUM_WORKERS": "x"})


def test_unknown_parameter_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"silero_vad: unknown config.pbtxt parameters \['max_w"):
        read_options(config("silero_vad", max_windos="1"), VadOptions, environ={})


def test_a_field_without_default_must_be_set_somewhere() -> None:
    with pytest.raises(
        ValueError, match=r"stt: parameter 'model' has no default.*CC_MODEL_STT_MODEL"
    ):
        read_options(config("stt"), SttOptions, environ={})
    env = {"CC_MODEL_STT_MODEL": "tiny.en"}
    assert read_options(config("stt"), SttOptions, environ=env).model == "tiny.en"


def test_override_name() -> None:
    assert env_override_name("llm", "model-path") == "CC_MODEL_LLM_MODEL_PATH"
    assert env_override_name("silero_vad", "max_windows") == "CC_MODEL_SILERO_VAD_MAX_WINDOWS"


# --- the committed model repository ----------------------------------------------------------------

OPTIONS_CLASSES: dict[str, type[Any]] = {
    "silero_vad": VadOptions,
    "stt": SttOptions,
    "tts": TtsOptions,
    "turn_detector": TurnDetectorOptions,
}

# What each Python-backend model ran with before its options dataclass became the one source of
# defaults (config.pbtxt's parameters over model.py's DEFAULTS), written out field by field.
PRODUCTION = {
    "silero_vad": VadOptions(model_path=None, max_windows=64, threads=1),
    "stt": SttOptions(
        model="distil-large-v3",
        device="cuda",
        compute_type="float16",
        beam_size=1,
        batch_size=0,
        cpu_threads=0,
        num_workers=4,
        word_timestamps=True,
        max_audio_s=30.0,
        max_prompt_chars=500,
    ),
    "tts": TtsOptions(
        model="sesame/csm-1b",
        engine=TtsEngineKind.CSM,
        device="cuda",
        dtype="bfloat16",
        piper_voice="",
        max_text_chars=600,
        max_context_turns=4,
        max_context_s=30.0,
        first_chunk_frames=2,
        chunk_frames=10,
        max_sentence_s=15.0,
        codec_context_frames=8,
        temperature=0.9,
        max_concurrent=16,
        cuda_graphs=True,
        context_cache_turns=64,
    ),
    "turn_detector": TurnDetectorOptions(
        onnx_path="pipecat-ai:pipecat/audio/turn/smart_turn/data/smart-turn-v3.2-cpu.onnx",
        intra_op_threads=1,
        num_workers=2,
    ),
}


def committed_config(model: str) -> dict[str, Any]:
    text = (MODEL_REPOSITORY / model / "config.pbtxt").read_text()
    return config(model, **config_parameters(text))


def test_every_python_backend_model_has_an_options_class() -> None:
    python_models = {
        p.parent.name
        for p in MODEL_REPOSITORY.glob("*/config.pbtxt")
        if 'backend: "python"' in p.read_text()
    }
    assert python_models == OPTIONS_CLASSES.keys()


@pytest.mark.parametrize("model", sorted(OPTIONS_CLASSES))
def test_config_pbtxt_parameters_are_fields_of_the_options_class(model: str) -> None:
    fields = {f.name for f in dataclasses.fields(OPTIONS_CLASSES[model])}
    assert set(committed_config(model)["parameters"]) <= fields


@pytest.mark.parametrize("model", sorted(OPTIONS_CLASSES))
def test_config_pbtxt_resolves_to_the_production_options(model: str) -> None:
    assert (
        read_options(committed_config(model), OPTIONS_CLASSES[model], environ={})
        == (PRODUCTION[model])
    )


@pytest.mark.parametrize("model", sorted(OPTIONS_CLASSES))
def test_config_pbtxt_sets_only_what_differs_from_the_defaults(model: str) -> None:
    """A value equal to the dataclass default would be a second place to change it."""
    options_class = OPTIONS_CLASSES[model]
    defaults = {
        f.name: f.default
        for f in dataclasses.fields(options_class)
        if f.default is not dataclasses.MISSING
    }
    for key in committed_config(model)["parameters"]:
        resolved = getattr(PRODUCTION[model], key)
        assert key not in defaults or defaults[key] != resolved, f"{model}: {key}"


@pytest.mark.parametrize("model", sorted(OPTIONS_CLASSES))
def test_weights_parameters_have_no_default(model: str) -> None:
    """serving/weights.py finds the Hub repositories to fetch in config.pbtxt, so none may hide in a
    default."""
    for field in dataclasses.fields(OPTIONS_CLASSES[model]):
        if _WEIGHT_KEYS.match(field.name):
            assert field.default is dataclasses.MISSING, f"{model}: {field.name}"
            assert field.name in committed_config(model)["parameters"]
