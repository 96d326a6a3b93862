"""Turn timings from monotonic marks: the critical path adds up, with and without speculation."""

from __future__ import annotations

import pytest

from orchestrator.conversation.timings import Stage, TurnMarks, TurnTimings

CHAIN = (
    "endpointing_ms",
    "stt_ms",
    "reply_start_ms",
    "llm_ttft_ms",
    "llm_first_phrase_ms",
    "tts_first_audio_ms",
    "held_ms",
    "first_byte_ms",
)


def marks_at(*stages: tuple[Stage, float]) -> TurnMarks:
    marks = TurnMarks()
    for stage, at in stages:
        marks.mark(stage, at)
    return marks


def test_turn_confirmed_before_the_reply_started() -> None:
    """The transcript came back after the end-of-turn silence: nothing held."""
    timings = marks_at(
        (Stage.CALLER_STOPPED, 1_000),
        (Stage.STT_REQUESTED, 1_200),
        (Stage.STT_DONE, 1_520),
        (Stage.END_OF_TURN, 1_520),
        (Stage.LLM_REQUESTED, 1_525),
        (Stage.LLM_FIRST_TOKEN, 1_700),
        (Stage.TTS_REQUESTED, 1_780),
        (Stage.TTS_FIRST_AUDIO, 1_900),
        (Stage.FIRST_BYTE_SENT, 1_905),
    ).timings()
    assert timings == TurnTimings(
        endpointing_ms=200,
        stt_ms=320,
        reply_start_ms=5,
        llm_ttft_ms=175,
        llm_first_phrase_ms=80,
        tts_first_audio_ms=120,
        held_ms=0,
        first_byte_ms=5,
        end_to_end_ms=905,
        end_of_turn_ms=520,
        speculation_ms=320,  # the STT ran inside the silence
    )
    stages = timings.as_dict()
    assert sum(stages[k] or 0.0 for k in CHAIN) == stages["end_to_end_ms"]


def test_speculative_reply_held_until_the_turn_is_over() -> None:
    """Mid-thought words: the reply's audio was ready 500 ms before the long silence ended."""
    timings = marks_at(
        (Stage.CALLER_STOPPED, 1_000),
        (Stage.STT_REQUESTED, 1_200),
        (Stage.STT_DONE, 1_300),
        (Stage.LLM_REQUESTED, 1_301),
        (Stage.LLM_FIRST_TOKEN, 1_350),
        (Stage.TTS_REQUESTED, 1_400),
        (Stage.TTS_FIRST_AUDIO, 1_500),
        (Stage.END_OF_TURN, 2_000),
        (Stage.FIRST_BYTE_SENT, 2_002),
    ).timings()
    assert timings.held_ms == 500 and timings.first_byte_ms == 2
    assert timings.end_of_turn_ms == 1_000 and timings.speculation_ms == 300
    stages = timings.as_dict()
    assert sum(stages[k] or 0.0 for k in CHAIN) == pytest.approx(stages["end_to_end_ms"])


def test_missing_stages_are_none_and_first_mark_wins() -> None:
    marks = marks_at((Stage.LLM_REQUESTED, 10.0), (Stage.LLM_FIRST_TOKEN, 30.0))
    marks.mark(Stage.LLM_FIRST_TOKEN, 90.0)  # later tokens do not move the first one
    stages = marks.timings().as_dict()
    assert stages["llm_ttft_ms"] == 20.0
    assert all(v is None for k, v in stages.items() if k != "llm_ttft_ms")
