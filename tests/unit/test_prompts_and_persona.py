from pathlib import Path

from orchestrator.chatml_prompt import build_chatml_prompt
from orchestrator.gemma_prompt import Turn
from orchestrator.settings import Settings, system_prompt


def test_chatml_prompt_maps_roles_and_opens_the_assistant_turn() -> None:
    prompt = build_chatml_prompt(
        "Be brief.",
        [Turn("model", "Hello!"), Turn("user", "When do you open?")],
    )
    assert prompt == (
        "<|im_start|>system\nBe brief.<|im_end|>\n"
        "<|im_start|>assistant\nHello!<|im_end|>\n"
        "<|im_start|>user\nWhen do you open?<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def test_no_system_block_without_a_system_prompt() -> None:
    assert build_chatml_prompt(" ", [Turn("user", "Hi")]).startswith("<|im_start|>user\n")


def test_a_persona_file_replaces_the_system_prompt(tmp_path: Path) -> None:
    persona = tmp_path / "persona.txt"
    persona.write_text("You are the host of Luigi's.\n")
    assert system_prompt(Settings(llm_system_prompt_file=str(persona))) == (
        "You are the host of Luigi's."
    )
    assert system_prompt(Settings(llm_system_prompt="Be brief.")) == "Be brief."
