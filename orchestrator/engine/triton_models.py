"""The engine's :class:`~orchestrator.engine.models.Models` served by Triton: one gRPC channel per
process, shared by every call, one stream per cancellable request."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, replace

import tritonclient.grpc.aio as grpcclient_aio

from orchestrator import params
from orchestrator.engine.metrics import LlmRequestGauges
from orchestrator.engine.models import FloatArray, Heard, VadSession
from orchestrator.settings import Settings
from orchestrator.triton.connection import connect
from orchestrator.triton.llm_client import LlmClient, LlmDelta
from orchestrator.triton.request import RequestObserver
from orchestrator.triton.stt_client import SttClient
from orchestrator.triton.tts_client import ContextTurn, SpeechChunk, TtsClient
from orchestrator.triton.turn_detector_client import TurnDetectorClient
from orchestrator.triton.vad_stream import VadStream

log = logging.getLogger(__name__)

STT_MODEL = SttClient.model_name
TTS_MODEL = TtsClient.model_name


@dataclass(frozen=True)
class _Clients:
    channel: grpcclient_aio.InferenceServerClient
    stt: SttClient
    tts: TtsClient
    llm: LlmClient
    turn_detector: TurnDetectorClient


class TritonModels:
    def __init__(
        self,
        settings: Settings,
        observe: RequestObserver | None = None,
        llm_requests: LlmRequestGauges | None = None,
    ) -> None:
        self._settings = settings
        self._observe = observe  # told how each STT, LLM and TTS request ended
        self._llm_requests = llm_requests or LlmRequestGauges.create()  # the LLM's backlog
        self._clients: _Clients | None = None

    def _connected(self) -> _Clients:
        # Connected on first use, inside the server's event loop (a gRPC aio channel belongs to one).
        if self._clients is None:
            settings = self._settings
            channel = connect(settings.triton_url)
            observe = self._observe
            llm = LlmClient(
                channel,
                settings.llm_model,
                params.sampling_options(settings),
                settings.llm_first_token_timeout_ms / 1000.0,
                observe=observe,
            )
            stt = SttClient(channel, STT_MODEL, observe=observe)
            tts = TtsClient(channel, TTS_MODEL, observe=observe)
            turns = TurnDetectorClient(channel, settings.turn_detector_model, observe=observe)
            self._clients = _Clients(channel, stt, tts, llm, turns)
        return self._clients

    @property
    def speaker_id(self) -> int:
        return self._connected().tts.speaker_id

    def vad(self, call_id: str) -> AbstractAsyncContextManager[VadSession]:
        return VadStream(self._connected().channel, self._settings.vad_model, call_id=call_id)

    async def transcribe(self, audio: FloatArray, prompt: str, request_id: str) -> Heard:
        transcript = await self._connected().stt.transcribe(audio, prompt, request_id=request_id)
        return Heard(transcript.text, transcript.confidence)

    async def turn_end(self, audio: FloatArray, request_id: str) -> float:
        return await self._connected().turn_detector.probability(audio, request_id=request_id)

    async def generate(
        self,
        prompt: str,
        request_id: str,
        structured_outputs: str | None = None,
        max_tokens: int | None = None,
    ) -> AsyncGenerator[LlmDelta]:
        # Closing this generator early closes the stream at once (and cancels the request).
        llm = self._connected().llm
        sampling = None
        if structured_outputs is not None or max_tokens is not None:
            sampling = replace(
                llm.sampling,
                structured_outputs=structured_outputs,
                max_tokens=max_tokens or llm.sampling.max_tokens,
            )
        stream = llm.stream(prompt, sampling, request_id=request_id)
        with self._llm_requests.request() as request:
            async with contextlib.aclosing(stream) as deltas:
                async for delta in deltas:
                    request.responded()
                    yield delta

    async def speak(
        self, text: str, context: Sequence[ContextTurn], request_id: str
    ) -> AsyncIterator[SpeechChunk]:
        async for chunk in self._connected().tts.speak(text, context, request_id=request_id):
            yield chunk

    async def ready(self, timeout_s: float = 2.0) -> bool:
        # Not the turn detector: without it the words alone end turns (the engine logs its failures).
        models = (self._settings.vad_model, STT_MODEL, self._settings.llm_model, TTS_MODEL)
        channel = self._connected().channel
        try:
            async with asyncio.timeout(timeout_s):
                return all(await asyncio.gather(*(channel.is_model_ready(m) for m in models)))
        except Exception as exc:
            log.warning("Triton not ready at call start: %s", exc)
            return False

    async def aclose(self) -> None:
        if self._clients is not None:
            await self._clients.channel.close()
            self._clients = None
