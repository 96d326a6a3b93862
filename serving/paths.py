"""Where the project's files are: the checkout, the model repository, and the git-ignored cache."""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MODEL_REPOSITORY = PROJECT_ROOT / "model_repository"
# tritonserver copy, generated test models and speech, converted weights, server logs
DEFAULT_CACHE_DIR = PROJECT_ROOT / ".cache"
