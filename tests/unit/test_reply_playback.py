import numpy as np
import pytest

from orchestrator.reply_playback import ReplyPlayback

RATE = 1000  # 1 sample per ms keeps the arithmetic readable


def tone(ms: int, value: float = 0.5) -> np.ndarray:
    return np.full(ms, value, np.float32)


def test_takes_audio_as_it_arrives_then_finishes() -> None:
    playback = ReplyPlayback()
    first = playback.add_chunk()
    assert playback.take() is None
    playback.add_audio(first, tone(100), RATE)
    piece = playback.take()
    assert piece is not None and piece.audio.size == 100 and piece.reply_offset_ms == 0
    playback.add_audio(first, tone(50), RATE)
    piece = playback.take()
    assert piece is not None and piece.audio.size == 50 and piece.reply_offset_ms == 100
    playback.finish_chunk(first)
    second = playback.add_chunk()
    playback.add_audio(second, tone(30), RATE)
    playback.finish_chunk(second)
    piece = playback.take()
    assert piece is not None and piece.chunk_index == 1 and piece.reply_offset_ms == 150
    assert not playback.finished
    playback.generation_done = True
    assert playback.take() is None and playback.finished


def test_rewind_resends_from_the_first_unheard_word() -> None:
    playback = ReplyPlayback()
    for ms in (100, 200):
        index = playback.add_chunk()
        playback.add_audio(index, tone(ms), RATE)
        playback.finish_chunk(index)
    playback.generation_done = True
    while playback.take() is not None:
        pass
    assert playback.finished
    assert playback.rewind(1, 80.0) == 180.0
    piece = playback.take()
    assert piece is not None and piece.chunk_index == 1 and piece.audio.size == 120
    assert playback.finished


def test_previous_chunk_audio_is_kept_for_tts_context() -> None:
    playback = ReplyPlayback()
    index = playback.add_chunk()
    playback.add_audio(index, tone(10, 0.1), RATE)
    playback.add_audio(index, tone(5, 0.2), RATE)
    np.testing.assert_array_equal(
        playback.chunk_audio(index), np.concatenate([tone(10, 0.1), tone(5, 0.2)])
    )


def test_one_sample_rate_per_reply() -> None:
    playback = ReplyPlayback()
    index = playback.add_chunk()
    playback.add_audio(index, tone(10), 24_000)
    with pytest.raises(ValueError, match="22050"):
        playback.add_audio(index, tone(10), 22_050)
