"""Whole phone calls: a simulated Twilio caller <-> the orchestrator <-> the real tritonserver (CPU profile).

The caller side speaks Twilio's Media Streams protocol over a real WebSocket at real time, echoes marks as
audio plays and honours ``clear``; the orchestrator runs the conversation engine over real gRPC streams to
every model (VAD, STT, LLM, TTS). Assertions read the call's JSONL event log and Triton's server log.
"""

from __future__ import annotations

import re
import wave
from pathlib import Path

import pytest
from call_checks import wait_for
from model_metrics import ended

from callsim.call_record import CallRecord
from callsim.harness import agent_turns, call, cpu_call_settings, dialled, logged
from callsim.steps import Cough, Say, Silence, WaitForAgent, run_steps
from callsim.twilio_phone import RATE
from orchestrator.app import conversation_app
from orchestrator.conversation.heard_text import SpokenChunk, heard_at
from serving.launcher import TritonServer


def server_cancelled(triton: TritonServer) -> float:
    """Requests the LLM and TTS models ended as cancelled, from their metrics."""
    return sum(ended(triton.metrics_url, model, "cancelled") for model in ("llm", "tts"))


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


@pytest.fixture
def recordings(tmp_path: Path) -> Path:
    return tmp_path / "recordings"


async def test_a_multi_turn_call(triton: TritonServer, recordings: Path) -> None:
    settings = cpu_call_settings(triton.grpc_url, recordings, llm_max_tokens=32)
    sid = "CA000000000000000000000000000000a1"
    await call(
        conversation_app(settings),
        sid,
        [
            agent_turns(recordings, sid, 1),  # the greeting
            Say("What time do you open tomorrow?"),
            agent_turns(recordings, sid, 2),
            Say("Do you have a table for two tonight?"),
            agent_turns(recordings, sid, 3),
        ],
    )
    record = CallRecord.load(recordings, sid)
    users = [e["text"] for e in record.of("user_turn")]
    assert [words(u) for u in users] == [
        words("What time do you open tomorrow?"),
        words("Do you have a table for two tonight?"),
    ], users
    agent = record.of("agent_turn")
    assert agent[0]["text"] == settings.greeting_text and agent[0]["complete"]
    replies = agent[1:]
    assert len(replies) == 2, record.transcript()
    assert all(r["text"] and r["complete"] and not r["interrupted"] for r in replies), replies
    timings = record.of("turn_timings")
    assert len(timings) == 2
    for timing in timings:
        for stage in ("endpointing_ms", "stt_ms", "llm_ttft_ms", "tts_first_audio_ms"):
            assert timing[stage] >= 0, timing
        assert timing["end_to_end_ms"] >= timing["endpointing_ms"]
    assert record.wav is not None
    with wave.open(str(record.wav)) as wav:
        assert wav.getnchannels() == 2 and wav.getframerate() == RATE and wav.getnframes() > 0


