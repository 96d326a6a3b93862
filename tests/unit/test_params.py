"""Settings -> each package's params: values carried over, and defaults that agree by construction."""

from __future__ import annotations

from pathlib import Path

from orchestrator import params
from orchestrator.conversation.phrase_chunker import ChunkerParams
from orchestrator.conversation.turn_taking import TurnParams
from orchestrator.edge_options import OutboundOptions
from orchestrator.settings import Settings
from orchestrator.triton.llm_client import SamplingOptions


def test_turn_params_from_settings() -> None:
    settings = Settings(
        vad_pause_ms=350,
        turn_interrupt_min_speech_ms=250,
        turn_goodbye_phrases=["See you"],
        greeting_text=" ",
    )
    turn = params.turn_params(settings)
    assert turn.segmenter.pause_ms == 350
    assert turn.interrupt_min_speech_ms == 250
    assert turn.is_goodbye("OK, see you!") and not turn.is_goodbye("bye")
    assert not turn.greet


def test_chunker_params_from_settings() -> None:
    chunker = params.chunker_params(Settings(chunk_first_min_words=5, chunk_max_chars=150))
    assert (chunker.first_min_words, chunker.max_chars) == (5, 150)


def test_default_settings_give_each_package_its_own_defaults() -> None:
    settings = Settings()
    assert params.turn_params(settings) == TurnParams()
    assert params.chunker_params(settings) == ChunkerParams()
    assert params.sampling_options(settings) == SamplingOptions()
    session = params.session_options(settings)
    assert session.outbound == OutboundOptions()
    assert session.recordings_dir == Path("recordings")
