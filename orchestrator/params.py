"""Settings -> the typed parameters of each package. The one place that maps one to the other.

The conversation core, the Triton clients and the Twilio edge take plain frozen dataclasses and never
read :class:`~orchestrator.settings.Settings` themselves; their defaults are the settings' defaults
(settings.py reads them off these classes), so each default is written once.
"""

from __future__ import annotations

from pathlib import Path

from orchestrator.conversation.answer_guard import AnswerGuardParams
from orchestrator.conversation.end_of_turn import EndOfTurnParams
from orchestrator.conversation.phrase_chunker import ChunkerParams
from orchestrator.conversation.speech_segmenter import SegmenterParams
from orchestrator.conversation.turn_taking import TurnParams
from orchestrator.edge_options import MediaBudgetParams, OutboundOptions, SessionOptions
from orchestrator.settings import Settings
from orchestrator.triton.llm_client import SamplingOptions


def segmenter_params(settings: Settings) -> SegmenterParams:
    return SegmenterParams(
        threshold=settings.vad_threshold,
        min_speech_ms=settings.vad_min_speech_ms,
        pause_ms=settings.vad_pause_ms,
    )


def turn_params(settings: Settings) -> TurnParams:
    return TurnParams(
        segmenter=segmenter_params(settings),
        end_of_turn=EndOfTurnParams(
            short_ms=settings.turn_end_short_ms,
            long_ms=settings.turn_end_long_ms,
            both_done_ms=settings.turn_end_both_done_ms,
            audio_done=settings.turn_end_audio_done,
            audio_more=settings.turn_end_audio_more,
        ),
        interrupt_min_speech_ms=settings.turn_interrupt_min_speech_ms,
        interrupt_min_confidence=settings.turn_interrupt_min_confidence,
        backchannel_words=frozenset(w.lower() for w in settings.turn_backchannel_words),
        goodbye_phrases=tuple(p.lower() for p in settings.turn_goodbye_phrases),
        greet=bool(settings.greeting_text.strip()),
        hear_turn_end=settings.turn_detector_enabled,
        transcription_timeout_ms=settings.turn_transcription_timeout_ms,
        first_audio_timeout_ms=settings.turn_first_audio_timeout_ms,
        silence_timeout_ms=settings.turn_silence_timeout_ms,
        closing_timeout_ms=settings.turn_closing_timeout_ms,
    )


def chunker_params(settings: Settings) -> ChunkerParams:
    return ChunkerParams(
        first_min_words=settings.chunk_first_min_words,
        first_max_chars=settings.chunk_first_max_chars,
        min_chars=settings.chunk_min_chars,
        max_chars=settings.chunk_max_chars,
    )


def sampling_options(settings: Settings) -> SamplingOptions:
    return SamplingOptions(
        max_tokens=settings.llm_max_tokens,
        temperature=settings.llm_temperature,
        top_p=settings.llm_top_p,
        stop=tuple(settings.llm_stop),
        stop_token_ids=tuple(settings.llm_stop_token_ids),
        min_tokens=settings.llm_min_tokens,
        repetition_penalty=settings.llm_repetition_penalty,
        frequency_penalty=settings.llm_frequency_penalty,
        presence_penalty=settings.llm_presence_penalty,
    )


def answer_guard_params(settings: Settings) -> AnswerGuardParams:
    return AnswerGuardParams(
        max_sentences=settings.answer_max_sentences,
        repeat_min_words=settings.answer_repeat_min_words,
    )


def session_options(settings: Settings) -> SessionOptions:
    return SessionOptions(
        recordings_dir=Path(settings.recordings_dir),
        outbound=OutboundOptions(
            chunk_ms=settings.playout_chunk_ms,
            max_lead_ms=settings.playout_max_lead_ms,
            queue_chunks=settings.outbound_queue_chunks,
            resampler_quality=settings.resampler_quality,
        ),
        max_message_bytes=settings.max_message_bytes,
        recording_flush_ms=settings.recording_flush_ms,
        media_budget=MediaBudgetParams(
            max_rate=settings.media_max_rate,
            close_after_dropped_ms=settings.media_flood_close_ms,
        ),
    )
