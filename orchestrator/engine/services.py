"""What every call's engine shares, once per process: settings and the params read from them, the
models (Triton unless given), the canned lines and the metrics."""

from __future__ import annotations

from orchestrator import params
from orchestrator.engine.canned_lines import CannedLines, line_texts
from orchestrator.engine.metrics import ConversationMetrics
from orchestrator.engine.models import Models
from orchestrator.engine.triton_models import TritonModels
from orchestrator.settings import Settings, system_prompt


class ConversationServices:
    def __init__(
        self,
        settings: Settings,
        models: Models | None = None,
        metrics: ConversationMetrics | None = None,
    ) -> None:
        self.settings = settings
        self.system_prompt = system_prompt(settings)  # read once: a bad persona file fails at start
        self.turn_params = params.turn_params(settings)
        self.chunker_params = params.chunker_params(settings)
        self.metrics = metrics or ConversationMetrics.create()
        self.models: Models = (
            models if models is not None else TritonModels(settings, self.metrics.observe_request)
        )
        self.canned = CannedLines(line_texts(settings))

    async def aclose(self) -> None:
        await self.models.aclose()
