"""Settings: the persona file, profile files, the LLM's end of turn."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.params import sampling_options
from orchestrator.settings import SETTINGS_FILE_VAR, Settings, get_settings, system_prompt
from serving.profiles import ORCHESTRATOR_ENV_FILES


def test_a_persona_file_replaces_the_system_prompt(tmp_path: Path) -> None:
    persona = tmp_path / "persona.txt"
    persona.write_text("You are the host of Luigi's.\n")
    assert system_prompt(Settings(llm_system_prompt_file=str(persona))) == (
        "You are the host of Luigi's."
    )
    assert system_prompt(Settings(llm_system_prompt="Be brief.")) == "Be brief."


def test_a_profile_file_sits_under_dotenv_and_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("CC_LLM_MAX_TOKENS=50\n")
    monkeypatch.setenv(SETTINGS_FILE_VAR, str(ORCHESTRATOR_ENV_FILES["cpu"]))
    monkeypatch.setenv("CC_LLM_TEMPERATURE", "0.5")
    get_settings.cache_clear()
    try:
        settings = get_settings()
    finally:
        get_settings.cache_clear()
    assert settings.llm_prompt_format == "chatml"  # from the profile
    assert settings.llm_stop == []
    assert settings.llm_stop_token_ids == [2, 1]
    assert settings.llm_max_tokens == 50  # .env over the profile
    assert settings.llm_temperature == 0.5  # the environment over both


def test_a_special_token_as_a_stop_string_is_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="llm_stop_token_ids"):
        Settings(llm_stop=["<end_of_turn>"])
    assert Settings(llm_stop=["\nCaller:"]).llm_stop == ["\nCaller:"]  # real text is fine


def test_answers_end_on_end_of_turn_tokens_not_on_stop_strings() -> None:
    # A stop string holds back its length - 1 characters of every streamed delta in vLLM; Gemma's and
    # SmolLM2's markers are special tokens, never in the text: they end the turn by id.
    gemma = json.loads(sampling_options(Settings(_env_file=None)).to_json())
    assert "stop" not in gemma
    assert gemma["stop_token_ids"] == [106, 105]  # Gemma 3's <end_of_turn>, <start_of_turn>
    cpu = json.loads(sampling_options(Settings(_env_file=ORCHESTRATOR_ENV_FILES["cpu"])).to_json())
    assert "stop" not in cpu
    assert cpu["stop_token_ids"] == [2, 1]  # SmolLM2's <|im_end|>, <|im_start|>
