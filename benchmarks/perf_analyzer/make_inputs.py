"""Write perf_analyzer's input-data JSON for each model into this folder (the files are checked in).

    python -m benchmarks.perf_analyzer.make_inputs

One file per model, ``<model>.json`` in perf_analyzer's ``--input-data`` format: a list of requests
that perf_analyzer sends in turn (one "stream" of "steps"). Each holds what the orchestrator sends:

- ``silero_vad``: one 32 ms window (512 samples, 16 kHz) per request, four windows of caller speech
  taken from an espeak-ng utterance, without ``state`` (a call's first window; the model is stateless);
- ``stt``: one caller utterance of about 2 s as 16 kHz float32, base64 (a JSON list of 32,000 numbers
  would be several times larger), spoken by Piper when the ``piper-voice`` extra is installed, else by
  espeak-ng; ``sample_rate`` 16000, ``language`` "en";
- ``turn_detector``: the same utterance followed by the segmenter's 200 ms pause (what the
  orchestrator sends at a pause), base64, ``sample_rate`` 16000;
- ``tts``: a two-sentence agent reply (time to first response = the first sentence's first chunk);
- ``llm``: a phone-agent prompt in SmolLM2's chat template (ChatML: the CPU profile's model), streamed,
  greedy, ``max_tokens`` 32 with ``ignore_eos`` so that every request generates the same 32 tokens.

Audio is rounded (VAD) or stored as float32 bytes (STT), so the files stay small (~380 KB in all, most of it the STT utterance, twice).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import numpy as np

from callsim.voices import espeak_utterance

INPUTS_DIR = Path(__file__).resolve().parent
RATE = 16_000
VAD_WINDOW = 512

STT_SENTENCE = "I would like to book a table for two."
TTS_REPLY = "Of course, a table for two. What time would you like to come in?"
LLM_SYSTEM = (
    "You are a friendly phone agent for a restaurant. Answer in one or two short spoken sentences."
)
LLM_USER = "Hi, I would like to book a table for two tomorrow evening, around seven."
LLM_SAMPLING = {"max_tokens": 32, "temperature": 0.0, "ignore_eos": True}


def chatml_prompt(system: str, user: str) -> str:
    """SmolLM2-Instruct's chat template (ChatML) with an open assistant turn."""
    return (
        f"<|im_start|>system\n{system}<|im_end|>\n"
        f"<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"
    )


def caller_speech(text: str) -> tuple[np.ndarray[Any, np.dtype[np.float32]], str]:
    """``text`` at 16 kHz from Piper when installed (natural), else espeak-ng; and the voice's name."""
    try:
        from callsim.voices import piper_available, piper_utterance

        if piper_available():
            return piper_utterance(text, RATE), "piper joe"
    except ImportError:
        pass
    return espeak_utterance(text, RATE), "espeak-ng"


def vad_requests() -> list[dict[str, Any]]:
    speech = espeak_utterance("Thank you for calling, how can I help you today?", RATE)
    start = len(speech) // 3  # well inside the utterance: voiced windows
    windows = [speech[start + i * VAD_WINDOW : start + (i + 1) * VAD_WINDOW] for i in range(4)]
    return [
        {"audio": {"content": [round(float(x), 5) for x in w], "shape": [VAD_WINDOW]}}
        for w in windows
    ]


def stt_requests() -> tuple[list[dict[str, Any]], str]:
    audio, voice = caller_speech(STT_SENTENCE)
    audio = audio.astype("<f4")
    request = {
        "audio": {"b64": base64.b64encode(audio.tobytes()).decode("ascii"), "shape": [audio.size]},
        "sample_rate": {"content": [RATE], "shape": [1]},
        "language": {"content": ["en"], "shape": [1]},
    }
    return [request], voice


def turn_detector_requests() -> list[dict[str, Any]]:
    audio, _ = caller_speech(STT_SENTENCE)
    audio = np.concatenate([audio, np.zeros(RATE * 200 // 1000, np.float32)]).astype("<f4")
    request = {
        "audio": {"b64": base64.b64encode(audio.tobytes()).decode("ascii"), "shape": [audio.size]},
        "sample_rate": {"content": [RATE], "shape": [1]},
    }
    return [request]


def tts_requests() -> list[dict[str, Any]]:
    return [{"text": {"content": [TTS_REPLY], "shape": [1]}}]


def llm_requests() -> list[dict[str, Any]]:
    return [
        {
            "text_input": {"content": [chatml_prompt(LLM_SYSTEM, LLM_USER)], "shape": [1]},
            "stream": {"content": [True], "shape": [1]},
            "exclude_input_in_output": {"content": [True], "shape": [1]},
            "sampling_parameters": {"content": [json.dumps(LLM_SAMPLING)], "shape": [1]},
        }
    ]


def write_inputs(directory: Path = INPUTS_DIR) -> dict[str, Path]:
    """Write every model's input file; return {model: path}."""
    stt, voice = stt_requests()
    print(f"stt utterance voiced by {voice}")
    files = {
        "silero_vad": vad_requests(),
        "stt": stt,
        "tts": tts_requests(),
        "llm": llm_requests(),
        "turn_detector": turn_detector_requests(),
    }
    paths = {}
    for model, requests in files.items():
        path = directory / f"{model}.json"
        path.write_text(json.dumps({"data": requests}, separators=(",", ":")) + "\n")
        paths[model] = path
    return paths


def main() -> None:
    for model, path in write_inputs().items():
        print(f"{model:<12}{path.stat().st_size:>9} bytes  {path}")


if __name__ == "__main__":
    main()
