"""The answer guard: whole sentences, at most ``max_sentences``, never a clause said twice, and an
end that sounds like one."""

from __future__ import annotations

import pytest

from orchestrator.conversation.answer_guard import AnswerGuard, AnswerGuardParams


def spoken(chunks: list[str], params: AnswerGuardParams, cut_by_length: bool = False) -> str:
    """What the caller hears of an answer arriving in ``chunks`` (the last one is the flush)."""
    guard = AnswerGuard(params)
    for index, chunk in enumerate(chunks):
        last = index == len(chunks) - 1
        taken = guard.take_last(chunk, cut_by_length) if last else guard.take(chunk)
        if taken.done:
            break
    return guard.spoken


@pytest.mark.parametrize(
    ("chunks", "params", "cut", "heard"),
    [
        (["We open at nine,", "and close at ten."], AnswerGuardParams(), False,
         "We open at nine, and close at ten."),
        (["I'm a food delivery service.", "I'm a food delivery service.", "I'm a"],
         AnswerGuardParams(), False, "I'm a food delivery service."),
        (["I'm sorry, I'm sorry, I'm sorry,", "I'm sorry."], AnswerGuardParams(), False,
         "I'm sorry,"),
        (["Yes.", "Yes."], AnswerGuardParams(), False, "Yes. Yes."),  # one word: not a loop
        (["Sure.", "We open at nine. We close at ten. Bring friends."],
         AnswerGuardParams(max_sentences=2), False, "Sure. We open at nine."),
        (["We open at nine.", "We close at"], AnswerGuardParams(), True, "We open at nine."),
        (["We open at nine.", "We close at ten"], AnswerGuardParams(), False,
         "We open at nine. We close at ten."),  # ended by the LLM: a full stop added
        (["My address is:"], AnswerGuardParams(), False, "My address is."),
        (["We open at"], AnswerGuardParams(), True, "We open at."),  # never an empty answer
        (["Hello there! How can I help?"], AnswerGuardParams(max_sentences=1), False,
         "Hello there!"),
    ],
)  # fmt: skip
def test_what_the_caller_hears(
    chunks: list[str], params: AnswerGuardParams, cut: bool, heard: str
) -> None:
    assert spoken(chunks, params, cut) == heard


def test_the_guard_says_why_it_ended_the_answer() -> None:
    guard = AnswerGuard(AnswerGuardParams(max_sentences=1))
    assert guard.take("Hi. There.").done and guard.stopped_by == "sentences"
    looping = AnswerGuard()
    assert not looping.take("Book a table,").done
    assert looping.take("book a table.").done and looping.stopped_by == "repeat"
