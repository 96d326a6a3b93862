"""The README's main command: a simulated phone call on this machine's CPU.

    python -m orchestrator.demo

Starts tritonserver with every model in the CPU profile (Silero VAD, Whisper tiny.en, SmolLM2 on vLLM's
CPU engine, Piper's voice), serves the orchestrator on a local port, and plays a caller over Twilio's
Media Streams protocol (real WebSocket, 20 ms mu-law frames in real time, marks echoed as audio plays):
the caller asks two questions, interrupts the agent's second answer, and says goodbye. Prints the
transcript, a per-turn latency table and where the recording is.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from pathlib import Path

from benchmarks.simulated_call import (
    CPU_CALL_SETTINGS,
    CallRecord,
    Say,
    Step,
    WaitForAgent,
    WaitUntil,
    run_steps,
)
from benchmarks.twilio_phone import SimulatedTwilioCall, serve_app
from orchestrator.app import conversation_app
from orchestrator.settings import Settings
from serving.launcher import PROJECT_ROOT, TritonServer
from serving.profiles import build_profile, server_options

TIMING_COLUMNS = (
    ("endpointing_ms", "endpoint"),
    ("stt_ms", "STT"),
    ("llm_ttft_ms", "LLM TTFT"),
    ("tts_first_audio_ms", "TTS 1st"),
    ("end_to_end_ms", "voice-to-voice"),
)


def scenario(recordings: Path, call_sid: str) -> list[Step]:
    def turns(n: int) -> WaitUntil:
        return WaitUntil(lambda: CallRecord.count(recordings, call_sid, "agent_turn") >= n)

    return [
        turns(1),  # the greeting
        Say("Hi! What time do you open tomorrow?"),
        turns(2),
        Say("Could you tell me about your menu?"),
        WaitForAgent(after_ms=2000),
        Say("Sorry to interrupt. Do you have vegetarian dishes?"),  # barge-in
        turns(4),
        Say("Great, thank you. Goodbye!"),
        WaitUntil(lambda: CallRecord.count(recordings, call_sid, "hang_up") >= 1, 30_000),
    ]


async def simulated_call(grpc_url: str, recordings: Path) -> CallRecord:
    settings = Settings(
        triton_url=grpc_url,
        recordings_dir=str(recordings),
        log_json=False,
        llm_system_prompt_file=str(PROJECT_ROOT / "personas" / "restaurant_host.txt"),
        **CPU_CALL_SETTINGS,
    )
    call_sid = "CA" + uuid.uuid4().hex  # a new call (and recording) every run
    async with serve_app(conversation_app(settings)) as base:
        phone = SimulatedTwilioCall(base.replace("http", "ws") + "/twilio/media", call_sid)
        await phone.connect()
        await run_steps(phone, scenario(recordings, call_sid))
        if not phone.closed.is_set():
            await phone.stop()
    return CallRecord.load(recordings, call_sid)


def print_report(record: CallRecord) -> None:
    print("\nTranscript (the agent's turns are what the caller heard)")
    for speaker, text in record.transcript():
        print(f"  {speaker:>6}: {text}")
    print(
        "\nPer-turn latency (ms; voice-to-voice = caller stopped speaking -> first agent audio out)"
    )
    print("  turn " + "".join(f"{title:>16}" for _, title in TIMING_COLUMNS))
    for number, timing in enumerate(record.of("turn_timings"), 1):
        cells = "".join(
            f"{timing[key]:>16.0f}" if key in timing else f"{'-':>16}" for key, _ in TIMING_COLUMNS
        )
        print(f"  {number:>4} {cells}")
    if record.of("barge_in"):
        print(f"\nBarge-ins: {len(record.of('barge_in'))} (Twilio 'clear' sent, reply cut)")
    print(f"\nRecording (stereo WAV: caller left, agent right): {record.wav}")
    print(f"Event log (JSONL): {record.wav.with_suffix('.jsonl') if record.wav else '-'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recordings", type=Path, default=PROJECT_ROOT / "recordings" / "demo")
    args = parser.parse_args()
    recordings: Path = args.recordings

    print("Starting tritonserver with the CPU profile (first run converts the LLM: ~1 min) ...")
    started = time.perf_counter()
    options = server_options(build_profile("cpu"), PROJECT_ROOT / "model_repository")
    with TritonServer(options) as server:
        print(f"Triton ready in {time.perf_counter() - started:.0f} s on {server.grpc_url}")
        print("Calling the agent (a simulated Twilio caller, in real time) ...")
        record = asyncio.run(simulated_call(server.grpc_url, recordings))
    print_report(record)


if __name__ == "__main__":
    main()
