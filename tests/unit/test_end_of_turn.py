"""The end-of-turn silence from the caller's words: a table of (transcript, silence so far), and the
rule measured on a labelled set of phone utterances (tests/data/end_of_turn.tsv)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from orchestrator.conversation.end_of_turn import EndOfTurnParams, TurnEnd, classify

P = EndOfTurnParams(short_ms=250, long_ms=1000)
LABELLED = Path(__file__).parents[1] / "data" / "end_of_turn.tsv"


@pytest.mark.parametrize(
    ("transcript", "silence_ms", "over"),
    [
        ("What time do you open?", 250, True),  # a question: the short silence
        ("What time do you open?", 200, False),
        ("Yes, please.", 260, True),
        ("I'd like to book a table and", 600, False),  # trailing "and": the long silence
        ("I'd like to book a table and", 1000, True),
        ("Um,", 900, False),
        ("My email is", 999, False),
        ("My number is 555", 800, False),  # a number being read out
        ("555, 123.", 700, False),
        ("It's five five five one two", 900, False),
        ("My number is 555-123-4567.", 250, True),  # the whole number
        ("At 7:30.", 250, True),
        ("I think so.", 250, True),
        ("Sure", 500, False),  # no punctuation, nothing dangling: the midpoint
        ("Sure", 625, True),
        ("", 250, True),  # nothing said
    ],
)
def test_end_of_turn_table(transcript: str, silence_ms: float, over: bool) -> None:
    assert (silence_ms >= P.silence_ms(classify(transcript))) is over


def test_each_kind_of_ending_has_its_silence() -> None:
    assert P.silence_ms(classify("Do you deliver?")) == 250
    assert P.silence_ms(classify("So I was wondering if")) == 1000
    assert P.silence_ms(classify("Tomorrow evening")) == 625


def labelled() -> list[tuple[str, str]]:
    lines = [line for line in LABELLED.read_text().splitlines() if not line.startswith("#")]
    return [(row["label"], row["text"]) for row in csv.DictReader(lines, delimiter="\t")]


def test_on_the_labelled_set_a_finished_caller_is_never_made_to_wait_long() -> None:
    """The costly mistakes: answering half a thought (incomplete -> complete) and making a caller
    who is done wait the long silence (complete -> mid-thought). 'Unsure' waits the midpoint."""
    rows = labelled()
    assert len(rows) >= 60
    ends = {text: classify(text) for _, text in rows}
    made_to_wait = [
        t for label, t in rows if label == "complete" and ends[t] is not TurnEnd.COMPLETE
    ]
    cut_short = [t for label, t in rows if label == "incomplete" and ends[t] is TurnEnd.COMPLETE]
    assert made_to_wait == [] and cut_short == []
    expected = {"complete": TurnEnd.COMPLETE, "incomplete": TurnEnd.MID_THOUGHT}
    right = sum(ends[text] is expected[label] for label, text in rows)
    assert right / len(rows) >= 0.9
