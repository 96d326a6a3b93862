"""A reply's ledger: audio taken as it arrives, rewound to the first unheard word, heard text read
off the same chunks."""

import numpy as np
import pytest

from orchestrator.conversation.reply_ledger import ReplyLedger

RATE = 1000  # 1 sample per ms keeps the arithmetic readable


def tone(ms: int, value: float = 0.5) -> np.ndarray:
    return np.full(ms, value, np.float32)


def test_takes_audio_as_it_arrives_then_finishes() -> None:
    ledger = ReplyLedger()
    first = ledger.add_chunk("Hello there.")
    assert ledger.take() is None and not ledger.has_unsent()
    ledger.add_audio(first, tone(100), RATE)
    assert ledger.has_unsent()
    piece = ledger.take()
    assert piece is not None and piece.audio.size == 100 and piece.reply_offset_ms == 0
    ledger.add_audio(first, tone(50), RATE)
    piece = ledger.take()
    assert piece is not None and piece.audio.size == 50 and piece.reply_offset_ms == 100
    ledger.finish_chunk(first)
    second = ledger.add_chunk("How are you?")
    ledger.add_audio(second, tone(30), RATE)
    ledger.finish_chunk(second)
    piece = ledger.take()
    assert piece is not None and piece.chunk_index == 1 and piece.reply_offset_ms == 150
    assert not ledger.finished
    ledger.finish_generation()
    assert ledger.take() is None and ledger.finished


def test_rewind_resends_from_the_first_unheard_word() -> None:
    ledger = ReplyLedger()
    for text, ms in (("One two.", 100), ("Three four five.", 200)):
        index = ledger.add_chunk(text)
        ledger.add_audio(index, tone(ms), RATE)
        ledger.finish_chunk(index)
    ledger.finish_generation()
    while ledger.take() is not None:
        pass
    assert ledger.finished
    heard = ledger.heard(180.0)  # 80 of chunk 1's 200 ms: "Three" heard, "four" cut
    assert heard.text == "One two. Three" and heard.chunk_index == 1
    assert ledger.rewind(heard.chunk_index, heard.resume_ms) == pytest.approx(100 + heard.resume_ms)
    piece = ledger.take()
    assert piece is not None and piece.chunk_index == 1
    assert piece.audio.size == 200 - int(heard.resume_ms)
    assert ledger.finished


def test_heard_text_follows_the_audio_of_each_chunk() -> None:
    ledger = ReplyLedger()
    index = ledger.add_chunk("  Sure, I can do that.  ")
    ledger.add_audio(index, tone(1000), RATE)
    ledger.finish_chunk(index)
    assert ledger.chunk_text(index) == "Sure, I can do that."
    assert ledger.chunk_audio_ms(index) == 1000
    assert ledger.heard(0).text == ""
    assert ledger.heard(float("inf")).complete


def test_previous_chunk_audio_is_kept_for_tts_context() -> None:
    ledger = ReplyLedger()
    index = ledger.add_chunk("Hi.")
    ledger.add_audio(index, tone(10, 0.1), RATE)
    ledger.add_audio(index, tone(5, 0.2), RATE)
    np.testing.assert_array_equal(
        ledger.chunk_audio(index), np.concatenate([tone(10, 0.1), tone(5, 0.2)])
    )


def test_one_sample_rate_per_reply() -> None:
    ledger = ReplyLedger()
    index = ledger.add_chunk("Hi.")
    ledger.add_audio(index, tone(10), 24_000)
    with pytest.raises(ValueError, match="22050"):
        ledger.add_audio(index, tone(10), 22_050)


def test_heard_parts_split_a_reply_at_its_tool_calls() -> None:
    ledger = ReplyLedger()
    for text, ms in (("Let me check.", 100), ("One moment.", 100), ("Yes, at seven.", 140)):
        index = ledger.add_chunk(text)
        ledger.add_audio(index, tone(ms), RATE)
        ledger.finish_chunk(index)
    before, answer = ledger.heard_parts(float("inf"), [2])
    assert (before.text, before.complete) == ("Let me check. One moment.", True)
    assert (answer.text, answer.complete) == ("Yes, at seven.", True)
    before, answer = ledger.heard_parts(150, [1])  # cut in the filler
    assert (before.text, before.complete) == ("Let me check.", True)
    assert answer.text == "One" and not answer.complete
    empty, rest = ledger.heard_parts(50, [0])  # the call came before any words
    assert (empty.text, empty.complete) == ("", True)
    assert not rest.complete
