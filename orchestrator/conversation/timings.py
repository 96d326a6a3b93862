"""Per-turn stage timings from monotonic marks. Pure: the engine records ``now`` at each stage.

The end-to-end figure is what the caller feels: from the end of their speech (the last voiced audio,
before the silence) to the agent's first audio going out to Twilio. The caller's words are transcribed
at the first pause and the reply prepared while the silence confirms the end of the turn, so the
critical path is: the pause detected (``endpointing``), ``stt``, ``reply_start`` (transcript -> LLM
request), ``llm_ttft``, ``llm_first_phrase`` (first token -> first chunk to the TTS),
``tts_first_audio``, ``held`` (the reply's audio ready, waiting for the end of the turn), ``first_byte``
(from then to the first byte out). They add up to ``end_to_end`` whenever every stage happened.
``end_of_turn`` is the silence the turn actually waited; ``speculation`` the part of the pipeline
that ran inside it (time that a serial pipeline, starting at the end of the turn, would add).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import Enum


class Stage(Enum):
    CALLER_STOPPED = "caller_stopped"  # end of the caller's last voiced window
    STT_REQUESTED = "stt_requested"  # the pause detected: the turn so far sent to the STT
    STT_DONE = "stt_done"
    LLM_REQUESTED = "llm_requested"
    LLM_FIRST_TOKEN = "llm_first_token"
    TTS_REQUESTED = "tts_requested"  # first chunk sent to the TTS
    TTS_FIRST_AUDIO = "tts_first_audio"
    END_OF_TURN = "end_of_turn"  # the silence confirmed the turn over (the reply released)
    FIRST_BYTE_SENT = "first_byte_sent"  # first agent audio written to Twilio's WebSocket


@dataclass(frozen=True)
class TurnTimings:
    """Milliseconds per stage; None where a stage did not happen (e.g. a cancelled reply)."""

    endpointing_ms: float | None  # caller stopped -> pause detected (transcription requested)
    stt_ms: float | None  # transcription requested -> transcript
    reply_start_ms: float | None  # transcript -> LLM request (the turn logic)
    llm_ttft_ms: float | None  # LLM request -> first token
    llm_first_phrase_ms: float | None  # first token -> first phrase sent to the TTS
    tts_first_audio_ms: float | None  # first chunk to TTS -> its first audio
    held_ms: float | None  # first audio ready -> end of turn confirmed (0 if the turn was over)
    first_byte_ms: float | None  # audio ready and turn over -> first byte to Twilio
    end_to_end_ms: float | None  # caller stopped -> first byte to Twilio
    end_of_turn_ms: float | None = None  # caller stopped -> end of turn confirmed
    speculation_ms: float | None = None  # pipeline time spent inside the end-of-turn silence

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
        at = self._at
        ready: float | None = None  # audio ready and the turn over: from here it only has to go out
        if Stage.TTS_FIRST_AUDIO in at:
            ready = max(at[Stage.TTS_FIRST_AUDIO], at.get(Stage.END_OF_TURN, float("-inf")))
        held = None if ready is None else ready - at[Stage.TTS_FIRST_AUDIO]
        speculation = None
        if Stage.STT_REQUESTED in at and Stage.END_OF_TURN in at:
            inside = min(at[Stage.END_OF_TURN], at.get(Stage.TTS_FIRST_AUDIO, float("inf")))
            speculation = max(0.0, inside - at[Stage.STT_REQUESTED])
        first_byte = None
        if ready is not None and Stage.FIRST_BYTE_SENT in at:
            first_byte = at[Stage.FIRST_BYTE_SENT] - ready
        return TurnTimings(
            endpointing_ms=self._between(Stage.CALLER_STOPPED, Stage.STT_REQUESTED),
            stt_ms=self._between(Stage.STT_REQUESTED, Stage.STT_DONE),
            reply_start_ms=self._between(Stage.STT_DONE, Stage.LLM_REQUESTED),
            llm_ttft_ms=self._between(Stage.LLM_REQUESTED, Stage.LLM_FIRST_TOKEN),
            llm_first_phrase_ms=self._between(Stage.LLM_FIRST_TOKEN, Stage.TTS_REQUESTED),
            tts_first_audio_ms=self._between(Stage.TTS_REQUESTED, Stage.TTS_FIRST_AUDIO),
            held_ms=held,
            first_byte_ms=first_byte,
            end_to_end_ms=self._between(Stage.CALLER_STOPPED, Stage.FIRST_BYTE_SENT),
            end_of_turn_ms=self._between(Stage.CALLER_STOPPED, Stage.END_OF_TURN),
            speculation_ms=speculation,
        )

    def _between(self, start: Stage, end: Stage) -> float | None:
        if start not in self._at or end not in self._at:
            return None
        return self._at[end] - self._at[start]
