"""How well each text scorer finds unhappy callers: precision and recall for "negative" on a labelled
set of phone utterances, and what a turn costs.

    .venv/bin/python -m benchmarks.sentiment_accuracy            # ~10 s on 2 cores
    .venv/bin/python -m benchmarks.sentiment_accuracy --mistakes # + the tuning half's mistakes

Scorers (orchestrator/conversation/caller_sentiment.py): ``textblob`` (TextBlob's PatternAnalyzer
polarity), ``vader`` (VADER's compound score), and each with the phone-domain layer (``+phone``:
complaint phrases pushed negative, topic words such as "sick" or "cancel" left out), all labelled with
the same thresholds (``SentimentOptions``).

The set, tests/data/caller_sentiment.tsv, was written and labelled before any scorer ran on it. It is
split by a fixed hash of each utterance into a tuning half (the only mistakes ever looked at, with
``--mistakes``) and a held-out half; figures are given on all, tuning and held-out. Per utterance:
the median time of one ``score`` call over the set, in µs; and the voice features of a 3 s turn.
Writes ``benchmarks/results/sentiment_accuracy-*.json``.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.results_file import write_result
from orchestrator.conversation.caller_sentiment import DEFAULT_OPTIONS, Label, SentimentOptions
from orchestrator.conversation.sentiment_text import (
    PhoneSentiment,
    TextBlobSentiment,
    TextSentiment,
)
from orchestrator.conversation.voice_features import voice_features
from serving.paths import PROJECT_ROOT

LABELLED = PROJECT_ROOT / "tests" / "data" / "caller_sentiment.tsv"
LABELS: tuple[Label, ...] = ("negative", "neutral", "positive")
HALVES = ("all", "tuning", "held_out")
TIMING_PASSES = 5
DEFAULT = "textblob+phone"  # what caller_sentiment.default_scorer() builds


class VaderSentiment:
    """VADER's compound score: a lexicon and rules written for short informal text (negation,
    intensifiers, "but", capitals and "!" for emphasis)."""

    def __init__(self) -> None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        analyzer: Any = SentimentIntensityAnalyzer()  # untyped: keep mypy's strict mode to our code
        self._analyzer = analyzer

    def score(self, text: str) -> float:
        return float(self._analyzer.polarity_scores(text)["compound"])


@dataclass(frozen=True)
class Utterance:
    label: Label
    text: str

    @property
    def half(self) -> str:
        """``tuning`` or ``held_out``: a fixed hash of the text, the same on every machine and run."""
        return "tuning" if hashlib.sha1(self.text.encode()).digest()[0] % 2 == 0 else "held_out"


def load_labelled(path: Path = LABELLED) -> list[Utterance]:
    lines = [line for line in path.read_text().splitlines() if not line.startswith("#")]
    rows = csv.DictReader(lines, delimiter="\t", quoting=csv.QUOTE_NONE)
    by_name: dict[str, Label] = {label: label for label in LABELS}
    found: list[Utterance] = []
    for row in rows:
        label = by_name.get(row["label"])
        if label is None:
            raise ValueError(f"{path.name}: label {row['label']!r} not in {LABELS}")
        found.append(Utterance(label, row["utterance"]))
    return found


def in_half(utterances: Sequence[Utterance], half: str) -> list[Utterance]:
    return [u for u in utterances if half == "all" or u.half == half]


def metrics(truth: Sequence[str], predicted: Sequence[str]) -> dict[str, Any]:
    """Precision, recall and F1 of "negative", 3-class accuracy, and the confusion matrix
    (``confusion[true][predicted]``)."""
    pairs = list(zip(truth, predicted, strict=True))
    hits = sum(1 for t, p in pairs if t == p == "negative")
    said_negative = sum(1 for _, p in pairs if p == "negative")
    were_negative = sum(1 for t, _ in pairs if t == "negative")
    precision = hits / said_negative if said_negative else 0.0
    recall = hits / were_negative if were_negative else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "n": len(pairs),
        "precision": round(precision, 3),
        "recall": round(recall, 3),
        "f1": round(f1, 3),
        "accuracy": round(sum(1 for t, p in pairs if t == p) / len(pairs), 3) if pairs else 0.0,
        "confusion": {
            t: {p: sum(1 for a, b in pairs if (a, b) == (t, p)) for p in LABELS} for t in LABELS
        },
    }


def scorers() -> dict[str, Callable[[], TextSentiment]]:
    return {
        "textblob": TextBlobSentiment,
        "vader": VaderSentiment,
        "textblob+phone": lambda: PhoneSentiment(TextBlobSentiment()),
        "vader+phone": lambda: PhoneSentiment(VaderSentiment()),
    }


def evaluate(
    scorer: TextSentiment,
    utterances: Sequence[Utterance],
    options: SentimentOptions = DEFAULT_OPTIONS,
) -> tuple[dict[str, dict[str, Any]], list[Label]]:
    """Metrics on each half, and the predicted label of each utterance."""
    predicted = [options.label(scorer.score(u.text)) for u in utterances]
    by_half = {}
    for half in HALVES:
        chosen = [i for i, u in enumerate(utterances) if half == "all" or u.half == half]
        by_half[half] = metrics(
            [utterances[i].label for i in chosen], [predicted[i] for i in chosen]
        )
    return by_half, predicted


def score_us(scorer: TextSentiment, utterances: Sequence[Utterance]) -> float:
    """Median µs of one ``score`` call over the set (best of ``TIMING_PASSES`` per utterance)."""
    best = []
    for u in utterances:
        times = []
        for _ in range(TIMING_PASSES):
            started = time.perf_counter()
            scorer.score(u.text)
            times.append(time.perf_counter() - started)
        best.append(min(times))
    return round(float(np.median(best)) * 1e6, 1)


def voice_us(seconds: float = 3.0) -> float:
    """µs of :func:`voice_features` on a ``seconds`` turn (a gliding tone with pauses)."""
    t = np.arange(int(16_000 * seconds)) / 16_000
    audio = 0.2 * np.sin(2 * np.pi * (140 * t + 20 * t**2)) * (np.sin(2 * np.pi * 2 * t) > -0.5)
    samples = audio.astype(np.float32)
    times = []
    for _ in range(20):
        started = time.perf_counter()
        voice_features(samples, words=8)
        times.append(time.perf_counter() - started)
    return round(min(times) * 1e6, 1)


def format_table(results: dict[str, dict[str, Any]]) -> str:
    header = f"{'scorer':<16}{'half':<10}{'n':>4}{'P(neg)':>8}{'R(neg)':>8}{'F1':>7}{'acc':>7}"
    lines = [header + "   confusion (rows true neg/neu/pos, cols predicted)" + f"{'µs':>8}"]
    for name, row in results.items():
        for half in HALVES:
            m = row[half]
            confusion = " | ".join(
                " ".join(f"{m['confusion'][t][p]:>2}" for p in LABELS) for t in LABELS
            )
            us = f"{row['score_us']:>8.1f}" if half == "all" else ""
            lines.append(
                f"{name:<16}{half:<10}{m['n']:>4}{m['precision']:>8.2f}{m['recall']:>8.2f}"
                f"{m['f1']:>7.2f}{m['accuracy']:>7.2f}   {confusion:<48}{us}"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mistakes", action="store_true", help="list the tuning half's mistakes")
    show_mistakes = parser.parse_args().mistakes
    utterances = load_labelled()
    results: dict[str, dict[str, Any]] = {}
    for name, make in scorers().items():
        scorer = make()
        by_half, predicted = evaluate(scorer, utterances)
        results[name] = {**by_half, "score_us": score_us(scorer, utterances)}
        if show_mistakes:
            for u, p in zip(utterances, predicted, strict=True):
                if u.half == "tuning" and p != u.label:
                    print(f"  {name}: {u.label} -> {p}: {u.text!r} ({scorer.score(u.text):+.3f})")
    figures = {
        "set": str(LABELLED.relative_to(PROJECT_ROOT)),
        "sizes": {half: len(in_half(utterances, half)) for half in HALVES},
        "thresholds": [DEFAULT_OPTIONS.negative_below, DEFAULT_OPTIONS.positive_above],
        "voice_features_us_3s": voice_us(),
        "results": results,
    }
    print(format_table(results))
    print(f"default_scorer() is {DEFAULT}")
    print(f"voice features of a 3 s turn: {figures['voice_features_us_3s']:.0f} µs")
    print(f"wrote {write_result('sentiment_accuracy', 'cpu', figures)}")


if __name__ == "__main__":
    main()
