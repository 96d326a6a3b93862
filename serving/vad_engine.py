"""Silero VAD on onnxruntime, with the per-call state passed in and out explicitly.

The engine keeps no per-call state: a request carries the previous response's ``next_state`` (an opaque
float32 vector: the model's RNN state followed by the last 64 samples of audio, which Silero v5 prepends
to each 512-sample window as context). This makes interleaved calls unable to mix state by construction,
lets any model instance (or any of several tritonservers) serve any window, and survives a Triton restart:
the call's state lives with the call.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 16_000
WINDOW = 512  # samples per window at 16 kHz = 32 ms
CONTEXT = 64  # samples of the previous window that Silero v5 sees before each window
RNN_STATE_SHAPE = (2, 1, 128)
STATE_SIZE = 2 * 128 + CONTEXT
WARM_UP_WINDOWS = 8  # processed once when the model loads

FloatArray = npt.NDArray[np.float32]


class VadInputError(ValueError):
    """The request's audio or state cannot be processed; the message says why."""


@dataclass(frozen=True)
class VadOptions:
    """The ``silero_vad`` model's parameters (serving/model_parameters.py); the defaults are production's."""

    model_path: Path | None = None  # None (empty in config.pbtxt): the ONNX file silero-vad ships
    max_windows: int = 64  # per request (2 s)
    # One thread: a window takes ~0.1 ms, and more threads would only fight other calls for cores.
    threads: int = 1


def packaged_model_path() -> Path:
    """``silero_vad.onnx`` as shipped by the ``silero-vad`` package (located without importing it,
    since the package's ``__init__`` imports torch)."""
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the silero-vad package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "silero_vad.onnx"


def initial_state() -> FloatArray:
    return np.zeros(STATE_SIZE, dtype=np.float32)


class SileroVadEngine:
    """Speech probability per 512-sample window of 16 kHz audio."""

    def __init__(
        self,
        model_path: Path | None = VadOptions.model_path,
        threads: int = VadOptions.threads,
        max_windows: int = VadOptions.max_windows,
    ) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        path = model_path or packaged_model_path()
        self._session = onnxruntime.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self.max_windows = max_windows
        self._sr = np.array(SAMPLE_RATE, dtype=np.int64)

    def validate(
        self, audio: npt.NDArray[np.generic], state: npt.NDArray[np.generic] | None
    ) -> None:
        if audio.dtype != np.float32:
            raise VadInputError(f"audio must be float32, got {audio.dtype}")
        if audio.ndim != 1 or audio.size == 0 or audio.size % WINDOW:
            raise VadInputError(
                f"audio must be a 1-D multiple of {WINDOW} samples (16 kHz, 32 ms windows), "
                f"got shape {audio.shape}"
            )
        if audio.size // WINDOW > self.max_windows:
            raise VadInputError(
                f"at most {self.max_windows} windows per request, got {audio.size // WINDOW}"
            )
        if not np.isfinite(audio).all():
            raise VadInputError("audio contains NaN or infinity")
        if state is not None:
            if state.dtype != np.float32 or state.shape != (STATE_SIZE,):
                raise VadInputError(
                    f"state must be the float32 [{STATE_SIZE}] next_state of a previous response "
                    f"(omit it on a call's first request), got {state.dtype} {state.shape}"
                )
            if not np.isfinite(state).all():
                raise VadInputError(
                    "state contains NaN or infinity: not a state this model produced"
                )

    def process(
        self, audio: npt.NDArray[np.generic], state: npt.NDArray[np.generic] | None = None
    ) -> tuple[FloatArray, FloatArray]:
        """Probabilities for each window of ``audio``, and the state to pass with the next audio."""
        self.validate(audio, state)
        current = initial_state() if state is None else state.astype(np.float32, copy=False)
        rnn = current[: 2 * 128].reshape(RNN_STATE_SHAPE)
        context = current[2 * 128 :]
        windows = audio.astype(np.float32, copy=False).reshape(-1, WINDOW)
        probs = np.empty(len(windows), dtype=np.float32)
        for i, window in enumerate(windows):
            framed = np.concatenate([context, window])[np.newaxis, :]
            out, rnn = self._session.run(None, {"input": framed, "state": rnn, "sr": self._sr})
            probs[i] = out[0, 0]
            context = window[-CONTEXT:]
        next_state = np.concatenate([np.asarray(rnn, dtype=np.float32).reshape(-1), context])
        return probs, next_state.astype(np.float32, copy=False)

    def warm_up(self) -> None:
        """A few windows through the model: onnxruntime's first runs are not a caller's."""
        windows = min(WARM_UP_WINDOWS, self.max_windows)
        self.process(np.zeros(windows * WINDOW, dtype=np.float32))
