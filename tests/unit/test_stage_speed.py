"""The stage_speed benchmark's summaries (pure): first phrase, decode rate, per-stage rows, floor."""

from __future__ import annotations

import math

import pytest

from benchmarks.stage_speed import (
    IN_PROCESS,
    SERVER,
    Sample,
    TimedDelta,
    cpu_ratio,
    decode_rate,
    first_later,
    first_phrase,
    format_table,
    machine_share,
    rounds,
    stage_rows,
    turn_floor,
)


def test_first_phrase_is_when_the_chunker_emits_its_first_clause() -> None:
    deltas = [
        TimedDelta(0.10, "Sure"),
        TimedDelta(0.13, ","),
        TimedDelta(0.16, " we"),
        TimedDelta(0.19, " are open"),
        TimedDelta(0.22, " today,"),
        TimedDelta(0.25, " from"),  # the next word begins: the clause is settled here
        TimedDelta(0.28, " five."),
    ]
    at_s, text = first_phrase(deltas)
    assert at_s == pytest.approx(0.25)
    assert text == "Sure, we are open today,"


def test_an_answer_without_a_boundary_gives_its_phrase_at_the_last_delta() -> None:
    at_s, text = first_phrase([TimedDelta(0.1, "Yes"), TimedDelta(0.2, " indeed")])
    assert (at_s, text) == (0.2, "Yes indeed")
    at_s, text = first_phrase([])
    assert math.isnan(at_s) and text == ""


def test_decode_rate_counts_tokens_after_the_first() -> None:
    deltas = [TimedDelta(0.5, "a"), TimedDelta(0.6, "b"), TimedDelta(0.7, "c", tokens=2)]
    assert decode_rate(deltas) == pytest.approx(3 / 0.2)
    assert decode_rate([TimedDelta(0.5, "a")]) is None


def test_rounds_repeat_every_input_in_order() -> None:
    assert list(rounds(2, 2)) == [(0, 0), (1, 1), (2, 0), (3, 1)]


def samples() -> list[Sample]:
    made = []
    for side, scale in ((SERVER, 2.0), (IN_PROCESS, 1.0)):
        for stage, base in (("stt", 300.0), ("llm", 100.0), ("tts", 150.0)):
            for order, key in rounds(2, 3):
                first_penalty = 3.0 if order == 0 else 1.0
                ms = base * scale * first_penalty + 10.0 * key
                made.append(Sample(stage, side, key, order, ms, rate=None))
    return made


def test_first_later_compares_the_first_request_with_later_ones_of_its_input() -> None:
    figures = first_later(samples(), "stt", IN_PROCESS)
    assert figures == {"first_ms": 900.0, "later_p50_ms": 300.0, "ratio": 3.0}
    assert first_later([], "stt", SERVER)["ratio"] is None


def test_stage_rows_leave_first_requests_out_and_give_the_ratio() -> None:
    rows = stage_rows(samples())
    assert set(rows) == {"stt", "llm", "tts"}
    assert rows["stt"][IN_PROCESS]["n"] == 5
    assert rows["stt"][IN_PROCESS]["p50_ms"] == 310.0  # 300, 310, 300, 310 and 310
    assert rows["stt"][SERVER]["p50_ms"] == 610.0
    assert rows["llm"]["ratio"] == pytest.approx(210 / 110, abs=0.01)
    assert rows["stt"]["cpu_ratio"] is None
    table = format_table(rows)
    assert table.splitlines()[1].split()[:5] == ["stt", "610.0", "310.0", "1.97", "-"]


def test_cpu_ratio_counts_the_server_processes_not_the_client() -> None:
    server = {"stt": {"stub stt": 600.0, "tritonserver": 3.0, "client": 5.0}}
    in_process = {"stt": {"python": 540.0}}
    assert cpu_ratio(server, in_process, "stt") == pytest.approx(1.12)
    assert cpu_ratio(server, in_process, "tts") is None
    rows = stage_rows(samples(), server, in_process)
    assert rows["stt"]["cpu_ratio"] == pytest.approx(1.12)


def test_turn_floor_adds_the_silence_and_the_stage_medians_per_utterance() -> None:
    floor = turn_floor(samples(), IN_PROCESS, eot_ms=400.0)
    # key 0: medians of (900, 300, 300) etc.: 400 + 300 + 100 + 150
    assert floor["per_utterance_ms"] == {"0": 950.0, "1": 980.0}
    assert floor["n"] == 2
    assert floor["p50_ms"] == 965.0


def test_machine_share_splits_cpu_time_into_busy_idle_and_stolen() -> None:
    before = [100, 0, 50, 1000, 10, 0, 0, 5]
    after = [400, 0, 150, 1550, 10, 0, 0, 105]  # +300 user, +100 system, +550 idle, +100 steal
    assert machine_share(before, after) == {"busy_pct": 38.1, "idle_pct": 52.4, "steal_pct": 9.5}
