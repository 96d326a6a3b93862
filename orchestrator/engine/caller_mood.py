"""One call's caller sentiment in the engine: each committed caller turn scored from its transcript and
its audio (orchestrator/conversation/caller_sentiment.py), exported, and turned into an instruction for
the next reply once the caller has been negative for several turns in a row.

Cost per turn: the voice analysis (~3-4 ms for a 3 s turn on a busy 2-core CPU: FFTs;
benchmarks/sentiment_accuracy.py) runs in a worker thread while the turn is transcribed; at the turn's
commit, on the event loop before the reply starts (its prompt may depend on the label), only the text
score (~0.25 ms) and the combination.
"""

from __future__ import annotations

from orchestrator.call_handler import JsonValue
from orchestrator.conversation.caller_sentiment import (
    DEFAULT_OPTIONS,
    CallSentiment,
    TurnSentiment,
    score_turn,
)
from orchestrator.conversation.sentiment_text import TextSentiment
from orchestrator.conversation.voice_features import VoiceAnalysis
from orchestrator.engine.metrics import ConversationMetrics


class CallerMood:
    def __init__(
        self,
        scorer: TextSentiment,
        metrics: ConversationMetrics,
        acknowledge_after: int,
        instruction: str,
    ) -> None:
        self._scorer = scorer
        self._metrics = metrics
        self._after = acknowledge_after
        self._instruction = instruction
        self._call = CallSentiment()

    def score(self, text: str, voice_analysis: VoiceAnalysis | None) -> dict[str, JsonValue]:
        """The turn's sentiment, added to the call's, as the fields of its ``user_turn`` line.
        ``voice_analysis``: its audio's (:func:`analyse_voice`, run while it was transcribed)."""
        voice = voice_analysis.features(len(text.split())) if voice_analysis is not None else None
        turn = score_turn(self._scorer.score(text), voice, self._call.baseline)
        self._call.add(turn)
        self._metrics.caller_sentiment.observe(turn.score)
        return _fields(turn)

    def instruction(self, pending_text: str | None = None) -> str | None:
        """The acknowledgement for the next reply's prompt, once per run of negative turns.
        ``pending_text``: the caller's words the reply answers, not yet committed as a turn."""
        pending = None
        if pending_text is not None:
            pending = DEFAULT_OPTIONS.label(self._scorer.score(pending_text))
        if not self._call.needs_acknowledgement(self._after, pending):
            return None
        self._call.acknowledge()
        self._metrics.sentiment_acknowledgements.inc()
        return self._instruction

    def summary(self) -> dict[str, JsonValue] | None:
        """The call's arc (start, end, lowest, ...); None when the caller never spoke."""
        if not self._call.turns:
            return None
        return dict(self._call.summary())


def _fields(turn: TurnSentiment) -> dict[str, JsonValue]:
    voice = turn.voice
    return {
        "score": round(turn.score, 3),
        "label": turn.label,
        "text_score": round(turn.text_score, 3),
        "voice": None
        if voice is None
        else {
            "energy_db": round(voice.energy_db, 1),
            "speaking_rate_wps": round(voice.speaking_rate_wps, 2),
            "pitch_range_semitones": round(voice.pitch_range_semitones, 1),
        },
    }
