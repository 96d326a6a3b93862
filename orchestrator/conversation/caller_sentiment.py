"""How the caller feels, turn by turn: a score in [-1, 1] and a label from the transcript, graded by
the voice. Pure: the text scorer is injected, audio comes in as a numpy array, no I/O.

The words: orchestrator/conversation/sentiment_text.py; the voice: voice_features.py.

:class:`CallSentiment` keeps the call's arc (start, end, lowest) and how many caller turns in a row
were negative: after two, the reply should acknowledge it and offer a person or a callback.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from orchestrator.conversation.voice_features import VoiceFeatures

Label = Literal["negative", "neutral", "positive"]


# -- one turn ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SentimentOptions:
    negative_below: float = -0.05  # a score below this is negative (VADER's documented threshold)
    positive_above: float = 0.05  # ... above this positive, in between neutral
    baseline_turns: int = 3  # the first turns with a voice set the caller's baseline
    min_baseline_turns: int = 2  # the voice counts once this many turns set the baseline
    voice_weight: float = 0.5  # the voice scales a score's magnitude by 1 -/+ this at most
    louder_db: float = 6.0  # this much louder than the baseline is fully aroused
    faster_ratio: float = 0.3  # ... 30 % faster
    wider_semitones: float = 4.0  # ... a pitch range this much wider

    def label(self, score: float) -> Label:
        if score < self.negative_below:
            return "negative"
        if score > self.positive_above:
            return "positive"
        return "neutral"


DEFAULT_OPTIONS = SentimentOptions()


@dataclass(frozen=True)
class VoiceBaseline:
    """The caller's own voice: the mean of the features of the first turns of the call."""

    energy_db: float
    speaking_rate_wps: float
    pitch_range_semitones: float
    turns: int

    @classmethod
    def of(cls, voice: VoiceFeatures) -> VoiceBaseline:
        return cls(voice.energy_db, voice.speaking_rate_wps, voice.pitch_range_semitones, 1)

    def updated(
        self, voice: VoiceFeatures, options: SentimentOptions = DEFAULT_OPTIONS
    ) -> VoiceBaseline:
        """With one more turn's voice, until ``options.baseline_turns`` turns set it; then fixed, so
        a caller who grows angry does not drag their own baseline along."""
        if self.turns >= options.baseline_turns:
            return self
        n = self.turns + 1

        def mean(old: float, new: float) -> float:
            return old + (new - old) / n

        return VoiceBaseline(
            mean(self.energy_db, voice.energy_db),
            mean(self.speaking_rate_wps, voice.speaking_rate_wps),
            mean(self.pitch_range_semitones, voice.pitch_range_semitones),
            n,
        )


def arousal(
    voice: VoiceFeatures, baseline: VoiceBaseline, options: SentimentOptions = DEFAULT_OPTIONS
) -> float:
    """How much more (up to 1) or less (down to -1) animated than their baseline the caller sounds:
    the mean of louder, faster and wider pitch, each as a fraction of its "fully aroused" change."""
    changes = [
        (voice.energy_db - baseline.energy_db) / options.louder_db,
        (voice.pitch_range_semitones - baseline.pitch_range_semitones) / options.wider_semitones,
    ]
    if baseline.speaking_rate_wps > 0:
        ratio = voice.speaking_rate_wps / baseline.speaking_rate_wps - 1.0
        changes.append(ratio / options.faster_ratio)
    return float(np.mean(np.clip(changes, -1.0, 1.0)))


@dataclass(frozen=True)
class TurnSentiment:
    score: float  # the text's score graded by the voice, in [-1, 1]
    label: Label  # the text's label: the voice never changes it
    text_score: float  # the transcript's score alone
    voice: VoiceFeatures | None  # None when the turn had no usable audio


def score_turn(
    text_score: float,
    voice: VoiceFeatures | None,
    baseline: VoiceBaseline | None,
    options: SentimentOptions = DEFAULT_OPTIONS,
) -> TurnSentiment:
    """One caller turn from its transcript's score (a :class:`TextSentiment`'s) and its voice against
    the caller's baseline (None, or too few turns in it: the text alone). The text decides the label
    and the sign; the voice scales a non-neutral score's magnitude by up to ``1 ± voice_weight``, never
    below the label's threshold, so score and label agree."""
    text_score = float(np.clip(text_score, -1.0, 1.0))
    label = options.label(text_score)
    score = text_score
    if (
        label != "neutral"
        and voice is not None
        and baseline is not None
        and baseline.turns >= options.min_baseline_turns
    ):
        scaled = abs(text_score) * (1.0 + options.voice_weight * arousal(voice, baseline, options))
        floor = -options.negative_below if label == "negative" else options.positive_above
        magnitude = min(max(scaled, floor + 1e-6), 1.0)
        score = -magnitude if label == "negative" else magnitude
    return TurnSentiment(score, label, text_score, voice)


# -- the call ---------------------------------------------------------------------------------------
class CallSentiment:
    """The caller's turns over one call: their arc, the current run of negative turns and whether it
    was acknowledged, and the voice baseline for :func:`score_turn`."""

    def __init__(self, options: SentimentOptions = DEFAULT_OPTIONS) -> None:
        self._options = options
        self._scores: list[float] = []
        self._negative_turns = 0
        self._consecutive_negative = 0
        self._streak_acknowledged = False
        self._acknowledged = 0
        self._baseline: VoiceBaseline | None = None

    def add(self, turn: TurnSentiment) -> None:
        self._scores.append(turn.score)
        if turn.label == "negative":
            self._negative_turns += 1
            self._consecutive_negative += 1
        else:
            self._consecutive_negative = 0
            self._streak_acknowledged = False
        if turn.voice is not None:
            if self._baseline is None:
                self._baseline = VoiceBaseline.of(turn.voice)
            else:
                self._baseline = self._baseline.updated(turn.voice, self._options)

    def acknowledge(self) -> None:
        """The reply acknowledged the current run of negative turns (or the one a pending turn
        starts): not again until it ends."""
        self._streak_acknowledged = True
        self._acknowledged += 1

    def needs_acknowledgement(self, after: int = 2, pending: Label | None = None) -> bool:
        """Whether the caller has been negative ``after`` turns in a row, not yet acknowledged.

        ``pending``: the label of caller words a reply is prepared for before their turn is
        committed (the engine starts replies at the first pause): they count as the next turn.
        """
        run, acknowledged = self._consecutive_negative, self._streak_acknowledged
        if pending == "negative":
            run += 1
        elif pending is not None:
            run, acknowledged = 0, False
        return run >= after and not acknowledged

    @property
    def baseline(self) -> VoiceBaseline | None:
        return self._baseline

    @property
    def start(self) -> float | None:
        return self._scores[0] if self._scores else None

    @property
    def end(self) -> float | None:
        return self._scores[-1] if self._scores else None

    @property
    def lowest(self) -> float | None:
        return min(self._scores) if self._scores else None

    @property
    def turns(self) -> int:
        return len(self._scores)

    @property
    def negative_turns(self) -> int:
        return self._negative_turns

    @property
    def consecutive_negative(self) -> int:
        return self._consecutive_negative

    def summary(self) -> dict[str, float | int | bool | None]:
        """For the call's JSONL record and the caller's memory."""

        def rounded(value: float | None) -> float | None:
            return None if value is None else round(value, 3)

        return {
            "start": rounded(self.start),
            "end": rounded(self.end),
            "lowest": rounded(self.lowest),
            "turns": self.turns,
            "negative_turns": self._negative_turns,
            "acknowledged": self._acknowledged > 0,
        }
