"""Every CSM request in one batched frame step: a fixed pool of slots, owned by one scheduler thread.

Request threads :meth:`FrameScheduler.submit` a :class:`Job` (a request's sentence prompts) and read its
``events``: one :class:`FrameAudio` per 80 ms frame, a :class:`SentenceEnd` after each sentence, then
:class:`JobEnd` (or the exception that ended it). The scheduler's thread owns the model: at each frame
boundary (:meth:`FrameScheduler.run_once`) it drops cancelled jobs, prefills waiting jobs into free slots
(a job joins the next step once its prompt is in), runs one step for every slot, and hands each slot its
frame. A sentence ends at its end-of-audio frame or after ``max_frames``; the job's next sentence is
prefilled into the same slot (Mimi's stream goes on, so sentences join as one decode), and after its
last the slot is freed. Active slots are kept in rows ``[0, n)``: a freed row takes the last one's state,
so a step runs ``n`` rows (or the smallest captured bucket that holds them).

A job cancelled by its reader leaves at the next boundary: within one frame step of the cancel.
Tests drive :meth:`run_once` themselves; :meth:`start` runs it on the scheduler's thread.
"""

from __future__ import annotations

import collections
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt
import torch

from serving.tts.contract import FloatArray
from serving.tts.csm_frame_step import CsmFrameStep
from serving.tts.csm_prompt import SentencePrompt

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FrameAudio:
    sentence: int  # index into the job's prompts
    samples: FloatArray  # the frame's audio, float32 on the host
    codes: npt.NDArray[np.int64]  # [codebooks]


@dataclass(frozen=True)
class SentenceEnd:
    sentence: int


@dataclass(frozen=True)
class JobEnd:
    pass


JobEvent = FrameAudio | SentenceEnd | JobEnd | BaseException


class Job:
    """One request: its sentences' prompts, the events its reader takes, and its cancellation."""

    def __init__(self, prompts: Sequence[SentencePrompt], max_frames: int) -> None:
        self.prompts = tuple(prompts)
        self.max_frames = max(1, max_frames)  # per sentence
        self.events: queue.Queue[JobEvent] = queue.Queue()
        self._cancelled = threading.Event()

    def cancel(self) -> None:
        """Leave at the next frame boundary (safe from any thread, any number of times)."""
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()


class StepRunner(Protocol):
    """Runs the frame step: eagerly, or by replaying the graph captured for its shape."""

    def shape(self, rows: int, kv_needed: int) -> tuple[int, int]:
        """The ``(rows, kv_len)`` to run for ``rows`` active slots whose furthest position is
        ``kv_needed - 1``."""
        ...

    def run(self, rows: int, kv_len: int) -> None: ...


@dataclass
class _Slot:
    job: Job
    sentence: int = 0
    frames: int = 0  # of the current sentence
    limit: int = 0  # frames the current sentence may have
    position: int = 0  # the backbone position the next step writes (host copy)


