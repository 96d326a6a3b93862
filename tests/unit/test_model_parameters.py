import pytest

from serving.model_parameters import env_override_name, read_parameters

CONFIG = {
    "name": "silero_vad",
    "parameters": {"max_windows": {"string_value": "32"}},
}
DEFAULTS = {"max_windows": "64", "threads": "1", "model_path": ""}


def test_config_overrides_defaults() -> None:
    assert read_parameters(CONFIG, DEFAULTS, environ={}) == {
        "max_windows": "32",
        "threads": "1",
        "model_path": "",
    }


def test_environment_overrides_config() -> None:
    env = {"CC_MODEL_SILERO_VAD_MAX_WINDOWS": "8", "CC_MODEL_SILERO_VAD_THREADS": "2"}
    params = read_parameters(CONFIG, DEFAULTS, environ=env)
    assert params["max_windows"] == "8" and params["threads"] == "2"


def test_unknown_parameter_is_an_error() -> None:
    config = {"name": "m", "parameters": {"max_windos": {"string_value": "1"}}}
    with pytest.raises(ValueError, match="max_windos"):
        read_parameters(config, DEFAULTS, environ={})


def test_override_name() -> None:
    assert env_override_name("llm", "model-path") == "CC_MODEL_LLM_MODEL_PATH"
