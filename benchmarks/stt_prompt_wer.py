"""How to prompt Whisper with the call so far: word error rate of each prompt mode.

    .venv/bin/python -m benchmarks.stt_prompt_wer              # 3 runs (~4 min on 2 cores)
    .venv/bin/python -m benchmarks.stt_prompt_wer --repeats 1  # one run (~1.5 min)

The conversation engine passes Whisper a prompt made of earlier turns. Whisper tiny.en tends to copy
that prompt into the caller's transcript (the agent said "I'm a food delivery service.", the caller
said "Great, thank you. Goodbye." and the transcript began with "service."). This benchmark scores the
three ways of building the prompt:

- ``none``: no prompt;
- ``caller``: the caller's earlier turns only;
- ``full``: every earlier turn, agent and caller.

The prompt is built by the engine's own ``stt_prompt`` (the setting ``stt_prompt`` picks the mode). Earlier caller turns are their reference text (not a
transcript), so every mode sees the same history.

Inputs: the caller turns of a scripted restaurant call (``SCRIPT``), spoken by Piper's joe voice and by
espeak-ng, put through the phone path (16 kHz -> 8 kHz -> mu-law -> 16 kHz, the project's own code) with
the engine's pre/post roll of silence, and transcribed in-process by ``serving/stt_engine.py`` with the
CPU profile's options (Whisper tiny.en, int8). Production's distil-large-v3 needs a GPU: not measured.

faster-whisper falls back to sampling (temperature > 0) on a poor decode, so runs differ: every pass
is made ``--repeats`` times. Figures per voice and mode: the mean WER over the runs (a run's WER: the
word-level Levenshtein distances over normalised words, summed over the utterances, over the words
said); how many transcripts hold 3+ consecutive words of an earlier agent turn that the caller did not
say ("copied agent words"); how many have more words than the caller said ("extra words": a copied
"service." or a hallucinated "Thank you." tail). Writes ``benchmarks/results/stt_prompt_wer-*.json``.
"""

from __future__ import annotations

import argparse
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from benchmarks.results_file import write_result
from orchestrator.conversation.prompts import Role, Turn
from orchestrator.conversation.stt_prompt import SttPrompt, stt_prompt
from orchestrator.engine.conversation import STT_PROMPT_CHARS

if TYPE_CHECKING:
    from serving.stt_engine import SttEngine

AGENT, CALLER = "agent", "caller"
MODES = tuple(mode.value for mode in SttPrompt)
PRE_ROLL_S, POST_ROLL_S = 0.2, 0.1  # the engine's PRE_ROLL_MS / POST_ROLL_MS around the speech
COPY_WORDS = 3

FloatArray = npt.NDArray[np.float32]

# A restaurant call; the agent turns include slips an over-eager STT could copy into the caller's words.
SCRIPT: tuple[tuple[str, str], ...] = (
    (AGENT, "Hello, thanks for calling Luigi's. How can I help you today?"),
    (CALLER, "Hi, what time do you open tomorrow?"),
    (AGENT, "We open at eleven in the morning and close at ten at night."),
    (CALLER, "And are you open on Sunday?"),
    (AGENT, "Yes, on Sunday we are open from noon until nine."),
    (CALLER, "I would like to book a table for four at seven thirty."),
    (AGENT, "Of course. What name should I put the booking under?"),
    (CALLER, "Under the name Dana."),
    (AGENT, "Thank you, Dana. Your table for four at seven thirty is booked."),
    (CALLER, "Do you have any vegetarian dishes?"),
    (AGENT, "Yes, we have a mushroom risotto and a vegetable lasagna."),
    (CALLER, "One of us has a nut allergy. Is that a problem?"),
    (AGENT, "I'm unable to help with your wine."),
    (CALLER, "No, I said a nut allergy."),
    (AGENT, "Sorry about that. Our kitchen can make every dish without nuts."),
    (CALLER, "Can I also order food for delivery?"),
    (AGENT, "Yes, we deliver within five miles."),
    (CALLER, "How long does it take?"),
    (AGENT, "Delivery usually takes about forty minutes."),
    (CALLER, "Can I leave my phone number?"),
    (AGENT, "Sure, go ahead."),
    (CALLER, "It's five five five, two one three, four eight seven nine."),
    (AGENT, "Thank you. Would you like a confirmation text?"),
    (CALLER, "Yes, please."),
    (AGENT, "Done. Is there anything else?"),
    (CALLER, "Is there parking near the restaurant?"),
    (AGENT, "There is a free car park behind the building."),
    (CALLER, "Could we have a table by the window?"),
    (AGENT, "I have noted a window table for your party of four."),
    (AGENT, "Is there anything else I can help you with today?"),
    (CALLER, "No, that's everything."),
    (AGENT, "I'm a food delivery service."),  # the slip seen in a call, then this caller turn
    (CALLER, "Great, thank you. Goodbye."),
)


