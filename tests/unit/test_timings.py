"""Turn timings from monotonic marks."""

from __future__ import annotations

from orchestrator.conversation.timings import Stage, TurnMarks, TurnTimings


def test_every_stage_from_marks() -> None:
    marks = TurnMarks()
    for stage, at in [
        (Stage.CALLER_STOPPED, 1_000),
        (Stage.END_OF_TURN, 1_400),
        (Stage.STT_DONE, 1_520),
        (Stage.LLM_REQUESTED, 1_525),
        (Stage.LLM_FIRST_TOKEN, 1_700),
        (Stage.TTS_REQUESTED, 1_780),
        (Stage.TTS_FIRST_AUDIO, 1_900),
        (Stage.FIRST_BYTE_SENT, 1_905),
    ]:
        marks.mark(stage, at)
    assert marks.timings() == TurnTimings(
        endpointing_ms=400,
        stt_ms=120,
        llm_ttft_ms=175,
        tts_first_audio_ms=120,
        first_byte_ms=5,
        end_to_end_ms=905,
        reply_start_ms=5,
        llm_first_phrase_ms=80,
    )
    stages = marks.timings().as_dict()
    chain = [k for k in stages if k != "end_to_end_ms"]
    assert sum(stages[k] or 0.0 for k in chain) == stages["end_to_end_ms"]


def test_missing_stages_are_none_and_first_mark_wins() -> None:
    marks = TurnMarks()
    marks.mark(Stage.LLM_REQUESTED, 10.0)
    marks.mark(Stage.LLM_FIRST_TOKEN, 30.0)
    marks.mark(Stage.LLM_FIRST_TOKEN, 90.0)  # later tokens do not move the first one
    assert marks.timings().as_dict() == {
        "endpointing_ms": None,
        "stt_ms": None,
        "llm_ttft_ms": 20.0,
        "tts_first_audio_ms": None,
        "first_byte_ms": None,
        "end_to_end_ms": None,
        "reply_start_ms": None,
        "llm_first_phrase_ms": None,
    }
