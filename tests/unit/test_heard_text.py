"""Heard text: acked chunks, cuts mid-chunk and in the first chunk, before any audio, all played."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.conversation.heard_text import (
    MS_PER_CHAR,
    HeardText,
    PlayoutPosition,
    SpokenChunk,
    heard_at,
    heard_text,
    position_at,
)


def reply(*chunks: tuple[str, float]) -> list[SpokenChunk]:
    return [SpokenChunk(text.strip(), ms) for text, ms in chunks]


# 20 characters each; 1000 ms each: 50 ms per character.
REPLY = reply(
    ("Sure, I can do that.", 1000), ("Your table is ready.", 1000), ("See you at seven!!!", 1000)
)


@pytest.mark.parametrize(
    ("position", "expected"),
    [
        (PlayoutPosition(0, 0), HeardText("", False, 0, 0.0)),  # before any audio
        (PlayoutPosition(0, 200), HeardText("", False, 0, 0.0)),  # "Sure," cut at char 4 of 5
        (PlayoutPosition(0, 260), HeardText("Sure,", False, 0, 300.0)),  # cut in the first chunk
        (PlayoutPosition(0, 330), HeardText("Sure,", False, 0, 300.0)),  # "I" (ends 350 ms) unheard
        (PlayoutPosition(0, 360), HeardText("Sure, I", False, 0, 400.0)),
        (PlayoutPosition(1, 0), HeardText("Sure, I can do that.", False, 1, 0.0)),  # acked only
        (
            PlayoutPosition(1, 700),  # mid-chunk: "Your table is" ends at char 13 = 650 ms
            HeardText("Sure, I can do that. Your table is", False, 1, 700.0),
        ),
        (
            PlayoutPosition(1, 1000),  # played through, mark not back yet
            HeardText("Sure, I can do that. Your table is ready.", False, 2, 0.0),
        ),
        (
            PlayoutPosition(3, 0),  # all played
            HeardText(
                "Sure, I can do that. Your table is ready. See you at seven!!!", True, 3, 0.0
            ),
        ),
        (
            PlayoutPosition(2, 5000),  # last chunk elapsed in full
            HeardText(
                "Sure, I can do that. Your table is ready. See you at seven!!!", True, 3, 0.0
            ),
        ),
        (PlayoutPosition(9, 0), heard_text(REPLY, PlayoutPosition(3, 0))),  # clamped
        (PlayoutPosition(-1, -5), HeardText("", False, 0, 0.0)),
    ],
)
def test_heard_text(position: PlayoutPosition, expected: HeardText) -> None:
    assert heard_text(REPLY, position) == expected


def test_empty_reply_is_complete() -> None:
    assert heard_text([], PlayoutPosition(0, 0)) == HeardText("", True, 0, 0.0)


def test_chunk_still_synthesising_is_estimated_from_its_length() -> None:
    # 18 chars -> at least 1170 ms; only 300 ms produced so far
    chunks = [SpokenChunk("one two three four", 300, synthesised=False)]
    # 300 ms of 1170: 4.6 characters, "one" (3) heard; against the 300 ms known, all would be.
    assert heard_text(chunks, PlayoutPosition(0, 300)).text == "one"
    assert heard_text(chunks, PlayoutPosition(0, 300)).resume_ms == pytest.approx(4 * MS_PER_CHAR)


def test_position_from_heard_ms_of_the_whole_reply() -> None:
    assert position_at(REPLY, 0) == PlayoutPosition(0, 0)
    assert position_at(REPLY, 1_700) == PlayoutPosition(1, 700)
    assert position_at(REPLY, 2_000) == PlayoutPosition(2, 0)
    assert position_at(REPLY, 9_000) == PlayoutPosition(3, 0)
    still_going = [SpokenChunk("still going", 500, synthesised=False)]
    assert position_at(still_going, 800) == PlayoutPosition(0, 500)  # not past unsynthesised audio


@given(
    st.lists(st.text(alphabet="ab ,.", min_size=1, max_size=30), min_size=1, max_size=5), st.data()
)
def test_heard_text_is_a_whole_word_prefix_growing_with_time(
    texts: list[str], data: st.DataObject
) -> None:
    chunks = reply(*((t, 40.0 * len(t)) for t in texts))
    full = " ".join(t.strip() for t in texts if t.strip()).split()
    times = sorted(data.draw(st.lists(st.floats(0, 50.0 * sum(map(len, texts))), min_size=2)))
    previous: list[str] = []
    for ms in times:
        words = heard_at(chunks, ms).text.split()
        assert words == full[: len(words)]
        assert len(words) >= len(previous)
        previous = words