# -- scoring (pure) -----------------------------------------------------------------------------------
_UNDER_20 = (  # noqa: SIM905
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()  # noqa: SIM905


def _number_words(digits: str) -> list[str]:
    """0-99 as words ("45" -> forty five); longer digit strings digit by digit (phone numbers)."""
    if len(digits) > 2:
        return [_UNDER_20[int(d)] for d in digits]
    value = int(digits)
    if value < 20:
        return [_UNDER_20[value]]
    tens, ones = divmod(value, 10)
    return [_TENS[tens]] + ([_UNDER_20[ones]] if ones else [])


def normalise(text: str) -> list[str]:
    """Lowercase words without punctuation or apostrophes; digit runs as words ("7:30" -> seven
    thirty, "555-2134" -> five five five two one three four)."""
    words: list[str] = []
    for token in re.sub(r"[^a-z0-9]+", " ", text.lower().replace("'", "")).split():
        for part in re.findall(r"\d+|[a-z]+", token):
            words.extend(_number_words(part) if part.isdigit() else [part])
    return words


def edit_distance(reference: Sequence[str], hypothesis: Sequence[str]) -> int:
    """Word-level Levenshtein distance: substitutions + deletions + insertions."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref in enumerate(reference, start=1):
        current = [i]
        for j, hyp in enumerate(hypothesis, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref != hyp)))
        previous = current
    return previous[-1]


def wer(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Corpus WER: edit distances summed over the pairs / reference words summed."""
    errors = sum(
        edit_distance(normalise(r), normalise(h))
        for r, h in zip(references, hypotheses, strict=True)
    )
    words = sum(len(normalise(r)) for r in references)
    return errors / words if words else 0.0


def _ngrams(words: Sequence[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def copied_agent_words(
    transcript: str, said: str, agent_turns: Iterable[str], n: int = COPY_WORDS
) -> list[str]:
    """Runs of ``n`` consecutive transcript words that occur in an agent turn but not in what the
    caller ``said`` (empty when nothing was copied)."""
    agent = set().union(*(_ngrams(normalise(t), n) for t in agent_turns))
    copied = _ngrams(normalise(transcript), n) & agent - _ngrams(normalise(said), n)
    return sorted(" ".join(g) for g in copied)


def longer(transcript: str, said: str) -> bool:
    """Whether the transcript has more words than the caller said (a hallucinated "Thank you.")."""
    return len(normalise(transcript)) > len(normalise(said))


@dataclass(frozen=True)
class Case:
    said: str
    history: tuple[tuple[str, str], ...]  # (speaker, text) of the turns before it, oldest first

    def prompt(self, mode: str) -> str:
        """As the engine builds it (orchestrator/conversation/stt_prompt.py)."""
        turns = [Turn(Role.USER if who == CALLER else Role.ASSISTANT, t) for who, t in self.history]
        return stt_prompt(turns, SttPrompt(mode), STT_PROMPT_CHARS)

    @property
    def agent_turns(self) -> list[str]:
        return [text for who, text in self.history if who == AGENT]


def cases(script: Sequence[tuple[str, str]] = SCRIPT) -> list[Case]:
    return [Case(text, tuple(script[:i])) for i, (who, text) in enumerate(script) if who == CALLER]


# -- audio and transcription ----------------------------------------------------------------------
def phone_audio(speech16k: FloatArray) -> FloatArray:
    """The caller's 16 kHz speech as the STT gets it in a call: the engine's pre/post roll of silence,
    then 8 kHz mu-law and back to 16 kHz (benchmarks/stage_speed.py's phone path)."""
    from benchmarks.stage_speed import phone_path

    padded = np.concatenate(
        [np.zeros(int(16_000 * PRE_ROLL_S)), speech16k, np.zeros(int(16_000 * POST_ROLL_S))]
    )
    return phone_path(padded.astype(np.float32))


def voices() -> dict[str, Callable[[str], FloatArray]]:
    from callsim.voices import espeak_utterance, piper_available, piper_utterance

    found: dict[str, Callable[[str], FloatArray]] = {"espeak": espeak_utterance}
    if piper_available():
        found = {"piper": piper_utterance, **found}
    else:
        print("piper-tts not installed (extra 'piper-voice'): espeak-ng only")
    return found


def cpu_stt_engine() -> SttEngine:
    """The CPU profile's Whisper tiny.en, options as its Triton model reads them."""
    from benchmarks.stage_speed import profile_options
    from serving.speech_cpu_profile import stt_cpu_env
    from serving.stt_engine import SttEngine, SttOptions

    engine = SttEngine(profile_options("stt", SttOptions, dict(os.environ) | stt_cpu_env()))
    engine.warm_up()
    return engine


def transcribe(engine: SttEngine, audio: FloatArray, prompt: str) -> str:
    """The transcript as the orchestrator's SttClient joins the segments."""
    from serving.stt_engine import SttRequest

    segments = engine.transcribe(SttRequest(audio, language="en", prompt=prompt or None))
    return " ".join(s.text.strip() for s in segments if s.text.strip())


# -- report ---------------------------------------------------------------------------------------
def summarise(all_cases: Sequence[Case], runs: Sequence[Sequence[str]]) -> dict[str, Any]:
    """One voice and mode over the repeats: WER per run and its mean, and how many transcripts (of all
    runs) copied agent words or have extra words."""
    said = [c.said for c in all_cases]
    pairs = [(c, h) for heard in runs for c, h in zip(all_cases, heard, strict=True)]
    copies = [copied_agent_words(h, c.said, c.agent_turns) for c, h in pairs]
    wers = [wer(said, heard) for heard in runs]
    return {
        "wer": round(sum(wers) / len(wers), 4),
        "wer_runs": [round(w, 4) for w in wers],
        "transcripts": len(pairs),
        "copied": sum(1 for cp in copies if cp),
        "extra": sum(1 for c, h in pairs if longer(h, c.said)),
        "utterances": [
            {"said": c.said, "heard": h, "copied": cp}
            for (c, h), cp in zip(pairs, copies, strict=True)
        ],
    }


def format_table(rows: dict[str, dict[str, dict[str, Any]]]) -> str:
    lines = [
        f"{'voice':<8}{'prompt':<8}{'WER':>7}  {'(per run)':<22}{'copied agent':>13}{'extra':>8}"
    ]
    for voice, by_mode in rows.items():
        for mode, row in by_mode.items():
            runs = " ".join(f"{w:.1%}" for w in row["wer_runs"])
            n = row["transcripts"]
            lines.append(
                f"{voice:<8}{mode:<8}{row['wer']:>7.1%}  {runs:<22}"
                f"{row['copied']:>6} of {n:<3}{row['extra']:>5} of {n}"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="passes over the utterances")
    repeats = parser.parse_args().repeats
    all_cases = cases()
    started = time.perf_counter()
    engine = cpu_stt_engine()
    rows: dict[str, dict[str, dict[str, Any]]] = {}
    for voice, speak in voices().items():
        audios = [phone_audio(speak(c.said)) for c in all_cases]
        rows[voice] = {}
        for mode in MODES:
            runs = [
                [
                    transcribe(engine, a, c.prompt(mode))
                    for c, a in zip(all_cases, audios, strict=True)
                ]
                for _ in range(repeats)
            ]
            rows[voice][mode] = summarise(all_cases, runs)
    elapsed = time.perf_counter() - started
    print(format_table(rows))
    print("Transcripts that differ from what was said (x runs):")
    for voice, by_mode in rows.items():
        for mode, row in by_mode.items():
            wrong = Counter(
                (u["said"], u["heard"])
                for u in row["utterances"]
                if normalise(u["heard"]) != normalise(u["said"])
            )
            for (said, heard), count in wrong.items():
                print(f"  {voice}/{mode} x{count}: {said!r} -> {heard!r}")
    figures = {
        "stt": "whisper tiny.en int8 (CPU profile)",
        "prompt_chars": STT_PROMPT_CHARS,
        "repeats": repeats,
        "seconds": round(elapsed, 1),
        "results": rows,
    }
    print(f"{elapsed:.0f} s; wrote {write_result('stt_prompt_wer', 'cpu', figures)}")


if __name__ == "__main__":
    main()
