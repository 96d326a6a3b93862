from orchestrator.chatml_prompt import build_chatml_prompt
from orchestrator.gemma_prompt import Turn


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
