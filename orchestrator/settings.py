"""All orchestrator settings, from environment variables (prefix ``CC_``) or a ``.env`` file.

Triton model settings are not here: they live in each model's ``config.pbtxt`` parameters, overridden by
``CC_MODEL_<MODEL>_<KEY>`` in tritonserver's environment (see serving/model_parameters.py).
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CC_", env_file=".env", extra="ignore")

    # Triton
    triton_url: str = Field("127.0.0.1:8001", description="host:port of Triton's gRPC endpoint")
    vad_model: str = "silero_vad"

    # Voice activity -> speech segments (see orchestrator/speech_segmenter.py)
    vad_threshold: float = Field(0.5, ge=0.0, le=1.0, description="speech probability that opens speech")
    vad_min_speech_ms: int = Field(96, ge=0, description="speech shorter than this is ignored")
    vad_min_silence_ms: int = Field(400, ge=0, description="silence that ends a segment (end of turn)")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
