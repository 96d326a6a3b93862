"""A started deployment proves itself in a minute, or names what is broken: ``triton/smoke_test.sh``.

Five checks in order, each timed and each independent of the ones before where it can be:

1. readiness: every model ready in Triton, and the orchestrator's ``/readyz`` (waited for);
2. tts: a caller's line synthesised (first chunk latency);
3. stt: that audio transcribed back (the transcript is printed; on silence if the TTS failed);
4. llm: one answer to a caller's question (first token and whole answer);
5. call: one simulated Twilio call through the orchestrator: the signed webhook, the signed media
   stream, the greeting heard, the caller's line played, the agent's reply heard.

Settings come from the orchestrator's own (``CC_*``: Triton address, prompt format, auth token).
Exit status 0 when every check passed; otherwise 1, with the failed checks named.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
import numpy as np
import numpy.typing as npt
import soxr
from grpc.aio import AioRpcError

from callsim.twilio_dialer import dial
from orchestrator.conversation.prompts import Role, Turn, build_prompt
from orchestrator.engine.triton_models import TritonModels
from orchestrator.settings import Settings, get_settings, system_prompt

CALLER_LINE = "Hi, what time do you open today?"
CALL_RATE = 8_000
STT_RATE = 16_000


@dataclass
class Check:
    name: str
    ok: bool
    ms: float
    detail: str


class SmokeTest:
    def __init__(self, settings: Settings, base_url: str, timeout_s: float) -> None:
        self.settings = settings
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.models = TritonModels(settings)
        self.checks: list[Check] = []
        self.waiting_for = ""  # what the running check waits for, named if it times out
        self.caller_audio: npt.NDArray[np.float32] = np.zeros(STT_RATE, np.float32)  # the TTS's

    async def run(self) -> bool:
        await self._check("readiness", self._readiness)
        await self._check("tts", self._tts)
        await self._check("stt", self._stt)
        await self._check("llm", self._llm)
        await self._check("call", self._call)
        await self.models.aclose()
        return all(check.ok for check in self.checks)

    async def _check(self, name: str, work: Callable[[], Awaitable[str]]) -> None:
        started = time.perf_counter()
        self.waiting_for = "an answer"
        try:
            async with asyncio.timeout(self.timeout_s):
                detail, ok = await work(), True
        except TimeoutError:
            detail, ok = (
                f"timed out after {self.timeout_s:.0f} s waiting for {self.waiting_for}",
                False,
            )
        except Exception as exc:  # each failure is reported, and the next check still runs
            message = exc.details() if isinstance(exc, AioRpcError) else str(exc)
            detail, ok = f"{type(exc).__name__}: {' '.join(str(message).split())[:300]}", False
        check = Check(name, ok, 1000.0 * (time.perf_counter() - started), detail)
        self.checks.append(check)
        print(f"{'ok' if ok else 'FAILED':6} {name:10} {check.ms:8.0f} ms  {detail}", flush=True)

    async def _readiness(self) -> str:
        """Waits (up to the check's timeout) while the models load and the orchestrator warms up."""
        self.waiting_for = "Triton's models to be ready"
        while not await self.models.ready():  # noqa: ASYNC110 - polling a remote server
            await asyncio.sleep(1.0)
        self.waiting_for = f"{self.base_url}/readyz"
        async with httpx.AsyncClient(timeout=10.0) as client:
            while (await client.get(f"{self.base_url}/readyz")).status_code != 200:  # noqa: ASYNC110
                await asyncio.sleep(1.0)
        return "Triton's models and the orchestrator are ready"

    async def _tts(self) -> str:
        started = time.perf_counter()
        first_ms, chunks = None, []
        async for chunk in self.models.speak(CALLER_LINE, [], request_id=_request_id("tts")):
            first_ms = first_ms or 1000.0 * (time.perf_counter() - started)
            chunks.append(soxr.resample(chunk.audio, chunk.sample_rate, STT_RATE))
        if not chunks:
            raise RuntimeError("no audio")
        self.caller_audio = np.concatenate(chunks).astype(np.float32)
        seconds = self.caller_audio.size / STT_RATE
        return f"first chunk after {first_ms:.0f} ms, {seconds:.1f} s of audio"

    async def _stt(self) -> str:
        heard = await self.models.transcribe(self.caller_audio, "", request_id=_request_id("stt"))
        return f"heard {heard.text.strip()!r} (said {CALLER_LINE!r})"

    async def _llm(self) -> str:
        settings = self.settings
        prompt = build_prompt(
            settings.llm_prompt_format, system_prompt(settings), [Turn(Role.USER, CALLER_LINE)]
        )
        started = time.perf_counter()
        first_ms, text = None, ""
        async for delta in self.models.generate(prompt, request_id=_request_id("llm")):
            first_ms = first_ms or 1000.0 * (time.perf_counter() - started)
            text += delta.text
        if not text.strip():
            raise RuntimeError("an empty answer")
        return f"first token after {first_ms:.0f} ms: {text.strip()[:120]!r}"

    async def _call(self) -> str:
        call_sid = "CA" + uuid.uuid4().hex
        auth_token = self.settings.twilio_auth_token
        phone = await dial(self.base_url, call_sid, auth_token=auth_token)
        connected = time.perf_counter()
        await phone.connect()
        try:
            await self._until(lambda: bool(phone.log.media_arrivals), "the greeting")
            greeting_ms = 1000.0 * (time.perf_counter() - connected)
            loop = asyncio.get_running_loop()
            # Speak once the greeting has played, as a caller would.
            await self._until(lambda: loop.time() >= phone.log.played[-1].start + 0.5, "silence")
            spoken = soxr.resample(self.caller_audio, STT_RATE, CALL_RATE)
            pcm = np.clip(spoken * 32767, -32768, 32767).astype(np.int16)
            silence = np.zeros(CALL_RATE, np.int16)
            sent = await phone.send_audio_realtime(np.concatenate([pcm, silence]))
            stopped = sent[len(pcm) // 160 - 1]  # the caller's last voiced frame
            await self._until(
                lambda: any(t > stopped for t, _ in phone.log.media_arrivals), "the reply"
            )
            reply_at = next(t for t, _ in phone.log.media_arrivals if t > stopped)
        finally:
            if not phone.closed.is_set():
                await phone.stop()
        reply_ms = 1000.0 * (reply_at - stopped)
        return (
            f"greeting after {greeting_ms:.0f} ms; the reply began {reply_ms:.0f} ms after the "
            "caller stopped"
        )

    async def _until(self, condition: Callable[[], bool], what: str) -> None:
        """Wait for ``condition``; the check's timeout ends a wait that never comes."""
        self.waiting_for = what
        while not condition():  # noqa: ASYNC110 - the phone's log has no event to wait on
            await asyncio.sleep(0.05)


def _request_id(kind: str) -> str:
    return f"smoke-{kind}-{uuid.uuid4().hex[:8]}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orchestrator", required=True, help="the orchestrator's base URL")
    parser.add_argument("--timeout-s", type=float, default=120.0, help="per check")
    args = parser.parse_args(argv)
    settings = get_settings()
    print(f"smoke test: Triton {settings.triton_url}, orchestrator {args.orchestrator}", flush=True)
    passed = asyncio.run(SmokeTest(settings, args.orchestrator, args.timeout_s).run())
    print("smoke test: passed" if passed else "smoke test: FAILED", flush=True)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
