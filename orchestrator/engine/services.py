"""What every call's engine shares, once per process: settings and the params read from them, the
models (Triton unless given), the canned lines, the metrics, the sentiment scorer and caller memory."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from pathlib import Path

import httpx

from orchestrator import params
from orchestrator.conversation.prompts import Role, Turn, build_prompt
from orchestrator.conversation.sentiment_text import TextSentiment, default_scorer
from orchestrator.conversation.tool_guidance import NONE, Guidance, ToolChoice, guidance
from orchestrator.conversation.tool_prompt import tools_preamble
from orchestrator.engine.caller_memory import CallerMemory
from orchestrator.engine.caller_mood import CallerMood
from orchestrator.engine.canned_lines import CannedLines, line_texts
from orchestrator.engine.metrics import ConversationMetrics
from orchestrator.engine.models import Models
from orchestrator.engine.triton_models import TTS_MODEL, TritonModels
from orchestrator.settings import Settings, system_prompt
from orchestrator.tools.catalog import Builtin, ToolCatalog, ToolsFileError, load_tools

log = logging.getLogger(__name__)


class ConversationServices:
    def __init__(
        self,
        settings: Settings,
        models: Models | None = None,
        metrics: ConversationMetrics | None = None,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.settings = settings
        self.system_prompt = system_prompt(settings)  # read once: a bad persona file fails at start
        # The persona's tools, checked at start like the persona; declared in its system prompt.
        self.tools = load_catalog(settings)
        self.http: httpx.AsyncClient | None = None
        # The guided decoding of a round, per tool choice: the same for every reply.
        self.tool_guidance: dict[ToolChoice, Guidance] = {}
        if self.tools is not None:
            fmt, specs = settings.llm_prompt_format, self.tools.specs()
            examples = [(example.caller, example.call) for example in self.tools.examples]
            self.system_prompt = f"{self.system_prompt}\n\n{tools_preamble(fmt, specs, examples)}"
            self.http = http if http is not None else httpx.AsyncClient()
            # A round may write a call after its words: its tokens come on top of the answer's.
            max_tokens = settings.llm_max_tokens + settings.tool_call_max_tokens
            for choice in ToolChoice:
                guided = guidance(fmt, specs, choice)
                if choice is ToolChoice.AUTO and not settings.tool_guided_decoding:
                    guided = NONE
                self.tool_guidance[choice] = replace(guided, max_tokens=max_tokens)
        self.turn_params = params.turn_params(settings)
        self.chunker_params = params.chunker_params(settings)
        self.answer_guard_params = params.answer_guard_params(settings)
        self.metrics = metrics or ConversationMetrics.create()
        self.models: Models = (
            models
            if models is not None
            else TritonModels(settings, self.metrics.observe_request, self.metrics.llm_requests)
        )
        self.canned = CannedLines(line_texts(settings, self.tools.filler if self.tools else ""))
        # Built and used once here: importing TextBlob loads NLTK (~0.4 s), and its first score loads
        # the lexicon (~70 ms), which would otherwise fall on the first caller's turn.
        self.sentiment: TextSentiment | None = None
        if settings.sentiment_enabled:
            self.sentiment = default_scorer()
            self.sentiment.score("Thank you.")
        self.memory = CallerMemory.from_settings(settings, self.models, self.metrics)

    def caller_mood(self) -> CallerMood | None:
        """A call's sentiment tracker; None when sentiment is off."""
        if self.sentiment is None:
            return None
        settings = self.settings
        return CallerMood(
            self.sentiment,
            self.metrics,
            settings.sentiment_acknowledge_after,
            settings.sentiment_instruction,
        )

    async def warm_up(self, retry_s: float = 2.0) -> None:
        """Before the first caller, for the models /readyz requires: the canned lines synthesised
        (tts) and one LLM answer (its first request is the slow one), so that no caller pays for
        either. Retries until the models answer."""
        required = set(self.settings.required_models)
        # Polling a remote server that may still be loading: there is no event to wait on.
        while TTS_MODEL in required and not await self.canned.prepare(self.models):  # noqa: ASYNC110
            await asyncio.sleep(retry_s)
        while self.settings.llm_model in required and not await self._llm_answers():  # noqa: ASYNC110
            await asyncio.sleep(retry_s)
        log.info("warm: %s", ", ".join(sorted(required)))

    async def _llm_answers(self) -> bool:
        fmt, system = self.settings.llm_prompt_format, self.system_prompt
        prompt = build_prompt(fmt, system, [Turn(Role.USER, "Hello?")])
        try:
            async for _ in self.models.generate(prompt, request_id="warm-up"):
                break  # the first token is the warm-up; closing the stream cancels the rest
        except Exception as exc:
            log.warning("LLM warm-up failed: %s", exc)
            return False
        return True

    async def aclose(self) -> None:
        """After the last call: waits for memory still being written (it uses the LLM)."""
        if self.memory is not None:
            await self.memory.aclose()
        if self.http is not None:
            await self.http.aclose()
        await self.models.aclose()


def load_catalog(settings: Settings) -> ToolCatalog | None:
    """The tools file the settings name, checked (``ToolsFileError`` names what is wrong); None
    without one."""
    if not settings.tools_file:
        return None
    catalog = load_tools(
        Path(settings.tools_file), settings.tools_allowed_hosts, settings.tools_base_url
    )
    transfers = [t.name for t in catalog.tools if t.handler == Builtin("transfer_call")]
    if transfers and not settings.transfer_number:
        raise ToolsFileError(
            f"{settings.tools_file}: tool {transfers[0]!r} transfers calls, but no number is set "
            "(CC_TRANSFER_NUMBER)"
        )
    return catalog
