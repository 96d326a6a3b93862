"""Phrase chunker: boundaries, abbreviations, numbers, lists, forced breaks, context, invariants."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.conversation.phrase_chunker import ChunkerParams, PhraseChunker, TextChunk

P = ChunkerParams(first_min_words=3, first_max_chars=60, min_chars=40, max_chars=120)


def chunk_all(text: str, params: ChunkerParams = P, *, by: int = 0) -> list[str]:
    """Chunks of ``text`` fed whole (``by`` = 0) or ``by`` characters at a time."""
    chunker = PhraseChunker(params)
    size = by or len(text) or 1
    chunks = [c for i in range(0, len(text), size) for c in chunker.push(text[i : i + size])]
    return [c.text for c in chunks + chunker.flush()]


def test_first_clause_goes_out_as_soon_as_it_is_long_enough() -> None:
    chunker = PhraseChunker(P)
    assert chunker.push("Sure, I can") == []  # "Sure," is one word: too short
    assert chunker.push(" help with that,") == []  # boundary unknown until the next word begins
    assert [c.text for c in chunker.push(" no")] == ["Sure, I can help with that,"]


def test_later_chunks_end_at_sentences_of_min_length() -> None:
    text = (
        "Hello there, friend. It is sunny. We open at nine every day of the week. "
        "Anything else I can do?"
    )
    assert chunk_all(text) == [
        "Hello there, friend.",
        "It is sunny. We open at nine every day of the week.",
        "Anything else I can do?",
    ]


def test_later_chunk_breaks_at_a_clause_only_when_long() -> None:
    text = (
        "Okay then. Our plans include the basic one, the standard one, the premium one, the family "
        "one, the student one, the senior one, and the business one. Done."
    )
    assert chunk_all(text) == [
        "Okay then. Our plans include the basic one,",  # first: "then." had only 2 words
        # 80+ chars (2 x min_chars) before a comma ends a later chunk
        "the standard one, the premium one, the family one, the student one, the senior one,",
        "and the business one. Done.",  # "one." is under min_chars: Done joins it
    ]


@pytest.mark.parametrize(
    "text",
    [
        "I spoke with Dr. Smith and Mr. Jones about it today. They agreed.",
        "We ship to the U.S. and Canada, e.g. Toronto, at no cost.",
        "Come at 10 a.m. tomorrow, or the office closes.",
        "It costs approx. five dollars per month in total.",
    ],
)
def test_abbreviations_do_not_end_a_sentence(text: str) -> None:
    first = chunk_all(text, ChunkerParams(first_min_words=20, first_max_chars=200))[0]
    assert first.endswith((".", ",")) and not first.endswith(
        ("Dr.", "Mr.", "U.S.", "e.g.", "a.m.", "approx.")
    )


def test_abbreviation_then_name_stays_together() -> None:
    assert chunk_all("Your appointment is with Dr. Smith. See you then!", P)[0] == (
        "Your appointment is with Dr. Smith."
    )


def test_numbers_prices_and_times_are_not_boundaries() -> None:
    text = "The rate is 3.5% and it costs $4.99 at 10:30 daily. Thanks!"
    assert chunk_all(text) == ["The rate is 3.5% and it costs $4.99 at 10:30 daily.", "Thanks!"]


def test_a_number_ending_a_sentence_is_a_boundary() -> None:
    assert chunk_all("The total comes to $4.99. Shall I book it?") == [
        "The total comes to $4.99.",
        "Shall I book it?",
    ]


def test_colon_and_dash_clauses() -> None:
    assert chunk_all("Here is the plan: we meet at noon.")[0] == "Here is the plan:"
    assert chunk_all("Well, I think — honestly — yes.")[0] == "Well, I think —"


def test_ellipsis_is_a_clause_boundary() -> None:
    assert chunk_all("Let me see... yes, that works fine.") == [
        "Let me see...",
        "yes, that works fine.",
    ]
    assert chunk_all("Let me check that… okay, found it.")[0] == "Let me check that…"


def test_numbered_list_on_lines() -> None:
    text = (
        "You have three options:\n1. Basic plan.\n2. Standard plan.\n3. Premium plan with extras."
    )
    params = ChunkerParams(first_min_words=3, min_chars=10)
    assert chunk_all(text, params) == [
        "You have three options:",
        "1. Basic plan.",
        "2. Standard plan.",
        "3. Premium plan with extras.",
    ]


def test_inline_numbered_list_markers_are_not_sentences() -> None:
    text = "Options are: 1. Basic, 2. Standard, and 3. Premium. Which one?"
    params = ChunkerParams(first_min_words=1, min_chars=10)
    assert chunk_all(text, params) == [
        "Options are:",
        "1. Basic, 2. Standard,",
        "and 3. Premium.",
        "Which one?",
    ]


def test_long_clause_without_punctuation_is_cut_at_a_word() -> None:
    words = " ".join(f"word{i}" for i in range(60))
    chunks = chunk_all(words)
    assert chunks[0] == " ".join(f"word{i}" for i in range(10))  # 59 chars <= first_max_chars
    assert all(len(c) <= P.max_chars for c in chunks[1:])
    assert " ".join(chunks) == words


def test_a_word_longer_than_the_limit_is_kept_whole() -> None:
    url = "x" * 100
    assert chunk_all(f"{url} is the link") == [url, "is the link"]
    assert chunk_all(f"Visit {url} today") == ["Visit", f"{url} today"]  # cut before it


def test_flush_emits_the_rest_and_nothing_when_empty() -> None:
    chunker = PhraseChunker(P)
    assert chunker.push("Thanks") == []
    assert [c.text for c in chunker.flush()] == ["Thanks"]
    assert chunker.flush() == []
    assert PhraseChunker(P).flush() == []
    assert chunk_all("   ") == []


def test_chunks_carry_the_preceding_text_as_context() -> None:
    chunker = PhraseChunker(ChunkerParams(first_min_words=1, min_chars=1, context_max_chars=12))
    chunks = chunker.push("Hi, there. How are you? Fine") + chunker.flush()
    assert chunks == [
        TextChunk(0, "Hi,", ""),
        TextChunk(1, "there.", "Hi,"),
        TextChunk(2, "How are you?", "Hi, there."),
        TextChunk(3, "Fine", "How are you?"),  # trimmed to 12 chars at a word
    ]


words = st.text(alphabet="abcXYZ019.,;:!?$-'…", min_size=1, max_size=12)
separators = st.sampled_from([" ", " ", " ", "  ", "\n", " \n "])
texts = st.lists(st.tuples(words, separators), max_size=80).map(
    lambda ws: "".join(w + s for w, s in ws)
)


@settings(max_examples=300, deadline=None)
@given(texts, st.integers(1, 7))
def test_chunks_are_the_text_split_at_whitespace_whatever_the_deltas(text: str, by: int) -> None:
    whole = chunk_all(text)
    assert " ".join(whole).split() == text.split()  # nothing lost, reordered or split mid-word
    assert all(c and c == c.strip() for c in whole)
    assert chunk_all(text, by=by) == whole
