"""Admission control and draining: how many calls this process takes, and graceful shutdown.

``CallAdmission`` counts the media streams in progress. The voice webhook asks ``has_room()`` before
answering with ``<Connect><Stream>`` (beyond the limit, or while draining, the caller hears a polite
``<Say>`` and the call ends: nothing is half started); the media WebSocket takes a slot with
``try_admit()`` and refuses the stream without one (close code 1013, "try again later"). A call
admitted by the webhook can still be refused at its stream when others took the last slots between
the two requests; Twilio then ends it, as after any closed stream.

``install_sigterm_drain`` (run from the app's lifespan under uvicorn) turns the first SIGTERM into a
drain: no new calls, the active ones go on until they end or ``drain_s`` passes; then uvicorn's own
shutdown closes what is left, and every session completes its recording files on the way out.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType

log = logging.getLogger(__name__)

SignalHandler = Callable[[int, FrameType | None], object]


class CallAdmission:
    """Slots for concurrent calls. Not thread-safe: use it from the app's event loop."""

    def __init__(self, max_calls: int) -> None:
        self.max_calls = max_calls
        self.active = 0
        self.draining = False
        self._idle = asyncio.Event()
        self._idle.set()

    def has_room(self) -> bool:
        return not self.draining and self.active < self.max_calls

    def try_admit(self) -> bool:
        """Take a slot for a new call; False when full or draining."""
        if not self.has_room():
            return False
        self.active += 1
        self._idle.clear()
        return True

    def release(self) -> None:
        """Give back the slot of an admitted call (once per successful ``try_admit``)."""
        self.active = max(0, self.active - 1)
        if self.active == 0:
            self._idle.set()

    async def wait_idle(self, timeout_s: float) -> bool:
        """True once no call is active, False if ``timeout_s`` passed first."""
        try:
            async with asyncio.timeout(timeout_s):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True


def install_sigterm_drain(admission: CallAdmission, drain_s: float) -> bool:
    """Chain a drain in front of the SIGTERM handler installed now (uvicorn's). Call it from the
    event loop's thread; returns False where it cannot apply (not the main thread, no Python-level
    handler installed: e.g. an embedded server that handles no signals)."""
    if threading.current_thread() is not threading.main_thread():
        return False
    previous = signal.getsignal(signal.SIGTERM)
    if not callable(previous):
        return False
    loop = asyncio.get_running_loop()
    pending: set[asyncio.Task[None]] = set()

    async def drain_then_exit() -> None:
        log.info("draining: %d active call(s), up to %.0f s", admission.active, drain_s)
        if await admission.wait_idle(drain_s):
            log.info("drained: no active calls")
        else:
            log.warning("drain timed out with %d active call(s); closing them", admission.active)
        previous(signal.SIGTERM, None)

    def start_drain() -> None:
        task = loop.create_task(drain_then_exit(), name="sigterm-drain")
        pending.add(task)
        task.add_done_callback(pending.discard)

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        if admission.draining:  # a second SIGTERM: shut down now
            previous(signum, frame)
            return
        admission.draining = True
        loop.call_soon_threadsafe(start_drain)

    signal.signal(signal.SIGTERM, on_sigterm)
    return True
