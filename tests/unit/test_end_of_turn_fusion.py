"""The silence that ends a turn from the words and the voice together: the fusion table, cell by cell."""

from __future__ import annotations

import pytest

from orchestrator.conversation.end_of_turn import EndOfTurnParams, TurnEnd
from orchestrator.conversation.end_of_turn_fusion import (
    AudioVerdict,
    audio_verdict,
    required_silence_ms,
    turn_is_over,
)

P = EndOfTurnParams(short_ms=250, long_ms=1000, both_done_ms=100, audio_done=0.5, audio_more=0.2)
MIDPOINT = 625
DONE, UNSURE, MORE = 0.9, 0.3, 0.05  # one probability in each band of P

COMPLETE, WORDS_UNSURE, MID_THOUGHT = TurnEnd.COMPLETE, TurnEnd.UNSURE, TurnEnd.MID_THOUGHT


@pytest.mark.parametrize(
    ("words", "audio", "silence_ms"),
    [
        (COMPLETE, DONE, 100),  # both say done: sooner than the words alone (250)
        (COMPLETE, UNSURE, 250),  # the voice cannot tell: the words' own silence
        (COMPLETE, MORE, MIDPOINT),  # "a table." with more coming in the voice: waits longer
        (WORDS_UNSURE, DONE, 250),
        (WORDS_UNSURE, UNSURE, MIDPOINT),
        (WORDS_UNSURE, MORE, 1000),
        (MID_THOUGHT, DONE, 1000),  # "my number is": the voice never shortens it
        (MID_THOUGHT, UNSURE, 1000),
        (MID_THOUGHT, MORE, 1000),  # ... and never extends past the long silence
        (COMPLETE, None, 250),  # no verdict (no model, an error): the words alone
        (WORDS_UNSURE, None, MIDPOINT),
        (MID_THOUGHT, None, 1000),
    ],
)
def test_the_fusion_table(words: TurnEnd, audio: float | None, silence_ms: float) -> None:
    assert required_silence_ms(words, audio, P) == silence_ms
    assert turn_is_over(words, audio, silence_ms, P)
    assert not turn_is_over(words, audio, silence_ms - 1, P)


def test_the_audio_bands_are_closed_below() -> None:
    assert audio_verdict(0.5, P) is AudioVerdict.DONE
    assert audio_verdict(0.4999, P) is AudioVerdict.UNSURE
    assert audio_verdict(0.2, P) is AudioVerdict.UNSURE
    assert audio_verdict(0.1999, P) is AudioVerdict.MORE


@pytest.mark.parametrize("audio", [0.0, 0.1, 0.3, 0.6, 1.0, None])
@pytest.mark.parametrize("words", list(TurnEnd))
def test_the_wait_is_bounded_by_the_long_silence(words: TurnEnd, audio: float | None) -> None:
    """No multi-second fallback: whatever the voice says, the turn ends by ``long_ms``."""
    assert 0 <= required_silence_ms(words, audio, P) <= P.long_ms


def test_both_done_never_waits_longer_than_the_words_alone() -> None:
    slow = EndOfTurnParams(short_ms=200, long_ms=1000, both_done_ms=400)
    assert required_silence_ms(COMPLETE, 0.99, slow) == 200