async def test_barge_in_keeps_only_what_the_caller_heard(
    triton: TritonServer, recordings: Path
) -> None:
    # A reply long enough that its generation is still running when the barge-in cancels it.
    settings = cpu_call_settings(
        triton.grpc_url,
        recordings,
        llm_max_tokens=800,
        llm_min_tokens=600,  # past the model's own end of turn: still generating at the barge-in
    )
    sid = "CA000000000000000000000000000000b2"
    cancelled_before = server_cancelled(triton)
    app = conversation_app(settings)
    async with dialled(app, sid) as phone:
        await run_steps(
            phone,
            [agent_turns(recordings, sid, 1), Say("Please tell me a long story about a dragon.")],
        )
        before_reply_ms = phone.log.played_ms()
        await run_steps(phone, [WaitForAgent(after_ms=2500)])
        await run_steps(
            phone,
            [
                Say("Sorry, stop. What are your opening hours?"),
                logged(recordings, sid, "user_turn", 2),
                WaitForAgent(),  # the answer to the interruption starts (it needn't finish)
            ],
        )

    assert phone.log.clears, "the barge-in sent no clear"
    # The phone's log keeps what played before the clear, cut where the clear cut it.
    cleared_at = phone.log.clears[0]
    played_before_clear = sum(len(p.payload) for p in phone.log.played if p.start < cleared_at)
    reply_played_ms = played_before_clear * 1000.0 / RATE - before_reply_ms
    record = CallRecord.load(recordings, sid)
    replies = record.of("agent_turn")
    assert replies[1]["interrupted"], record.transcript()  # [0] is the greeting
    reply_id = replies[1]["reply_id"]
    interrupted = [replies[1]]

    # What the client played, in words: the chunks' texts over their audio, as the phone heard it.
    chunks = [
        SpokenChunk(c["text"], c["audio_ms"]) for c in record.of("tts_chunk", reply_id=reply_id)
    ]
    played = words(heard_at(chunks, reply_played_ms).text)
    stored = words(interrupted[0]["text"])
    assert stored, "nothing stored although the caller heard part of the reply"
    assert abs(len(stored) - len(played)) <= 1, (stored, played)
    shorter = min(len(stored), len(played))
    assert stored[:shorter] == played[:shorter]

    # The interrupting words became the next user turn, and the agent answered them.
    assert "opening" in words(record.of("user_turn")[-1]["text"])
    assert any(t["reply_id"] > reply_id for t in record.of("turn_timings")), record.events

    # Client side: the reply's LLM stream ended with gRPC status CANCELLED while it was generating.
    labels = {"model": "llm", "outcome": "cancelled"}
    assert app.state.metrics.registry.get_sample_value("cc_model_requests_total", labels) >= 1
    # Server side: the reply's LLM generation or TTS request was cancelled, not run to its end.
    await wait_for(lambda: server_cancelled(triton) > cancelled_before, 30)


async def test_a_long_answer_is_committed_only_once_it_has_played(
    triton: TritonServer, recordings: Path
) -> None:
    # An answer far longer than the outbound lead: most of its audio waits in the outbound queue.
    settings = cpu_call_settings(
        triton.grpc_url,
        recordings,
        llm_max_tokens=160,
        llm_min_tokens=120,  # past the model's own end: it may repeat itself, so no answer guard
        answer_max_sentences=0,
        answer_repeat_min_words=10_000,
    )
    sid = "CA000000000000000000000000000000c6"
    await call(
        conversation_app(settings),
        sid,
        [
            agent_turns(recordings, sid, 1),
            Say("Please tell me a long story about a dragon."),
            agent_turns(recordings, sid, 2, timeout_ms=180_000),
        ],
    )
    record = CallRecord.load(recordings, sid)
    reply = record.of("agent_turn")[1]
    chunks = record.of("tts_chunk", reply_id=reply["reply_id"])
    audio_ms = sum(c["audio_ms"] for c in chunks)
    assert audio_ms > 8000, audio_ms  # longer than the playback grace
    first_chunk_ms = chunks[0]["t_ms"]
    # Committed (heard in full) no earlier than its audio can have played out.
    assert reply["complete"] and reply["t_ms"] >= first_chunk_ms + audio_ms - 300, (reply, audio_ms)


async def test_a_hang_up_mid_reply_keeps_what_the_caller_heard(
    triton: TritonServer, recordings: Path
) -> None:
    settings = cpu_call_settings(
        triton.grpc_url, recordings, llm_max_tokens=400, llm_min_tokens=300
    )
    sid = "CA000000000000000000000000000000c5"
    async with dialled(conversation_app(settings), sid) as phone:
        await run_steps(
            phone,
            [agent_turns(recordings, sid, 1), Say("Please tell me a long story about a dragon.")],
        )
        await run_steps(phone, [WaitForAgent(after_ms=1500)])
        await phone.stop()  # the caller hangs up while the reply is still being generated

    record = CallRecord.load(recordings, sid)
    assert record.events[-1]["event"] == "end"
    reply = record.of("agent_turn")[1]  # [0] is the greeting
    assert reply["interrupted"] and not reply["complete"], record.transcript()
    chunks = [SpokenChunk(c["text"], c["audio_ms"]) for c in record.of("tts_chunk")]
    assert words(reply["text"]), "nothing stored although the caller heard part of the reply"
    assert " ".join(words(reply["text"])) in " ".join(words(" ".join(c.text for c in chunks)))


