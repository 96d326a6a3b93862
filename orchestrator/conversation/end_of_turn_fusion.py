"""The silence that ends the caller's turn, from their words and their voice together. Pure.

The words (:mod:`~orchestrator.conversation.end_of_turn`) say COMPLETE, UNSURE or MID_THOUGHT; the
audio end-of-turn model (Smart Turn, the ``turn_detector`` model) the probability that the caller is
done, heard in the last seconds of their voice. Both agreeing the turn is done ends it sooner than
the words alone would (``both_done_ms``); either hearing more coming makes it wait longer; the audio
never extends a wait past ``long_ms`` (no multi-second fallback) and never shortens one the words call
mid-thought. With no audio verdict (no model, a failure, not back yet) the words decide alone, as
before.

=============  ==============================  ====================  ===============================
words          audio >= ``audio_done``          in between            audio < ``audio_more``
=============  ==============================  ====================  ===============================
COMPLETE       ``both_done_ms``                 ``short_ms``          midpoint (short, long)
UNSURE         ``short_ms``                     midpoint              ``long_ms``
MID_THOUGHT    ``long_ms``                      ``long_ms``           ``long_ms``
=============  ==============================  ====================  ===============================
"""

from __future__ import annotations

from enum import Enum

from orchestrator.conversation.end_of_turn import EndOfTurnParams, TurnEnd


class AudioVerdict(Enum):
    DONE = "done"
    UNSURE = "unsure"
    MORE = "more"  # the voice says the caller is not done


def audio_verdict(probability: float, params: EndOfTurnParams) -> AudioVerdict:
    if probability >= params.audio_done:
        return AudioVerdict.DONE
    if probability < params.audio_more:
        return AudioVerdict.MORE
    return AudioVerdict.UNSURE


def required_silence_ms(words: TurnEnd, audio: float | None, params: EndOfTurnParams) -> float:
    """The silence after the caller's last word that ends their turn (see the table above)."""
    if audio is None:
        return params.silence_ms(words)
    midpoint = (params.short_ms + params.long_ms) / 2
    voice = audio_verdict(audio, params)
    if words is TurnEnd.MID_THOUGHT:
        return params.long_ms
    if words is TurnEnd.COMPLETE:
        if voice is AudioVerdict.DONE:
            return min(params.both_done_ms, params.short_ms)
        return params.short_ms if voice is AudioVerdict.UNSURE else max(midpoint, params.short_ms)
    if voice is AudioVerdict.DONE:
        return params.short_ms
    return midpoint if voice is AudioVerdict.UNSURE else params.long_ms


def turn_is_over(
    words: TurnEnd, audio: float | None, silence_ms: float, params: EndOfTurnParams
) -> bool:
    """Whether ``silence_ms`` of silence ends the turn, given what the words and the voice say."""
    return silence_ms >= required_silence_ms(words, audio, params)
