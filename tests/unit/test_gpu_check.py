"""The prepared GPU check (benchmarks/gpu_check.py): its tiny mode end to end on the CPU (the same code
as the GPU run, tiny configs), a failing phase, the time guard's prediction, and the bare host's imports."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks import gpu_check
from benchmarks.gpu_check import (
    FULL,
    TINY,
    Level,
    TtsEngineChoice,
    TtsTiming,
    hide_checkout_folders,
    main,
    predicted_s,
    summarize_level,
)
from serving.tts.contract import TtsEngineKind, TtsOptions


def run_tiny(tmp_path: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    code = main(["--tiny", "--results-dir", str(tmp_path), "--commit", "abc1234", *extra])
    name = "gpu_check_tiny-latest.json"
    return code, json.loads((tmp_path / name).read_text())


def test_tiny_mode_measures_every_tts_level_and_the_stt_proxy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, document = run_tiny(tmp_path)
    out = capsys.readouterr().out
    assert code == 0
    assert (document["benchmark"], document["profile"], document["commit"]) == (
        "gpu_check_tiny",
        "tiny",
        "abc1234",
    )
    figures = document["figures"]
    assert figures["complete"] and not figures["skipped"] and "interrupted" not in figures
    assert not (tmp_path / "gpu_check_tiny-partial.json").exists()

    tts = figures["tts"]
    assert (tts["engine"], tts["device"], tts["dtype"]) == ("csm", "cpu", "bfloat16")
    assert [(r["concurrency"], r["context"], r["requests"]) for r in tts["levels"]] == [
        (1, False, 2),
        (1, True, 2),
        (4, True, 4),
        (8, True, 8),
    ]
    for row in tts["levels"]:
        assert row["stopped"] == 0 and "truncated" not in row
        assert 0 < row["first_audio"]["p50_ms"] <= row["first_audio"]["max_ms"]
        assert 0 < row["frames_per_request_p50"] <= TINY.sentence_frames()  # capped sentences
        assert row["frames_per_s_total"] > 0 and row["real_time_factor_p50"] > 0
    assert tts["context_audio_s"] > 0

    stt = figures["stt"]
    assert (stt["sizes"], stt["tokens"], stt["encoder"]["n"]) == ("tiny", 8, TINY.stt_repeats)
    assert stt["encoder"]["p50_ms"] > 0 and stt["decoder_ms_per_token_p50"] > 0
    assert stt["total"]["p50_ms"] >= stt["encoder"]["p50_ms"]

    table = out[out.index("gpu_check tiny:") :].splitlines()
    assert "complete" in table[0]
    assert any(line.startswith("TTS csm (bfloat16 on cpu)") for line in table)
    assert any(line.startswith("STT proxy (tiny, float32 on cpu)") for line in table)
    rows = [line[:11].strip() for line in table if line.startswith("  ") and "conc" not in line]
    assert rows == ["1 no ctx", "1", "4", "8"]


def test_a_failing_engine_is_recorded_and_the_other_phase_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(options: TtsOptions, loaded: Any) -> Any:
        raise RuntimeError("no such kernel")

    monkeypatch.setitem(gpu_check.TTS_ENGINES, "broken", TtsEngineChoice(TtsEngineKind.CSM, broken))
    code, document = run_tiny(tmp_path, "--tts-engine", "broken", "--stt-tokens", "2")
    figures = document["figures"]
    assert code == 1 and not figures["complete"]
    assert "no such kernel" in figures["tts"]["error"]
    assert figures["stt"]["tokens"] == 2 and figures["stt"]["encoder"]["p50_ms"] > 0


def test_full_plan_measures_a_first_chunk_then_three_levels_with_context() -> None:
    assert (FULL.device, FULL.tts_dtype, FULL.stt_dtype) == ("cuda", "bfloat16", "float16")
    assert FULL.levels() == [
        Level(1, 3, context=False),
        Level(1, 3, context=True),
        Level(4, 4, context=True),
        Level(8, 8, context=True),
    ]
    assert FULL.sentence_frames() == 38  # 3 s of 80 ms frames


def test_level_summary_counts_frames_from_audio_and_skips_stopped_requests() -> None:
    timings = [
        TtsTiming(first_audio_s=0.1, total_s=1.0, audio_s=0.8, frames=10, chunks=2),
        TtsTiming(first_audio_s=0.3, total_s=2.0, audio_s=1.6, frames=20, chunks=3),
        TtsTiming(first_audio_s=float("nan"), total_s=0.01, audio_s=0.0, frames=0, chunks=0),
    ]
    row = summarize_level(Level(4, 3, context=True), timings, wall_s=2.0)
    assert (row["requests"], row["stopped"]) == (2, 1)
    assert row["first_audio"]["max_ms"] == pytest.approx(300.0)
    assert row["frames_per_s_per_request_p50"] == pytest.approx(10.0)
    assert row["frames_per_s_total"] == pytest.approx(15.0)
    assert row["real_time_streams"] == pytest.approx(1.2)  # 15 frames/s of 80 ms
    assert row["real_time_factor_p50"] == pytest.approx(1.25)


def test_a_level_is_predicted_from_the_rate_measured_so_far() -> None:
    assert predicted_s(Level(8, 8, context=True), 38, None) == 0.0
    assert predicted_s(Level(8, 8, context=True), 38, 76.0) == pytest.approx(4.0)


def test_a_bare_checkout_folder_does_not_import_as_a_package(tmp_path: Path) -> None:
    # The image's triton/ folder, taken by torch for the Triton compiler on a host without it.
    (tmp_path / "gpu_check_probe_folder").mkdir()
    (tmp_path / "gpu_check_probe_pkg").mkdir()
    (tmp_path / "gpu_check_probe_pkg" / "__init__.py").write_text("")
    sys.path.insert(0, str(tmp_path))
    try:
        hidden = hide_checkout_folders(
            ["gpu_check_probe_folder", "gpu_check_probe_pkg", "gpu_check_probe_absent"], tmp_path
        )
        assert hidden == ["gpu_check_probe_folder"]
        with pytest.raises(ImportError):
            importlib.import_module("gpu_check_probe_folder")
        assert importlib.import_module("gpu_check_probe_pkg").__file__
    finally:
        sys.path.remove(str(tmp_path))
        for name in ("gpu_check_probe_folder", "gpu_check_probe_pkg"):
            sys.modules.pop(name, None)