async def test_a_cough_over_the_agent_pauses_at_most_and_the_reply_is_heard_whole(
    triton: TritonServer, recordings: Path
) -> None:
    settings = cpu_call_settings(triton.grpc_url, recordings, llm_max_tokens=48)
    sid = "CA000000000000000000000000000000c3"
    await call(
        conversation_app(settings),
        sid,
        [
            agent_turns(recordings, sid, 1),
            Say("Tell me about your restaurant."),
            WaitForAgent(after_ms=600),
            Cough(150),
            Silence(500),
            agent_turns(recordings, sid, 2),
        ],
    )
    record = CallRecord.load(recordings, sid)
    reply = record.of("agent_turn")[-1]
    assert reply["complete"] and not reply["interrupted"], record.transcript()
    assert record.of("reply_cancelled") == [] and len(record.of("user_turn")) == 1
    # A clear the cough caused was repaired: the reply resumed where it was cut.
    assert len(record.of("reply_resumed")) == len(record.of("barge_in"))
    heard = " ".join(c["text"] for c in record.of("tts_chunk", reply_id=reply["reply_id"]))
    assert words(reply["text"]) == words(heard)


async def test_a_caller_who_pauses_mid_sentence_gets_one_answer_to_the_whole_sentence(
    triton: TritonServer, recordings: Path
) -> None:
    """The pause is transcribed and a reply started at once; the caller goes on: that reply is
    cancelled on the server (its stream ended CANCELLED on our side) and the whole sentence gets
    the one answer."""
    settings = cpu_call_settings(
        triton.grpc_url,
        recordings,
        turn_end_long_ms=20_000,  # the pause below is mid-thought, however slow the CPU
        llm_max_tokens=100,
        llm_min_tokens=80,  # the speculative reply is still generating when the caller goes on
    )
    sid = "CA000000000000000000000000000000d4"
    llm_cancelled_before = ended(triton.metrics_url, "llm", "cancelled")
    app = conversation_app(settings)
    async with dialled(app, sid) as phone:
        await run_steps(
            phone,
            [
                agent_turns(recordings, sid, 1),
                Say("My phone number is"),
                logged(recordings, sid, "reply_started", speculative=True),  # held
                Say("five five five, one two three four. Thank you."),
                agent_turns(recordings, sid, 2),
            ],
        )

    record = CallRecord.load(recordings, sid)
    (user_turn,) = record.of("user_turn")  # one turn: the whole sentence
    assert words(user_turn["text"])[:3] == ["my", "phone", "number"], user_turn
    assert len(record.of("agent_turn")) == 2 and record.of("reply_cancelled")
    (timings,) = record.of("turn_timings")
    assert timings["speculation"]["replies_cancelled"] >= 1
    # Client side: the speculative LLM stream ended with gRPC status CANCELLED ...
    labels = {"model": "llm", "outcome": "cancelled"}
    assert app.state.metrics.registry.get_sample_value("cc_model_requests_total", labels) >= 1
    # ... and the server ended it as cancelled.
    await wait_for(lambda: ended(triton.metrics_url, "llm", "cancelled") > llm_cancelled_before, 30)


async def test_a_caller_who_stops_hears_the_reply_as_soon_as_the_turn_is_over(
    triton: TritonServer, recordings: Path
) -> None:
    """A question: the short end-of-turn silence, then the reply's first audio as soon as it exists."""
    settings = cpu_call_settings(triton.grpc_url, recordings, llm_max_tokens=32)
    sid = "CA000000000000000000000000000000e5"
    await call(
        conversation_app(settings),
        sid,
        [
            agent_turns(recordings, sid, 1),
            Say("What time do you open?"),
            agent_turns(recordings, sid, 2),
        ],
    )
    (timings,) = CallRecord.load(recordings, sid).of("turn_timings")
    assert timings["end_of_turn_ms"] >= settings.turn_end_short_ms
    # First audio out = end of turn + what the reply still lacked then (+ the send itself).
    lacked = timings["held_ms"] == 0
    ready_ms = max(timings["end_of_turn_ms"], timings["end_to_end_ms"] - timings["first_byte_ms"])
    assert (
        lacked or timings["end_to_end_ms"] - timings["end_of_turn_ms"] == timings["first_byte_ms"]
    )
    assert timings["end_to_end_ms"] - ready_ms < 100
