"""Unit tests see the settings' defaults: never a developer's ``.env`` or exported ``CC_*`` variables."""

from __future__ import annotations

import os

import pytest

from orchestrator.settings import Settings


@pytest.fixture(autouse=True)
def no_developer_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("CC_")]:
        monkeypatch.delenv(name)
    # Settings() reads model_config's env_file when it is built; tests that want a file pass one.
    monkeypatch.setitem(Settings.model_config, "env_file", None)
