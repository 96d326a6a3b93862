"""Smart Turn v3.2 (pipecat-ai's audio end-of-turn model): the caller's last seconds of voice -> the
probability that their turn is complete. Unit-testable without Triton.

The weights are the ONNX file the ``pipecat-ai`` wheel ships (BSD-2-Clause; installed with
``--no-deps``: only the file is used, the package is never imported, its ``__init__`` wants the whole
framework). Features are Whisper's log-mel spectrogram, from transformers' ``WhisperFeatureExtractor``
with an 8 s window, as the model was trained: the audio's last 8 s, zero-padded at the *start* when
shorter (pipecat's ``LocalSmartTurnAnalyzerV3``), normalised to zero mean and unit variance -> 80 mel
bins x 800 frames. The model's output is already a probability (a sigmoid inside the graph, although
its output is named ``logits``).
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

RATE = 16_000
WINDOW_S = 8
WINDOW_SAMPLES = RATE * WINDOW_S
MEL_BINS = 80
FRAMES = 800  # 10 ms hop
# "<distribution>:<path inside it>" resolves to an installed package's file; anything else is a path.
DEFAULT_ONNX = "pipecat-ai:pipecat/audio/turn/smart_turn/data/smart-turn-v3.2-cpu.onnx"

FloatArray = npt.NDArray[np.float32]


class TurnAudioError(ValueError):
    """The request's audio is not what the model takes (a client error)."""


@dataclass(frozen=True)
class TurnDetectorOptions:
    onnx_path: str = DEFAULT_ONNX
    intra_op_threads: int = 1  # one inference is ~10-40 ms on one core; calls share the CPU
    num_workers: int = 2  # requests served at once (each with its own thread)


def resolve_onnx(spec: str) -> Path:
    """The ONNX file ``spec`` names: ``<distribution>:<path>`` inside an installed distribution."""
    distribution, sep, inner = spec.partition(":")
    if sep and not Path(spec).exists():
        try:
            path = Path(str(importlib.metadata.distribution(distribution).locate_file(inner)))
        except importlib.metadata.PackageNotFoundError as exc:
            raise FileNotFoundError(
                f"turn detector weights: package {distribution!r} is not installed "
                "(pip install --no-deps pipecat-ai==1.14.0)"
            ) from exc
    else:
        path = Path(spec)
    if not path.is_file():
        raise FileNotFoundError(f"turn detector weights not found: {path}")
    return path


def last_window(audio: FloatArray) -> FloatArray:
    """The last 8 s of ``audio``, zero-padded at the start to exactly 8 s."""
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)[-WINDOW_SAMPLES:]
    return np.pad(audio, (WINDOW_SAMPLES - audio.size, 0))


class TurnFeatures:
    """16 kHz audio -> the model's input, [1, 80, 800] float32."""

    def __init__(self) -> None:
        from transformers import WhisperFeatureExtractor

        self._extractor = WhisperFeatureExtractor(chunk_length=WINDOW_S)  # type: ignore[no-untyped-call]
        assert self._extractor.feature_size == MEL_BINS and self._extractor.nb_max_frames == FRAMES

    def __call__(self, audio: FloatArray) -> FloatArray:
        features = self._extractor(
            last_window(audio),
            sampling_rate=RATE,
            padding="max_length",
            max_length=WINDOW_SAMPLES,
            truncation=True,
            do_normalize=True,
            return_tensors="np",
        ).input_features
        return np.asarray(features, dtype=np.float32)


class TurnDetector:
    def __init__(self, options: TurnDetectorOptions) -> None:
        import onnxruntime as ort

        session_options = ort.SessionOptions()
        session_options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        session_options.inter_op_num_threads = 1
        session_options.intra_op_num_threads = options.intra_op_threads
        self._session = ort.InferenceSession(
            str(resolve_onnx(options.onnx_path)),
            sess_options=session_options,
            providers=["CPUExecutionProvider"],
        )
        (model_input,) = self._session.get_inputs()
        if model_input.name != "input_features" or list(model_input.shape[1:]) != [
            MEL_BINS,
            FRAMES,
        ]:
            raise ValueError(
                f"not a Smart Turn v3 graph: input {model_input.name}{model_input.shape}"
            )
        self._features = TurnFeatures()

    def probability(self, audio: FloatArray) -> float:
        """P(the turn is complete) for 16 kHz mono ``audio`` ending where the caller paused."""
        audio = np.asarray(audio, dtype=np.float32).reshape(-1)
        if audio.size == 0:
            raise TurnAudioError("audio is empty")
        if audio.size > WINDOW_SAMPLES:
            raise TurnAudioError(
                f"audio is {audio.size / RATE:.1f} s; the model hears <= {WINDOW_S} s"
            )
        (output,) = self._session.run(None, {"input_features": self._features(audio)})
        return float(np.asarray(output).reshape(-1)[0])
