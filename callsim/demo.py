"""The README's main command: a simulated phone call on this machine's CPU.

    python -m callsim.demo

Starts tritonserver with every model in the CPU profile (Silero VAD, Whisper tiny.en, SmolLM2 on vLLM's
CPU engine, Piper's voice), serves the orchestrator on a local port, and plays a caller over Twilio's
Media Streams protocol (real WebSocket, 20 ms mu-law frames in real time, marks echoed as audio plays):
the caller asks two questions, interrupts the agent's second answer, and says goodbye. Then a second
caller books a table: the agent calls the host persona's tools (``personas/restaurant_host.tools.json``)
on the demo's booking service (SQLite, :mod:`callsim.booking_service`). Prints the transcripts, a
per-turn latency table, the tool calls and the bookings made, and where the recordings are.

The CPU profile's 135M model never calls a tool on its own, so the booking call runs with
``tool_choice=required`` (its first round in each reply calls one, guided to a declared tool and
schema-valid arguments); which tool and which arguments are still the 135M's.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import threading
import time
from pathlib import Path
from typing import Any

from callsim.booking_service import BookingService
from callsim.call_record import CallRecord
from callsim.harness import (
    agent_turns,
    call,
    cpu_call_settings,
    local_tool_settings,
    logged,
    new_call_sid,
)
from callsim.steps import Say, Step, WaitForAgent
from orchestrator.app import conversation_app
from serving.launcher import TritonServer
from serving.paths import MODEL_REPOSITORY, PROJECT_ROOT
from serving.profiles import build_profile, server_options

TIMING_COLUMNS = (
    ("endpointing_ms", "pause"),
    ("end_of_turn_ms", "end of turn"),
    ("stt_ms", "STT"),
    ("llm_ttft_ms", "LLM TTFT"),
    ("tts_first_audio_ms", "TTS 1st"),
    ("end_to_end_ms", "voice-to-voice"),
)


def scenario(recordings: Path, call_sid: str) -> list[Step]:
    return [
        agent_turns(recordings, call_sid, 1),  # the greeting
        Say("Hi! What time do you open tomorrow?"),
        agent_turns(recordings, call_sid, 2),
        Say("Could you tell me about your menu?"),
        WaitForAgent(after_ms=2000),
        Say("Sorry to interrupt. Do you have vegetarian dishes?"),  # barge-in
        agent_turns(recordings, call_sid, 4),
        Say("Great, thank you. Goodbye!"),
        logged(recordings, call_sid, "hang_up", timeout_ms=30_000),
    ]


def booking_scenario(recordings: Path, call_sid: str) -> list[Step]:
    return [
        agent_turns(recordings, call_sid, 1),
        Say("Hi! Please book a table for two on Saturday at seven, under the name Ada."),
        agent_turns(recordings, call_sid, 2, timeout_ms=120_000),
        Say("Thank you. Goodbye!"),
        logged(recordings, call_sid, "hang_up", timeout_ms=30_000),
    ]


async def booking_call(grpc_url: str, recordings: Path) -> tuple[CallRecord, list[dict[str, Any]]]:
    """A caller booking a table; the call's record and the bookings the service holds after it."""
    persona = PROJECT_ROOT / "personas" / "restaurant_host.txt"
    service = BookingService(recordings / "bookings.sqlite3")
    async with service as base_url:
        settings = cpu_call_settings(
            grpc_url,
            recordings,
            llm_system_prompt_file=str(persona),
            tools_file=str(PROJECT_ROOT / "personas" / "restaurant_host.tools.json"),
            tool_choice="required",
            **local_tool_settings(base_url),
        )
        call_sid = new_call_sid()
        before = {b["booking_id"] for b in service.bookings()}
        await call(conversation_app(settings), call_sid, booking_scenario(recordings, call_sid))
    made = [b for b in service.bookings() if b["booking_id"] not in before]
    service.close()
    return CallRecord.load(recordings, call_sid), made


async def simulated_call(grpc_url: str, recordings: Path) -> CallRecord:
    persona = PROJECT_ROOT / "personas" / "restaurant_host.txt"
    settings = cpu_call_settings(grpc_url, recordings, llm_system_prompt_file=str(persona))
    call_sid = new_call_sid()  # a new call (and recording) every run
    await call(conversation_app(settings), call_sid, scenario(recordings, call_sid))
    return CallRecord.load(recordings, call_sid)


def watch_models_load(log_path: Path, models: list[str], done: threading.Event) -> None:
    """Say which models have loaded (and warmed up) while tritonserver starts, and which it is still
    waiting for."""
    started = time.perf_counter()
    loaded: list[str] = []
    next_note = 10.0
    while not done.wait(2.0):
        text = log_path.read_text(errors="replace") if log_path.exists() else ""
        for name in re.findall(r"successfully loaded '([\w-]+)'", text):
            if name not in loaded:
                loaded.append(name)
                print(f"  {name} loaded and warmed up ({time.perf_counter() - started:.0f} s)")
        waiting = [m for m in models if m not in loaded]
        elapsed = time.perf_counter() - started
        if waiting and elapsed >= next_note:
            print(f"  waiting for {', '.join(waiting)} ({elapsed:.0f} s)", flush=True)
            next_note = elapsed + 20.0


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
        note = "  <- the first turn after warm-up" if number == 1 else ""
        print(f"  {number:>4} {cells}{note}")
    if record.of("barge_in"):
        print(f"\nBarge-ins: {len(record.of('barge_in'))} (Twilio 'clear' sent, reply cut)")
    tool_calls = {c["call_id"]: c for c in record.of("tool_call")}
    for result in record.of("tool_result"):
        written = tool_calls.get(result["call_id"], {})
        arguments = ", ".join(f"{k}={v!r}" for k, v in written.get("arguments", {}).items())
        outcome = "" if result["ok"] else "FAILED: "
        print(f"\nTool: {result['name']}({arguments}) -> {outcome}{result['content']}")
    print(f"\nRecording (stereo WAV: caller left, agent right): {record.wav}")
    print(f"Event log (JSONL): {record.wav.with_suffix('.jsonl') if record.wav else '-'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recordings", type=Path, default=PROJECT_ROOT / "recordings" / "demo")
    args = parser.parse_args()
    recordings: Path = args.recordings

    print("Preparing the CPU profile (the first run converts the LLM's weights: ~1 min) ...")
    started = time.perf_counter()
    options = server_options(build_profile("cpu"), MODEL_REPOSITORY)
    server = TritonServer(options)
    models = sorted(p.name for p in MODEL_REPOSITORY.iterdir() if (p / "config.pbtxt").exists())
    print(f"Starting tritonserver: loading and warming up {', '.join(models)} ...", flush=True)
    done = threading.Event()
    watcher = threading.Thread(target=watch_models_load, args=(server.log_path, models, done))
    watcher.start()
    try:
        server.start()
    finally:
        done.set()
        watcher.join()
    with server:
        print(f"Triton ready in {time.perf_counter() - started:.0f} s on {server.grpc_url}")
        print("Calling the agent (a simulated Twilio caller, in real time) ...")
        record = asyncio.run(simulated_call(server.grpc_url, recordings))
        print_report(record)
        print("\nA second caller books a table (the agent calls the booking service) ...")
        booking, made = asyncio.run(booking_call(server.grpc_url, recordings))
    print_report(booking)
    print("\nBookings the call made:")
    for made_booking in made or [{"none": "the service refused or was not asked (see the tools)"}]:
        print("  " + ", ".join(f"{k}: {v}" for k, v in made_booking.items()))


if __name__ == "__main__":
    main()