class FrameScheduler:
    """The slots, their jobs and the frame loop (see the module docstring)."""

    def __init__(
        self,
        step: CsmFrameStep,
        runner: StepRunner,
        embed: Callable[[SentencePrompt], torch.Tensor],
    ) -> None:
        self._step = step
        self._runner = runner
        self.embed = embed
        self._slots: list[_Slot] = []  # row i is self._slots[i]
        self._pending: collections.deque[Job] = collections.deque()
        self._work = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closing = False
        self.steps = 0  # frame steps run (tests, benchmarks)

    @property
    def capacity(self) -> int:
        return self._step.slots

    @property
    def active(self) -> int:
        return len(self._slots)

    def submit(self, job: Job) -> None:
        """Queue ``job``; it joins at a frame boundary once a slot is free."""
        with self._work:
            self._pending.append(job)
            self._work.notify()

    # -- the thread --------------------------------------------------------------------------------
    def start(self, name: str = "csm-frames") -> None:
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def close(self, timeout_s: float = 10.0) -> None:
        """Stop the thread; jobs still running end with an error event."""
        with self._work:
            self._closing = True
            self._work.notify()
        if self._thread is not None:
            self._thread.join(timeout_s)
        self._fail_all(RuntimeError("the TTS engine was closed"))

    def _loop(self) -> None:
        while not self._closing:
            try:
                busy = self.run_once()
            except Exception as exc:  # a failed step ends its jobs, not the engine
                log.exception("csm frame step failed")
                self._fail_all(exc)
                busy = False
            if not busy:
                with self._work:
                    if not self._pending and not self._closing:
                        self._work.wait(0.5)

    # -- one frame boundary ------------------------------------------------------------------------
    def run_once(self) -> bool:
        """Drop cancelled jobs, admit waiting ones, run one step; False if there was nothing to run."""
        # The step's tensors were made in inference mode: only there may they change.
        with torch.inference_mode():
            return self._boundary()

    def _boundary(self) -> bool:
        self._release([row for row, slot in enumerate(self._slots) if slot.job.cancelled], JobEnd())
        self._admit()
        count = len(self._slots)
        if not count:
            return False
        rows, kv_len = self._runner.shape(count, max(s.position for s in self._slots) + 1)
        self._runner.run(rows, kv_len)
        self.steps += 1
        codes = self._step.codes[:count].cpu().numpy()
        audio = self._step.codec.audio[:count].float().cpu().numpy()
        done: list[int] = []
        for row, slot in enumerate(self._slots):
            slot.position += 1
            frame = codes[row]
            if bool((frame[:-1] == self._step.eos).all()):
                self._next_sentence(row, slot, done)
                continue
            slot.job.events.put(FrameAudio(slot.sentence, audio[row].copy(), frame.copy()))
            slot.frames += 1
            if slot.frames >= slot.limit:
                self._next_sentence(row, slot, done)
        self._release(done, JobEnd())
        return True

    def _admit(self) -> None:
        while len(self._slots) < self.capacity:
            with self._work:
                if not self._pending:
                    return
                job = self._pending.popleft()
            if job.cancelled:
                job.events.put(JobEnd())
                continue
            row = len(self._slots)
            slot = _Slot(job)
            self._step.reset_row(row)
            self._slots.append(slot)
            self._mark_active()
            if not self._prefill(row, slot):
                self._release([row], None)

    def _prefill(self, row: int, slot: _Slot) -> bool:
        """The slot's current sentence into ``row``; False (the job has its error) if it cannot."""
        try:
            embeddings = self.embed(slot.job.prompts[slot.sentence])
            self._step.prefill(row, embeddings)
        except Exception as exc:
            slot.job.events.put(exc)
            return False
        tokens = embeddings.shape[1]
        slot.position = tokens
        slot.frames = 0
        slot.limit = min(slot.job.max_frames, self._step.max_positions - tokens)
        return True

    def _next_sentence(self, row: int, slot: _Slot, done: list[int]) -> None:
        slot.job.events.put(SentenceEnd(slot.sentence))
        slot.sentence += 1
        finished = slot.sentence >= len(slot.job.prompts) or slot.job.cancelled
        if finished or not self._prefill(row, slot):
            done.append(row)

    def _release(self, rows: list[int], event: JobEvent | None) -> None:
        """Free ``rows`` (their jobs get ``event``); the last active rows move into the holes."""
        for row in sorted(rows, reverse=True):
            if event is not None:
                self._slots[row].job.events.put(event)
            last = len(self._slots) - 1
            if row != last:
                self._step.move_row(last, row)
                self._slots[row] = self._slots[last]
            self._slots.pop()
        if rows:
            self._mark_active()

    def _mark_active(self) -> None:
        count = len(self._slots)
        self._step.active[:count] = True
        self._step.active[count:] = False

    def _fail_all(self, error: BaseException) -> None:
        with torch.inference_mode():
            self._release(list(range(len(self._slots))), error)
        with self._work:
            waiting, self._pending = list(self._pending), collections.deque()
        for job in waiting:
            job.events.put(error)
