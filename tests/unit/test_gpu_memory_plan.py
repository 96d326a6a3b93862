"""serving/gpu_memory_plan.py: the LLM's share of the card present, or a refusal naming the card needed.

The cards' totals are what ``nvidia-smi --query-gpu=memory.total`` reports on them (sources in the ids:
modal-labs/modal-client PR #2797 lists A10, L4, A100 40GB/80GB, L40S, H100; RTX 4090 from
RLinf/RLinf issue #255; H200 from public nvidia-smi outputs). The demand is the committed repository's.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from serving.gpu_memory_plan import (
    GEMMA3_27B_INT4,
    HEADROOM_MIN_GIB,
    OTHER_PROCESSES_GIB,
    SHARE_OVERRIDE_ENV,
    Demand,
    Gpu,
    MemoryPlan,
    Refusal,
    csm_gib,
    instance_count,
    kv_gib,
    llm_demand,
    main,
    plan,
    read_demand,
    table,
    target_kv_cache_gib,
    whisper_gib,
    whisper_size,
)
from serving.paths import MODEL_REPOSITORY, PROJECT_ROOT
from serving.stt_engine import SttOptions
from serving.tts.contract import TtsEngineKind, TtsOptions

MODEL_JSON = MODEL_REPOSITORY / "llm" / "1" / "model.json"


def production() -> Demand:
    return read_demand(MODEL_REPOSITORY, None, {})


@pytest.mark.parametrize(
    ("mib", "share"),
    [
        pytest.param(40_960, 0.70, id="A100-40GB-40960MiB-modal-pr2797"),
        pytest.param(46_068, 0.73, id="L40S-46068MiB-modal-pr2797"),
        pytest.param(81_920, 0.50, id="A100-80GB-81920MiB-modal-pr2797"),
        pytest.param(81_559, 0.50, id="H100-80GB-81559MiB-modal-pr2797"),
        pytest.param(143_771, 0.28, id="H200-143771MiB-nvidia-smi"),
    ],
)
def test_cards_that_fit_start_with_a_share_leaving_at_least_the_minimum_kv_cache(
    mib: int, share: float
) -> None:
    result = plan(Gpu(mib), production())
    assert isinstance(result, MemoryPlan), result
    assert result.how == "planned" and result.share == share
    assert result.kv_cache_gib is not None and result.min_kv_cache_gib is not None
    assert result.kv_cache_gib >= result.min_kv_cache_gib
    assert result.headroom_gib >= HEADROOM_MIN_GIB  # vLLM's share leaves the others their budgets
    assert not result.warnings


@pytest.mark.parametrize(
    ("mib", "has"),
    [
        pytest.param(23_028, "22.5", id="A10-23028MiB-modal-pr2797"),
        pytest.param(23_034, "22.5", id="L4-23034MiB-modal-pr2797"),
        pytest.param(24_564, "24.0", id="RTX4090-24564MiB-rlinf-issue255"),
    ],
)
def test_24_gb_cards_are_refused_with_the_card_needed(mib: int, has: str) -> None:
    result = plan(Gpu(mib, "NVIDIA X"), production())
    assert isinstance(result, Refusal)
    assert "needs >= 39.7 GiB of GPU memory" in result.message
    assert f"NVIDIA X has {has} GiB ({mib} MiB)" in result.message
    assert "stt, tts, llm" in result.message and SHARE_OVERRIDE_ENV in result.message


def test_the_smallest_card_that_starts_is_the_one_the_refusal_names() -> None:
    refused = plan(Gpu(23_028), production())
    assert isinstance(refused, Refusal)
    needed_mib = int(refused.needed_gib * 1024) + 1
    assert isinstance(plan(Gpu(needed_mib), production()), MemoryPlan)
    assert isinstance(plan(Gpu(needed_mib - 1024), production()), Refusal)


def test_model_json_holds_the_80_gb_plan() -> None:
    written = json.loads(MODEL_JSON.read_text())["gpu_memory_utilization"]
    for mib in (81_920, 81_559):
        result = plan(Gpu(mib), production())
        assert isinstance(result, MemoryPlan) and result.share == written


def test_big_cards_get_the_target_kv_cache_not_the_whole_card() -> None:
    demand = production()
    assert demand.llm is not None
    target = target_kv_cache_gib(demand.llm, GEMMA3_27B_INT4)
    for mib in (81_920, 143_771):
        result = plan(Gpu(mib), demand)
        assert isinstance(result, MemoryPlan) and result.kv_cache_gib is not None
        assert target - 0.01 * Gpu(mib).cuda_gib <= result.kv_cache_gib <= target


def test_kv_cache_per_sequence_matches_the_documented_arithmetic() -> None:
    """docs/GPU_MEMORY.md's table: 576 MiB, 736 MiB, 1.03 GiB (the hybrid KV-cache manager)."""
    assert kv_gib(GEMMA3_27B_INT4, 2048) * 1024 == pytest.approx(576, abs=1)
    assert kv_gib(GEMMA3_27B_INT4, 4096) * 1024 == pytest.approx(736, abs=1)
    assert kv_gib(GEMMA3_27B_INT4, 8192) == pytest.approx(1.03, abs=0.01)
    assert kv_gib(GEMMA3_27B_INT4, 1) * 1024**3 == 62 * 8 * 1024  # every layer keeps token 1


