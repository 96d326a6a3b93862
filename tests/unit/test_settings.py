"""Settings: the persona file."""

from __future__ import annotations

from pathlib import Path

from orchestrator.settings import Settings, system_prompt


def test_a_persona_file_replaces_the_system_prompt(tmp_path: Path) -> None:
    persona = tmp_path / "persona.txt"
    persona.write_text("You are the host of Luigi's.\n")
    assert system_prompt(Settings(llm_system_prompt_file=str(persona))) == (
        "You are the host of Luigi's."
    )
    assert system_prompt(Settings(llm_system_prompt="Be brief.")) == "Be brief."
