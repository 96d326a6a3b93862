"""The choice of TTS engine: the one place that knows every engine.

Each engine is imported only when chosen, so the Piper profile never loads torch and CSM never needs
the optional (GPL) ``piper-tts``. The engines import the contract, never this module.
"""

from __future__ import annotations

from serving.tts.contract import TtsEngine, TtsEngineKind, TtsOptions


def build_engine(options: TtsOptions) -> TtsEngine:
    """The engine ``options.engine`` names, loaded (weights read once, here)."""
    if options.engine is TtsEngineKind.PIPER:
        from serving.tts.piper import PiperTtsEngine

        return PiperTtsEngine(options)
    if options.engine is TtsEngineKind.CSM_GENERATE:
        from serving.tts.csm_generate import CsmGenerateTtsEngine

        return CsmGenerateTtsEngine(options)
    from serving.tts.csm import CsmTtsEngine

    return CsmTtsEngine(options)