def test_budgets_of_the_production_configuration() -> None:
    demand = production()
    budgets = {b.model: b.gib for b in demand.budgets}
    assert budgets["stt"] == pytest.approx(3.0, abs=0.05)  # docs/GPU_MEMORY.md: ~3 GiB
    assert budgets["tts"] == pytest.approx(4.7, abs=0.05)  # ~4.7 GiB per instance (16 slots)
    assert "silero_vad" not in budgets  # on the CPU
    assert demand.llm is not None and demand.llm.figures is GEMMA3_27B_INT4
    assert (demand.llm.max_model_len, demand.llm.max_num_seqs) == (8192, 32)


def test_settings_and_overrides_change_the_budgets() -> None:
    environ = {"CC_MODEL_STT_NUM_WORKERS": "8", "CC_MODEL_TTS_MAX_CONCURRENT": "32"}
    budgets = {b.model: b.gib for b in read_demand(MODEL_REPOSITORY, None, environ).budgets}
    base = {b.model: b.gib for b in production().budgets}
    assert budgets["stt"] > base["stt"] and budgets["tts"] > base["tts"]
    assert csm_gib(TtsOptions(model="m", engine=TtsEngineKind.PIPER), 1).gib == 0
    assert csm_gib(TtsOptions(model="m", device="cpu"), 1).gib == 0
    generate = TtsOptions(model="m", engine=TtsEngineKind.CSM_GENERATE, max_concurrent=2)
    assert csm_gib(generate, 1).gib == pytest.approx(4.5, abs=0.05)  # a KV cache per request
    assert whisper_gib(SttOptions(model="tiny.en", device="cpu"), 1).gib == 0
    one = whisper_gib(SttOptions(model="distil-large-v3"), 1).gib
    assert whisper_gib(SttOptions(model="distil-large-v3"), 2).gib == pytest.approx(2 * one)
    int8 = whisper_gib(SttOptions(model="distil-large-v3", compute_type="int8_float16"), 1).gib
    assert one - int8 == pytest.approx(0.7, abs=0.1)  # docs: int8_float16 saves ~0.7 GiB


def test_whisper_sizes_from_names_hub_ids_and_folders() -> None:
    assert whisper_size("distil-large-v3") == "distil-large"
    assert whisper_size("Systran/faster-whisper-small.en") == "small"
    assert whisper_size("large-v3-turbo") == "turbo"
    assert whisper_size("tiny.en") == "tiny"
    assert whisper_size("/models/my-finetune") == "large"  # unknown: the largest


def test_instance_groups_count(tmp_path: Path) -> None:
    assert instance_count("instance_group [ { kind: KIND_CPU, count: 2 } ]") == 2
    assert instance_count("instance_group [ { count: 1 }, { count: 3 } ]  # count: 9") == 4
    assert instance_count('name: "x"') == 1  # Triton's default


def test_the_models_this_server_loads_are_the_ones_planned() -> None:
    speech = read_demand(MODEL_REPOSITORY, ["silero_vad", "stt", "tts"], {})
    result = plan(Gpu(23_028), speech)  # no LLM: a 24 GB card holds Whisper and CSM
    assert isinstance(result, MemoryPlan) and result.share is None and result.how == "no llm"
    llm_only = read_demand(MODEL_REPOSITORY, ["llm"], {})
    alone = plan(Gpu(40_960), llm_only)
    assert isinstance(alone, MemoryPlan) and alone.share is not None
    with_speech = plan(Gpu(40_960), production())
    assert isinstance(with_speech, MemoryPlan) and with_speech.share is not None
    assert alone.share > with_speech.share
    nothing = plan(Gpu(1024), Demand((), None))  # only CPU models: any card
    assert isinstance(nothing, MemoryPlan) and nothing.how == "no llm"


