"""How well the end of a caller's turn is judged: the words alone, the voice alone (Smart Turn v3.2) and
the two fused, on a labelled audio set, and what the audio model costs per pause.

    .venv/bin/python -m benchmarks.end_of_turn_accuracy          # ~2 min on 2 cores (first run: +2 min)
    .venv/bin/python -m benchmarks.end_of_turn_accuracy --tune   # + a grid search on the tuning half

The set (:mod:`callsim.turn_clips`, ``tests/data/end_of_turn_audio.tsv``): whole sentences (complete)
and the same audio cut at a word boundary (incomplete), Piper's voice and three espeak-ng voices, each
ending with the segmenter's 200 ms pause; the words judged are Whisper tiny.en's transcript of the clip.
It is split by sentence into a tuning half (the only one ``--tune`` looks at) and a held-out half.

A policy gives each clip the silence it would wait before ending the turn (``required_silence_ms``):

- ``text``: the rules over the words (``EndOfTurnParams.silence_ms(classify(transcript))``);
- ``audio``: the model alone: short when P(done) >= ``audio_done``, long below ``audio_more``, the
  midpoint between;
- ``fusion``: ``end_of_turn_fusion.required_silence_ms`` (the engine's).

A caller who pauses mid-sentence for ``--pause-ms`` (500) is cut off when the policy waits no longer
than that: a **false cut-off** is an incomplete clip ended, a **missed end** a complete clip not ended;
**accuracy** counts both; the **mean wait** is the mean required silence after complete clips (what a
caller who is done waits, counted from their last word), and the **live** wait the same with the
segmenter's pause (``vad_pause_ms``, 200) as a floor: a call cannot end a turn before its segmenter has
closed the pause, so a policy asking for less gains nothing there. Targets (issue 27, held-out half): fusion's false
cut-offs no more than the text's, mean wait <= 150 ms (250 today); ``--tune`` keeps to both on the
tuning half and then asks for the fewest cut-offs. Writes
``benchmarks/results/end_of_turn_accuracy-*.json``.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from benchmarks.results_file import write_result
from callsim.turn_clips import TurnClip, split_half, turn_clips
from orchestrator.conversation.end_of_turn import EndOfTurnParams, TurnEnd, classify
from orchestrator.conversation.end_of_turn_fusion import (
    AudioVerdict,
    audio_verdict,
    required_silence_ms,
)
from orchestrator.conversation.speech_segmenter import SegmenterParams
from serving.turn_detector_engine import TurnDetector, TurnDetectorOptions

PAUSES_MS = (300, 500, 800)
LIVE_FLOOR_MS = float(SegmenterParams().pause_ms)
HALVES = ("all", "tuning", "held_out")


@dataclass(frozen=True)
class Scored:
    clip: TurnClip
    words: TurnEnd
    probability: float

    @property
    def half(self) -> str:
        return split_half(self.clip.sentence_id)


Policy = Callable[[Scored, EndOfTurnParams], float]


def text_policy(s: Scored, params: EndOfTurnParams) -> float:
    return params.silence_ms(s.words)


def audio_policy(s: Scored, params: EndOfTurnParams) -> float:
    """The model's band (``audio_verdict``) read as the words' verdicts are: done -> short."""
    band = {AudioVerdict.DONE: TurnEnd.COMPLETE, AudioVerdict.UNSURE: TurnEnd.UNSURE}
    return params.silence_ms(band.get(audio_verdict(s.probability, params), TurnEnd.MID_THOUGHT))


def fusion_policy(s: Scored, params: EndOfTurnParams) -> float:
    return required_silence_ms(s.words, s.probability, params)


POLICIES: dict[str, Policy] = {"text": text_policy, "audio": audio_policy, "fusion": fusion_policy}


def figures(
    scored: Sequence[Scored], policy: Policy, params: EndOfTurnParams, pause_ms: float
) -> dict[str, Any]:
    waits = [(s.clip.complete, policy(s, params)) for s in scored]
    complete = [w for done, w in waits if done]
    incomplete = [w for done, w in waits if not done]
    cut_offs = sum(w <= pause_ms for w in incomplete)
    missed = sum(w > pause_ms for w in complete)
    return {
        "clips": len(waits),
        "accuracy": round(1 - (cut_offs + missed) / max(1, len(waits)), 3),
        "false_cut_offs": cut_offs,
        "false_cut_off_rate": round(cut_offs / max(1, len(incomplete)), 3),
        "missed_ends": missed,
        "mean_wait_ms": round(statistics.fmean(complete), 1) if complete else None,
        # A live call cannot end a turn before the segmenter has closed the pause (``vad_pause_ms``).
        "mean_wait_live_ms": (
            round(statistics.fmean(max(w, LIVE_FLOOR_MS) for w in complete), 1)
            if complete
            else None
        ),
    }


def table(
    scored: Sequence[Scored], params: EndOfTurnParams, pause_ms: float
) -> dict[str, dict[str, Any]]:
    return {
        half: {
            name: figures([s for s in scored if half in ("all", s.half)], policy, params, pause_ms)
            for name, policy in POLICIES.items()
        }
        for half in HALVES
    }


WAIT_TARGET_MS = 150.0  # issue 27: mean wait after complete turns on the held-out half


def tune(scored: Sequence[Scored], base: EndOfTurnParams, pause_ms: float) -> EndOfTurnParams:
    """On the tuning half only: among settings within both targets (false cut-offs no more than the
    text rules', mean wait <= WAIT_TARGET_MS), the fewest false cut-offs, since callers mind being
    cut off most; ties: the least live wait, then mean wait. The base when none is within both."""
    tuning = [s for s in scored if s.half == "tuning"]
    allowed = figures(tuning, text_policy, base, pause_ms)["false_cut_offs"]
    best: tuple[int, float, float, EndOfTurnParams] | None = None
    grid = itertools.product(
        (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9),  # audio_done
        (0.05, 0.1, 0.2, 0.3),  # audio_more
        (0.0, 50.0, 100.0, 150.0),  # both_done_ms
    )
    for done, more, both in grid:
        if more >= done:
            continue
        params = replace(base, audio_done=done, audio_more=more, both_done_ms=both)
        f = figures(tuning, fusion_policy, params, pause_ms)
        if f["false_cut_offs"] > allowed or f["mean_wait_ms"] > WAIT_TARGET_MS:
            continue
        key = (f["false_cut_offs"], f["mean_wait_live_ms"], f["mean_wait_ms"], params)
        if best is None or key[:3] < best[:3]:
            best = key
    return best[3] if best is not None else base


def distributions(scored: Sequence[Scored]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for voice in sorted({s.clip.voice for s in scored}):
        for label, complete in (("complete", True), ("incomplete", False)):
            ps = sorted(
                s.probability
                for s in scored
                if s.clip.voice == voice and s.clip.complete == complete
            )
            out.setdefault(voice, {})[label] = {
                "n": len(ps),
                "median": round(statistics.median(ps), 3),
                "p10": round(ps[len(ps) // 10], 3),
                "p90": round(ps[min(len(ps) - 1, 9 * len(ps) // 10)], 3),
                "at_least_0.5": sum(p >= 0.5 for p in ps),
            }
    return out


def print_table(title: str, result: dict[str, dict[str, Any]]) -> None:
    print(f"\n{title}")
    print(
        f"{'half':<10}{'policy':<8}{'accuracy':>9}{'cut-offs':>10}{'missed':>8}"
        f"{'mean wait':>11}{'live':>8}"
    )
    for half, policies in result.items():
        for name, f in policies.items():
            cut = f"{f['false_cut_offs']}/{f['clips'] // 2}"
            print(
                f"{half:<10}{name:<8}{f['accuracy']:>9.3f}{cut:>10}{f['missed_ends']:>8}"
                f"{f['mean_wait_ms']:>9.0f}ms{f['mean_wait_live_ms']:>6.0f}ms"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pause-ms", type=float, default=500.0)
    parser.add_argument("--tune", action="store_true")
    parser.add_argument("--note", default="", help="what else ran on the machine")
    args = parser.parse_args()
    clips = turn_clips()
    detector = TurnDetector(TurnDetectorOptions())
    detector.probability(clips[0].audio)  # warm
    scored: list[Scored] = []
    latencies: list[float] = []
    for clip in clips:
        started = time.perf_counter()
        probability = detector.probability(clip.audio)
        latencies.append((time.perf_counter() - started) * 1000.0)
        scored.append(Scored(clip, classify(clip.transcript), probability))
    base = EndOfTurnParams()
    results: dict[str, Any] = {
        "pause_ms": args.pause_ms,
        "clips": len(scored),
        "by_half": {h: sum(h in ("all", s.half) for s in scored) for h in HALVES},
        "note": args.note,
        "default_params": asdict(base),
        "default": table(scored, base, args.pause_ms),
        "default_by_pause": {
            str(p): table(scored, base, p)["held_out"] for p in PAUSES_MS if p != args.pause_ms
        },
        "audio_classifier_accuracy": round(
            statistics.fmean((s.probability >= 0.5) == s.clip.complete for s in scored), 3
        ),
        "audio_distributions": distributions(scored),
        "per_voice_default": {
            voice: {
                name: figures([s for s in scored if s.clip.voice == voice], p, base, args.pause_ms)
                for name, p in POLICIES.items()
            }
            for voice in sorted({s.clip.voice for s in scored})
        },
        "latency_ms": {
            "p50": round(statistics.median(latencies), 1),
            "p95": round(sorted(latencies)[int(0.95 * len(latencies))], 1),
            "what": "TurnDetector.probability (features + ONNX), in-process, one thread",
        },
    }
    print_table(f"default parameters {asdict(base)}", results["default"])
    if args.tune:
        tuned = tune(scored, base, args.pause_ms)
        results["tuned_params"] = asdict(tuned)
        results["tuned"] = table(scored, tuned, args.pause_ms)
        print_table(f"tuned on the tuning half {asdict(tuned)}", results["tuned"])
    print(f"\naudio model alone, P >= 0.5 vs label: {results['audio_classifier_accuracy']}")
    for voice, d in results["audio_distributions"].items():
        print(f"  {voice:<16} complete {d['complete']}  incomplete {d['incomplete']}")
    print(f"latency per clip: {results['latency_ms']}")
    print(f"\nResults: {write_result('end_of_turn_accuracy', 'cpu', results)}")


if __name__ == "__main__":
    main()
