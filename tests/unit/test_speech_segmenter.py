from orchestrator.conversation.speech_segmenter import (
    WINDOW_MS,
    SegmenterParams,
    SpeechEnded,
    SpeechSegmenter,
    SpeechStarted,
)

PARAMS = SegmenterParams(threshold=0.5, min_speech_ms=96, pause_ms=320)


def windows(ms: int) -> int:
    return ms // WINDOW_MS


def test_silence_yields_nothing() -> None:
    seg = SpeechSegmenter(PARAMS)
    assert seg.push_many([0.01] * 100) == []
    assert seg.flush() == []


def test_speech_opens_after_min_speech_backdated_to_onset() -> None:
    seg = SpeechSegmenter(PARAMS)
    events = seg.push_many([0.0] * 10 + [0.9] * 3)
    assert events == [SpeechStarted(onset_ms=320, confirmed_ms=320 + 96)]


def test_blip_shorter_than_min_speech_is_ignored() -> None:
    seg = SpeechSegmenter(PARAMS)
    assert seg.push_many([0.9, 0.9, 0.0, 0.0] * 10) == []


def test_segment_closes_after_min_silence_with_end_at_last_speech() -> None:
    seg = SpeechSegmenter(PARAMS)
    events = seg.push_many([0.9] * 20 + [0.0] * windows(320))
    assert events[0] == SpeechStarted(0, 96)
    assert events[1] == SpeechEnded(onset_ms=0, end_ms=20 * WINDOW_MS, detected_ms=30 * WINDOW_MS)
    assert events[1].duration_ms == 640


def test_short_pause_inside_speech_does_not_split() -> None:
    seg = SpeechSegmenter(PARAMS)
    events = seg.push_many([0.9] * 10 + [0.0] * 5 + [0.9] * 10 + [0.0] * 10)
    assert [type(e) for e in events] == [SpeechStarted, SpeechEnded]
    assert events[1] == SpeechEnded(0, 25 * WINDOW_MS, 35 * WINDOW_MS)


def test_hysteresis_keeps_speech_open_between_thresholds() -> None:
    seg = SpeechSegmenter(PARAMS)
    events = seg.push_many([0.9] * 5 + [0.4] * 30)  # 0.4 >= 0.5 - 0.15: still speech
    assert [type(e) for e in events] == [SpeechStarted]
    assert seg.in_speech


def test_probability_between_thresholds_neither_starts_nor_resets_candidate() -> None:
    seg = SpeechSegmenter(PARAMS)
    events = seg.push_many([0.9, 0.4, 0.9])
    assert events == [SpeechStarted(0, 96)]


def test_flush_closes_open_segment() -> None:
    seg = SpeechSegmenter(PARAMS)
    seg.push_many([0.9] * 10)
    assert seg.flush() == [SpeechEnded(0, 320, 320)]
    assert not seg.in_speech


def test_two_segments() -> None:
    seg = SpeechSegmenter(PARAMS)
    probs = [0.0] * 5 + [0.9] * 10 + [0.0] * 20 + [0.8] * 8 + [0.0] * 12
    ended = [e for e in seg.push_many(probs) if isinstance(e, SpeechEnded)]
    assert [(e.onset_ms, e.end_ms) for e in ended] == [(160, 480), (1120, 1376)]


def test_decaying_probability_keeps_segment_open_but_not_its_end() -> None:
    seg = SpeechSegmenter(PARAMS)
    events = seg.push_many([0.9] * 5 + [0.4] * 3 + [0.0] * 10)
    assert events[-1] == SpeechEnded(onset_ms=0, end_ms=5 * WINDOW_MS, detected_ms=18 * WINDOW_MS)
