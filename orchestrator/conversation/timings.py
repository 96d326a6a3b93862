"""Per-turn stage timings from monotonic marks. Pure: the engine records ``now`` at each stage.

The end-to-end figure is what the caller feels: from the end of their speech (the last voiced audio,
before the end-of-turn silence) to the agent's first audio going out to Twilio. The stages are
contiguous: endpointing + stt + reply_start + llm_ttft + llm_first_phrase + tts_first_audio +
first_byte = end_to_end whenever every stage happened.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import Enum


class Stage(Enum):
    CALLER_STOPPED = "caller_stopped"  # end of the caller's last voiced window
    END_OF_TURN = "end_of_turn"  # the segmenter's end-of-turn silence elapsed
    STT_DONE = "stt_done"
    LLM_REQUESTED = "llm_requested"
    LLM_FIRST_TOKEN = "llm_first_token"
    TTS_REQUESTED = "tts_requested"  # first chunk sent to the TTS
    TTS_FIRST_AUDIO = "tts_first_audio"
    FIRST_BYTE_SENT = "first_byte_sent"  # first agent audio written to Twilio's WebSocket


@dataclass(frozen=True)
class TurnTimings:
    """Milliseconds per stage; None where a stage did not happen (e.g. a cancelled reply)."""

    endpointing_ms: float | None  # caller stopped -> end of turn declared
    stt_ms: float | None  # end of turn -> transcript
    llm_ttft_ms: float | None  # LLM request -> first token
    tts_first_audio_ms: float | None  # first chunk to TTS -> its first audio
    first_byte_ms: float | None  # first TTS audio -> first byte to Twilio
    end_to_end_ms: float | None  # caller stopped -> first byte to Twilio
    reply_start_ms: float | None = None  # transcript -> LLM request (the turn logic)
    llm_first_phrase_ms: float | None = None  # first token -> first phrase sent to the TTS

    def as_dict(self) -> dict[str, float | None]:
        """For the JSONL call log and the Prometheus histograms (one per key)."""
        return asdict(self)


class TurnMarks:
    """Monotonic times (ms) of one turn's stages; the first mark of a stage wins."""

    def __init__(self) -> None:
        self._at: dict[Stage, float] = {}

    def mark(self, stage: Stage, now_ms: float) -> None:
        self._at.setdefault(stage, now_ms)

    def timings(self) -> TurnTimings:
        return TurnTimings(
            endpointing_ms=self._between(Stage.CALLER_STOPPED, Stage.END_OF_TURN),
            stt_ms=self._between(Stage.END_OF_TURN, Stage.STT_DONE),
            llm_ttft_ms=self._between(Stage.LLM_REQUESTED, Stage.LLM_FIRST_TOKEN),
            tts_first_audio_ms=self._between(Stage.TTS_REQUESTED, Stage.TTS_FIRST_AUDIO),
            first_byte_ms=self._between(Stage.TTS_FIRST_AUDIO, Stage.FIRST_BYTE_SENT),
            end_to_end_ms=self._between(Stage.CALLER_STOPPED, Stage.FIRST_BYTE_SENT),
            reply_start_ms=self._between(Stage.STT_DONE, Stage.LLM_REQUESTED),
            llm_first_phrase_ms=self._between(Stage.LLM_FIRST_TOKEN, Stage.TTS_REQUESTED),
        )

    def _between(self, start: Stage, end: Stage) -> float | None:
        if start not in self._at or end not in self._at:
            return None
        return self._at[end] - self._at[start]
