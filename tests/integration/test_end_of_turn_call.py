"""A caller who stops mid-sentence, over a real WebSocket call and the real tritonserver (CPU profile).

"I wanted to ask" looks finished to the text rules; cut from the whole sentence, its voice is
mid-sentence, and the turn_detector model hears that. The caller pauses 500 ms there, twice the text
rules' short silence, then finishes the sentence.

There is no integration control "without the model the caller is cut off": whether the words alone
cut this caller depends on how Whisper punctuates the cut clip ("I wanted to ask." ends a turn after
250 ms, "I wanted to ask," waits 1000 ms) and on the transcript landing inside the pause, which
changed with each fresh Piper cache (it failed on two fresh clones, at 500 and 900 ms pauses). The
rule itself is unit-tested (tests/unit/test_turn_taking.py, test_end_of_turn_fusion.py), and the
contrast is measured: benchmarks.call_latency --set mid_sentence cut callers off in 10 of 12 pauses
without the model, 6 of 12 with it (README, "Hearing the end of a turn").
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from callsim.call_record import CallRecord
from callsim.harness import agent_turns, call, cpu_call_settings
from callsim.steps import SayWithPause
from callsim.voices import piper_available
from orchestrator.app import conversation_app
from serving.launcher import TritonServer

pytestmark = pytest.mark.skipif(not piper_available(), reason="needs the piper-voice extra")

SENTENCE = "I wanted to ask about the vegetarian dishes on your menu."


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


async def caller_turns(triton: TritonServer, recordings: Path, sid: str) -> CallRecord:
    settings = cpu_call_settings(
        triton.grpc_url,
        recordings,
        llm_max_tokens=16,
        turn_detector_enabled=True,
    )
    await call(
        conversation_app(settings),
        sid,
        [
            agent_turns(recordings, sid, 1),  # the greeting
            SayWithPause(SENTENCE, pause_after_words=4, pause_ms=500),
            agent_turns(recordings, sid, 2),
        ],
    )
    return CallRecord.load(recordings, sid)


async def test_a_caller_who_pauses_mid_sentence_is_not_answered_until_they_finish(
    triton: TritonServer, tmp_path: Path
) -> None:
    sid = "CA0000000000000000000000000000e0f1"
    record = await caller_turns(triton, tmp_path, sid)
    users = [e["text"] for e in record.of("user_turn")]
    assert [words(u) for u in users] == [words(SENTENCE)], record.transcript()
    heard = record.of("turn_end_heard")
    assert heard and all(h["probability"] is not None for h in heard), heard
    # The pause was heard as "more to come": the model's verdict on it is well below one half.
    assert min(h["probability"] for h in heard) < 0.5, heard
    assert not record.of("agent_turn")[1]["interrupted"], record.transcript()