def test_the_operator_override_is_used_as_given_with_warnings() -> None:
    result = plan(Gpu(40_960), production(), share_override=0.55)
    assert isinstance(result, MemoryPlan) and (result.share, result.how) == (0.55, "override")
    assert result.kv_cache_gib is not None and result.kv_cache_gib < 1.0  # what 0.55 left
    assert any("KV cache" in w for w in result.warnings)
    small = plan(Gpu(23_028), production(), share_override=0.9)
    assert isinstance(small, MemoryPlan) and any("run out of memory" in w for w in small.warnings)
    with pytest.raises(ValueError, match=SHARE_OVERRIDE_ENV):
        plan(Gpu(40_960), production(), share_override=1.5)


def test_an_llm_without_figures_keeps_its_configured_share() -> None:
    demand = Demand(
        production().budgets, llm_demand({"model": "org/other", "gpu_memory_utilization": 0.6})
    )
    result = plan(Gpu(81_920), demand)
    assert isinstance(result, MemoryPlan)
    assert (result.share, result.how, result.kv_cache_gib) == (0.6, "kept", None)
    assert "org/other" in result.warnings[0]


def test_other_processes_are_counted_once() -> None:
    result = plan(Gpu(81_920), Demand(production().budgets, None))
    assert isinstance(result, MemoryPlan)
    budgets = sum(b.gib for b in production().budgets)
    assert result.headroom_gib == pytest.approx(
        Gpu(81_920).cuda_gib - budgets - OTHER_PROCESSES_GIB
    )


def test_cli_writes_a_planned_copy_and_leaves_the_repository_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "repo"
    shutil.copytree(MODEL_REPOSITORY, source, ignore=shutil.ignore_patterns("__pycache__"))
    before = (source / "llm" / "1" / "model.json").read_text()
    monkeypatch.delenv("CC_TRITON_MODELS", raising=False)
    monkeypatch.delenv(SHARE_OVERRIDE_ENV, raising=False)
    output = tmp_path / "planned"
    output.mkdir()
    (output / "stale").write_text("from the last start")
    argv = ["plan", "--gpu-mib", "40960", "--gpu-name", "NVIDIA A100-SXM4-40GB"]
    assert main([*argv, "--model-repository", str(source), "--output", str(output)]) == 0
    assert "gpu_memory_utilization 0.70 (planned)" in capsys.readouterr().out
    written = json.loads((output / "llm" / "1" / "model.json").read_text())
    assert written["gpu_memory_utilization"] == 0.7
    assert {k: v for k, v in written.items() if k != "gpu_memory_utilization"} == {
        k: v for k, v in json.loads(before).items() if k != "gpu_memory_utilization"
    }
    assert (source / "llm" / "1" / "model.json").read_text() == before
    assert (output / "stt" / "config.pbtxt").read_text() == (
        source / "stt" / "config.pbtxt"
    ).read_text()
    assert not (output / "stale").exists()


def test_cli_refuses_with_the_message_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("CC_TRITON_MODELS", raising=False)
    monkeypatch.delenv(SHARE_OVERRIDE_ENV, raising=False)
    output = tmp_path / "planned"
    argv = ["plan", "--gpu-mib", "23028", "--gpu-name", "NVIDIA A10"]
    assert main([*argv, "--model-repository", str(MODEL_REPOSITORY), "--output", str(output)]) == 1
    err = capsys.readouterr().err
    assert "cannot start: needs >= 39.7 GiB" in err and "NVIDIA A10 has 22.5 GiB" in err
    assert not output.exists()
    monkeypatch.setenv(SHARE_OVERRIDE_ENV, "lots")
    assert main(["plan", "--gpu-mib", "40960", "--model-repository", str(MODEL_REPOSITORY)]) == 1
    assert "is not a number" in capsys.readouterr().err


def test_the_table_in_docs_gpu_memory_is_the_modules_output() -> None:
    """docs/GPU_MEMORY.md carries `python -m serving.gpu_memory_plan table` verbatim."""
    doc = (PROJECT_ROOT / "docs" / "GPU_MEMORY.md").read_text()
    assert table(production()) in doc, "regenerate: python -m serving.gpu_memory_plan table"
