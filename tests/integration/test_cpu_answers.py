"""The CPU profile's answers, as a caller would hear them: the served LLM (SmolLM2-135M on vLLM's CPU
engine) with the profile's sampling settings (serving/cpu_orchestrator.env) and the restaurant
persona, through the same chunker and answer guard a call uses. Behaviour, not quality: no answer is
empty, none repeats a sentence or clause, every one ends at a sentence boundary."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator

import pytest

from orchestrator import params
from orchestrator.conversation.answer_guard import AnswerGuard
from orchestrator.conversation.phrase_chunker import PhraseChunker
from orchestrator.conversation.prompts import Role, Turn, build_prompt
from orchestrator.engine.spoken_answer import spoken_chunks
from orchestrator.settings import Settings, system_prompt
from orchestrator.triton.connection import connect
from orchestrator.triton.llm_client import LlmClient
from serving.launcher import TritonServer
from serving.paths import PROJECT_ROOT
from serving.profiles import ORCHESTRATOR_ENV_FILES

# The demo's questions (callsim/demo.py) and a dozen more a restaurant's callers ask.
QUESTIONS = [
    "Hi! What time do you open tomorrow?",
    "Could you tell me about your menu?",
    "Sorry to interrupt. Do you have vegetarian dishes?",
    "Great, thank you. Goodbye!",
    "I'd like to book a table for four people at seven thirty.",
    "My name is Dana, and it's for Saturday.",
    "Are you open on Mondays?",
    "Do you have gluten free pasta?",
    "How much is a pizza?",
    "Can I bring my dog?",
    "Is there parking nearby?",
    "Do you do takeaway?",
    "Can I change my booking to eight o'clock?",
    "My daughter is allergic to nuts. Is that a problem?",
    "What's your address?",
    "Do you take credit cards?",
]
SENTENCE_END = re.compile(r"[.!?][\"')\]]*$")


def clauses(text: str) -> list[tuple[str, ...]]:
    parts = re.split(r"[.!?;:,]+", text.lower())
    return [w for w in (tuple(re.findall(r"[a-z0-9']+", p)) for p in parts) if len(w) >= 2]


@pytest.fixture
async def llm(triton: TritonServer) -> AsyncIterator[LlmClient]:
    client = connect(triton.grpc_url)
    yield LlmClient(client, first_token_timeout_s=30.0)
    await client.close()


async def test_answers_are_whole_sentences_without_repeats(llm: LlmClient) -> None:
    # The profile's settings as deployed (not the harness's greedy ones), seeded per question.
    settings = Settings(
        _env_file=ORCHESTRATOR_ENV_FILES["cpu"],
        llm_system_prompt_file=str(PROJECT_ROOT / "personas" / "restaurant_host.txt"),
    )
    sampling = params.sampling_options(settings)
    answers: dict[str, str] = {}
    for seed, question in enumerate(QUESTIONS):
        prompt = build_prompt(
            settings.llm_prompt_format, system_prompt(settings), [Turn(Role.USER, question)]
        )
        deltas = llm.stream(prompt, dataclasses.replace(sampling, seed=seed))
        guard = AnswerGuard(params.answer_guard_params(settings))
        chunker = PhraseChunker(params.chunker_params(settings))
        spoken = [c.text async for c in spoken_chunks(deltas, chunker, guard)]
        await deltas.aclose()
        answers[question] = " ".join(spoken)

    report = "\n".join(f"{q!r} -> {a!r}" for q, a in answers.items())
    print(report)
    for question, answer in answers.items():
        assert answer.strip(), f"empty answer to {question!r}\n{report}"
        said = clauses(answer)
        assert len(said) == len(set(said)), f"a repeat in {answer!r}\n{report}"
        assert SENTENCE_END.search(answer), f"{answer!r} ends mid-sentence\n{report}"
