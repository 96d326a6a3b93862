"""serving/weights.py: which Hub repositories the model repository loads (what the entrypoint fetches)."""

from __future__ import annotations

import json
from pathlib import Path

from serving.weights import (
    FASTER_WHISPER_SIZES,
    WeightSource,
    _marker,
    config_parameters,
    discover,
    fetch,
)

ROOT = Path(__file__).resolve().parents[2]


def make_repository(tmp_path: Path) -> Path:
    (tmp_path / "llm" / "1").mkdir(parents=True)
    (tmp_path / "llm" / "1" / "model.json").write_text(
        json.dumps({"model": "org/llm-int4", "tokenizer": "/abs/tokenizer", "dtype": "bfloat16"})
    )
    (tmp_path / "stt").mkdir()
    (tmp_path / "stt" / "config.pbtxt").write_text(
        'name: "stt"\nparameters [\n'
        '  { key: "model", value: { string_value: "distil-large-v3" } },  # a size name\n'
        '  { key: "compute_type", value: { string_value: "float16" } }\n]\n'
    )
    (tmp_path / "tts").mkdir()
    (tmp_path / "tts" / "config.pbtxt").write_text(
        'parameters [ { key: "model", value: { string_value: "sesame/csm-1b" } },\n'
        '  { key: "piper_voice", value: { string_value: "./voices/x.onnx" } },\n'
        '  { key: "device", value: { string_value: "cuda/0" } } ]\n'
    )
    return tmp_path


def test_discovers_model_json_config_parameters_and_whisper_sizes(tmp_path: Path) -> None:
    sources = discover(make_repository(tmp_path), environ={})
    assert [s.repo_id for s in sources] == [
        "org/llm-int4",
        FASTER_WHISPER_SIZES["distil-large-v3"],
        "sesame/csm-1b",
    ]
    assert [s.gated for s in sources] == [False, False, True]
    assert sources[0].origin == "llm/1/model.json: model"


def test_env_overrides_and_extras_apply_as_in_the_models(tmp_path: Path) -> None:
    environ = {"CC_MODEL_TTS_MODEL": "other/tts", "CC_WEIGHTS_EXTRA": "a/b, c/d"}
    repos = [s.repo_id for s in discover(make_repository(tmp_path), environ)]
    assert "other/tts" in repos and "sesame/csm-1b" not in repos
    assert repos[-2:] == ["a/b", "c/d"]


def test_config_parameters_ignore_comments() -> None:
    text = '# { key: "model", value: { string_value: "x/y" } }\n'
    text += '{ key: "model", value: { string_value: "a/b" } }  # { key: "k", ...\n'
    assert config_parameters(text) == {"model": "a/b"}


def test_the_real_repository_needs_the_llm_stt_and_tts_weights() -> None:
    sources = {s.origin.split("/")[0]: s for s in discover(ROOT / "model_repository", environ={})}
    llm = json.loads((ROOT / "model_repository" / "llm" / "1" / "model.json").read_text())
    assert sources["llm"].repo_id == llm["model"]
    assert {"llm", "stt", "tts"} <= sources.keys()


def test_fetch_is_skipped_once_complete(tmp_path: Path) -> None:
    sources = [WeightSource("org/x", "test")]
    # A completed fetch leaves a marker named after the list; with it, fetch() never calls the Hub
    # (which this machine cannot reach: without the marker this would fail).
    _marker(tmp_path, sources).write_text("org/x\n")
    assert fetch(sources, tmp_path) == 0
    assert _marker(tmp_path, [WeightSource("org/y", "test")]) != _marker(tmp_path, sources)
