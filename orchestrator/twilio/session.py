"""One Twilio media stream: inbound events -> the call's handler, recording and event log.

``MediaStreamSession`` knows no sockets: it takes WebSocket text messages (``receive_text``) and
writes through the ``send_text``/``close_transport`` callables it was given;
:mod:`orchestrator.twilio.transport` is the thin shell between a Starlette WebSocket and it.

Bad input never raises out of ``receive_text``: each case is logged (one line, with the call SID),
counted in ``cc_bad_messages{reason}``, written to the call's JSONL once the call has started, and
the message is dropped; the session carries on. Only ``stop``, an unsupported media format, a
stream that floods media far beyond real time (:mod:`~orchestrator.twilio.media_budget`), or the
transport going away end it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from enum import Enum

import numpy as np
import numpy.typing as npt

from orchestrator.call_handler import (
    CallHandler,
    CallInfo,
    ChunkPlayout,
    HandlerFactory,
    JsonValue,
    StopReason,
)
from orchestrator.edge_options import SessionOptions
from orchestrator.logging_setup import call_sid_var
from orchestrator.twilio.audio import TWILIO_RATE, InboundAudio
from orchestrator.twilio.call_control import CallControl, CallControlFailed, dial_twiml
from orchestrator.twilio.call_files import call_stem
from orchestrator.twilio.event_log import CallEventLog
from orchestrator.twilio.media_budget import MediaBudget, MediaVerdict
from orchestrator.twilio.metrics import EdgeMetrics
from orchestrator.twilio.outbound_stream import OutboundStream, OutputClosed
from orchestrator.twilio.playout import MarkOutcome, PlayoutTracker
from orchestrator.twilio.recording import StereoRecorder
from orchestrator.twilio.serializer import (
    Connected,
    Dtmf,
    MalformedMessage,
    Mark,
    Media,
    Start,
    Stop,
    UnknownEvent,
    parse_inbound,
)

log = logging.getLogger(__name__)

# Recording positions this far behind the call clock are final: late caller frames (network jitter)
# still land in place, and a crash loses at most this plus one flush interval.
RECORDING_HOLD_MS = 500
# Bad-input details quote the sender's text: this much at most per log line.
MAX_DETAIL_CHARS = 200
# Caller audio is placed in the recording by its timestamp: one from further ahead of the call clock
# (or before the call began) is refused, so a forged timestamp cannot make the recorder allocate
# memory for hours of silence.
MAX_MEDIA_AHEAD_MS = 5000


class SessionState(Enum):
    AWAITING_START = "awaiting_start"
    STREAMING = "streaming"
    ENDED = "ended"


class MediaStreamSession:
    """Implements ``CallOutput`` for its handler once ``start`` has arrived."""

    def __init__(
        self,
        handler_factory: HandlerFactory,
        options: SessionOptions,
        send_text: Callable[[str], Awaitable[None]],
        close_transport: Callable[[], Awaitable[None]],
        metrics: EdgeMetrics,
        clock: Callable[[], float] = time.monotonic,
        call_control: CallControl | None = None,
    ) -> None:
        self.state = SessionState.AWAITING_START
        self._call_control = call_control
        self._handler_factory = handler_factory
        self._options = options
        self._send_text = send_text
        self._close_transport = close_transport
        self._metrics = metrics
        self._clock = clock
        self._handler: CallHandler | None = None
        self._outbound: OutboundStream | None = None
        self._inbound = InboundAudio(options.outbound.resampler_quality)
        self._recorder: StereoRecorder | None = None
        self._events: CallEventLog | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._started_at = 0.0
        self._hung_up = False
        self._transferred = False
        self._lead_reported_ms = 0.0
        self._media_budget = MediaBudget(options.media_budget, clock())
        self._flood_logged = False
        self.call: CallInfo | None = None
        self._over: StopReason | None = None  # why the stream is over, once it is

    # ---- inbound ----------------------------------------------------------------------------

    async def receive_text(self, text: str) -> StopReason | None:
        """Handle one message. None: the stream goes on; else it is over and the pump should end,
        for that reason: ``STOPPED`` (Twilio's ``stop``; a ``start`` whose SIDs or media format we
        cannot serve) or ``REFUSED`` (the edge closes a stream that broke its rules: a media flood)."""
        if self.state is SessionState.ENDED:
            return self._over or StopReason.STOPPED
        if len(text) > self._options.max_message_bytes:
            self._reject("oversized", f"message of {len(text)} bytes dropped")
            return None
        try:
            event = parse_inbound(text)
        except MalformedMessage as error:
            self._reject("malformed", str(error))
            return None
        over: StopReason | None = None
        if isinstance(event, Media):
            over = await self._on_media(event)
        elif isinstance(event, Mark):
            await self._on_mark(event)
        elif isinstance(event, Start):
            over = await self._on_start(event)
        elif isinstance(event, Dtmf):
            await self._on_dtmf(event)
        elif isinstance(event, Stop):
            self._log_event("stop", {})
            log.info("stream stopped by Twilio")
            over = StopReason.STOPPED
        elif isinstance(event, Connected):
            log.info("stream connected (protocol %s %s)", event.protocol, event.version)
        elif isinstance(event, UnknownEvent):
            self._reject("unknown_event", f"unknown event {event.event!r} ignored")
        self._over = self._over or over
        return over

    def receive_binary(self, size: int) -> None:
        self._reject("binary", f"binary message of {size} bytes ignored (Twilio sends text)")

    async def _on_start(self, start: Start) -> StopReason | None:
        if self.state is not SessionState.AWAITING_START:
            self._reject("second_start", f"second start (stream {start.stream_sid}) ignored")
            return None
        try:  # SIDs name the recording files: only Twilio's form, never a path
            stem = call_stem(self._options.recordings_dir, start.call_sid, start.stream_sid)
        except ValueError as error:
            self._reject("bad_sid", f"{error}: {start.call_sid!r}, {start.stream_sid!r}")
            log.error("start with an invalid call or stream SID; ending the stream")
            return StopReason.STOPPED
        call_sid_var.set(start.call_sid)
        fmt = start.media_format
        if (fmt.encoding, fmt.sample_rate, fmt.channels) != ("audio/x-mulaw", TWILIO_RATE, 1):
            log.error("unsupported media format %s; ending the stream", fmt)
            return StopReason.STOPPED
        self.call = CallInfo(
            call_sid=start.call_sid,
            stream_sid=start.stream_sid,
            account_sid=start.account_sid,
            custom_parameters=dict(start.custom_parameters),
        )
        self._recorder = StereoRecorder(stem.with_suffix(".wav"))
        self._events = CallEventLog(stem.with_suffix(".jsonl"))
        self._started_at = self._clock()
        self._outbound = OutboundStream(
            start.stream_sid,
            self._options.outbound,
            self._send_text,
            self._record_heard,
            self._metrics,
            self._clock,
        )
        self.state = SessionState.STREAMING
        self._metrics.calls_active.inc()
        self._metrics.calls_total.inc()
        self._log_event(
            "start",
            {"stream_sid": start.stream_sid, "parameters": dict(start.custom_parameters)},
        )
        log.info("stream %s started; recording to %s", start.stream_sid, stem)
        self._tasks = [
            asyncio.create_task(self._outbound.run(), name=f"outbound-{start.stream_sid}"),
            asyncio.create_task(self._flush_recording(), name=f"recording-{start.stream_sid}"),
        ]
        self._handler = self._handler_factory()
        await self._handler.on_start(self.call, self)
        return None

    async def _on_media(self, media: Media) -> StopReason | None:
        if self.state is not SessionState.STREAMING or self._handler is None:
            self._reject("media_before_start", "media before start dropped")
            return None
        if len(media.payload) > self._options.max_media_bytes:
            self._reject("oversized", f"media payload of {len(media.payload)} bytes dropped")
            return None
        if media.track not in ("inbound", "inbound_track"):
            self._reject("wrong_track", f"media on track {media.track!r} dropped")
            return None
        ahead_ms = media.timestamp_ms - (self._clock() - self._started_at) * 1000.0
        if media.timestamp_ms < 0 or ahead_ms > MAX_MEDIA_AHEAD_MS:
            self._reject("bad_timestamp", f"media timestamp {media.timestamp_ms} ms dropped")
            return None
        audio_ms = len(media.payload) * 1000.0 / TWILIO_RATE
        verdict = self._media_budget.admit(audio_ms, self._clock())
        if verdict is not MediaVerdict.ACCEPT:
            return self._on_flood(verdict)
        started = time.perf_counter()
        pcm8k, pcm16k = self._inbound.convert(media.payload)
        self._metrics.codec_seconds.labels("in").observe(time.perf_counter() - started)
        self._metrics.media_frames_in.inc()
        assert self._recorder is not None
        self._recorder.put_caller(media.timestamp_ms * TWILIO_RATE // 1000, pcm8k)
        await self._handler.on_audio(pcm16k)
        return None

    def _on_flood(self, verdict: MediaVerdict) -> StopReason | None:
        """Media beyond the stream's budget: dropped (one log line per call, every frame counted);
        once too much was dropped, the stream ends."""
        self._metrics.bad_messages.labels("flood").inc()
        dropped_ms = self._media_budget.dropped_ms
        if verdict is MediaVerdict.CLOSE:
            log.error("media flood: %.0f ms of audio dropped; closing the stream", dropped_ms)
            self._log_event("bad_input", {"reason": "flood", "detail": "stream closed"})
            return StopReason.REFUSED
        if not self._flood_logged:
            self._flood_logged = True
            log.warning("bad input (flood): media faster than real time dropped")
            self._log_event("bad_input", {"reason": "flood", "detail": "media dropped"})
        return None

    async def _on_mark(self, mark: Mark) -> None:
        if self._outbound is None or self._handler is None:
            self._reject("mark_before_start", f"mark {mark.name!r} before start dropped")
            return
        ack = self._outbound.mark_received(mark.name)
        if ack.outcome is MarkOutcome.UNKNOWN:
            self._reject("unknown_mark", f"mark {mark.name!r} matches nothing sent")
            return
        for chunk in ack.played:
            self._log_event("mark", {"mark": chunk.mark, "label": chunk.label})
            await self._handler.on_mark_played(chunk)

    async def _on_dtmf(self, dtmf: Dtmf) -> None:
        if self._handler is None:
            self._reject("dtmf_before_start", f"dtmf {dtmf.digit!r} before start dropped")
            return
        self._log_event("dtmf", {"digit": dtmf.digit})
        await self._handler.on_dtmf(dtmf.digit)

    def _reject(self, reason: str, detail: str) -> None:
        if len(detail) > MAX_DETAIL_CHARS:
            detail = detail[:MAX_DETAIL_CHARS] + f"... ({len(detail)} chars)"
        log.warning("bad input (%s): %s", reason, detail)
        self._metrics.bad_messages.labels(reason).inc()
        self._log_event("bad_input", {"reason": reason, "detail": detail})

    # ---- CallOutput -------------------------------------------------------------------------

    @property
    def playout(self) -> PlayoutTracker:
        return self._require_outbound().tracker

    async def send_audio(
        self,
        pcm: npt.NDArray[np.int16] | npt.NDArray[np.float32],
        sample_rate: int,
        label: str,
        *,
        end_of_segment: bool = True,
    ) -> str:
        return await self._require_outbound().send_audio(
            pcm, sample_rate, label, end_of_segment=end_of_segment
        )

    async def clear(self) -> tuple[ChunkPlayout, ...]:
        cut = await self._require_outbound().clear()
        heard = [{"mark": c.mark, "label": c.label, "heard_ms": round(c.played_ms, 1)} for c in cut]
        self._log_event("clear", {"cut": heard})  # type: ignore[dict-item]
        return cut

    async def hang_up(self) -> None:
        self._hung_up = True
        self._log_event("hang_up", {})
        if self._call_control is not None and self.call is not None:
            try:
                await self._call_control.complete(self.call.call_sid)
            except CallControlFailed as exc:  # closing the stream below still ends the call
                log.warning("%s", exc)
        await self._close_transport()

    async def transfer(self, number: str) -> None:
        if self._call_control is None or self.call is None:
            raise CallControlFailed("no Twilio REST client: set CC_TWILIO_ACCOUNT_SID/AUTH_TOKEN")
        self._log_event("transfer", {"to": number})
        await self._call_control.redirect(self.call.call_sid, dial_twiml(number))
        self._transferred = True
        await self._close_transport()

    def log_event(self, event: str, fields: Mapping[str, JsonValue] | None = None) -> None:
        self._log_event(event, fields or {})

    @property
    def hung_up(self) -> bool:
        """The handler ended the call (so the socket closing is expected)."""
        return self._hung_up

    def _require_outbound(self) -> OutboundStream:
        if self._outbound is None:
            raise OutputClosed("the stream has not started")
        return self._outbound

    # ---- lifecycle --------------------------------------------------------------------------

    async def end(self, reason: StopReason) -> StopReason:
        """Finish the call: stop sending, tell the handler, complete the files. Idempotent.

        Cancelling it (e.g. the server shutting down) still completes the files."""
        if self.state is SessionState.ENDED:
            return reason
        was_streaming = self.state is SessionState.STREAMING
        self.state = SessionState.ENDED
        if self._transferred and reason is not StopReason.ERROR:
            reason = StopReason.TRANSFERRED
        elif self._hung_up and reason is not StopReason.ERROR:
            reason = StopReason.HUNG_UP
        if not was_streaming:
            log.info("stream ended before start (%s)", reason.value)
            return reason
        for task in self._tasks:
            task.cancel()
        assert self._outbound is not None and self._recorder is not None
        try:
            await asyncio.wait(self._tasks)
            self._outbound.close()
            if self._handler is not None:
                try:
                    await self._handler.on_stop(reason)
                except Exception:
                    log.exception("handler failed in on_stop")
        finally:
            self._outbound.close()
            self._log_event(
                "end", {"reason": reason.value, "late_samples": self._recorder.late_samples}
            )
            self._recorder.close()
            if self._events is not None:
                self._events.close()
            self._metrics.calls_active.dec()
            self._metrics.outbound_lead_ms.dec(self._lead_reported_ms)
            log.info("stream ended (%s)", reason.value)
        return reason

    # ---- recording --------------------------------------------------------------------------

    def _position(self, at: float) -> int:
        return round((at - self._started_at) * TWILIO_RATE)

    def _record_heard(self, started_at: float, offset: int, pcm: npt.NDArray[np.int16]) -> None:
        if self._recorder is not None:
            self._recorder.put_agent(self._position(started_at) + offset, pcm)

    def _log_event(self, event: str, fields: Mapping[str, JsonValue]) -> None:
        if self._events is not None:
            t_ms = (self._clock() - self._started_at) * 1000.0
            self._events.write(t_ms, event, fields)

    async def _flush_recording(self) -> None:
        assert self._recorder is not None and self._outbound is not None
        hold = RECORDING_HOLD_MS * TWILIO_RATE // 1000
        while True:
            await asyncio.sleep(self._options.recording_flush_ms / 1000.0)
            self._outbound.record_progress()
            self._recorder.commit(self._position(self._clock()) - hold)
            lead = self._outbound.tracker.unplayed_ms()
            self._metrics.outbound_lead_ms.inc(lead - self._lead_reported_ms)
            self._lead_reported_ms = lead
