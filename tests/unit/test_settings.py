"""Settings: the persona file."""

from __future__ import annotations

from pathlib import Path

import pytest

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
    assert settings.llm_stop == ["<|im_end|>", "<|im_start|>"]
    assert settings.llm_max_tokens == 50  # .env over the profile
    assert settings.llm_temperature == 0.5  # the environment over both
