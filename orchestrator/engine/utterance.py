"""One caller utterance the engine works on: its transcription, the audio end-of-turn model's verdict on
its pause, the timing marks of the turn it opens, and the analysis of its voice.

The core names utterances by id (``turn_taking``: ``StartTranscription(utterance_id)`` ...); the engine
keeps one :class:`Utterance` per id while the core still holds that id
(:func:`~orchestrator.conversation.turn_taking.utterances_held`) and releases it the moment it does
not: its transcription task is cancelled (with it the STT request on the server) and nothing of it
stays behind. A reply answering the utterance takes its marks (the same :class:`TurnMarks`), so the
turn's timings outlive it.
"""

from __future__ import annotations

import asyncio
import logging

from orchestrator.conversation.timings import TurnMarks
from orchestrator.conversation.voice_features import VoiceAnalysis

log = logging.getLogger(__name__)


class Utterance:
    def __init__(self, utterance_id: int, marks: TurnMarks) -> None:
        self.utterance_id = utterance_id
        self.marks = marks
        self.transcription: asyncio.Task[None] | None = None
        self.turn_end: asyncio.Task[None] | None = None  # the audio end-of-turn model's request
        self.turn_end_probability: float | None = None  # its answer, for the log
        # Analysed in a worker thread while it is transcribed (the caller's mood).
        self.voice: asyncio.Future[VoiceAnalysis | None] | None = None

    def voice_analysis(self) -> VoiceAnalysis | None:
        """The voice analysis if it is done (it runs beside the transcription, which takes far
        longer); None if it is not, or failed: the turn is then scored from its words alone."""
        voice = self.voice
        if voice is None or not voice.done() or voice.cancelled():
            return None
        if voice.exception() is not None:
            log.warning("voice analysis failed: %r", voice.exception())
            return None
        return voice.result()

    def release(self) -> None:
        """The call is done with this utterance: its transcription and end-of-turn request (if still
        running) are cancelled."""
        for task in (self.transcription, self.turn_end):
            if task is not None:
                task.cancel()
        if self.voice is not None:
            self.voice.cancel()  # a thread already running finishes; its result is dropped
