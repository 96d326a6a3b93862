"""Every production Python-backend model loads and answers in the image's model environment.

The environment is the image's, rebuilt on the CPU (model_env.py): the base image's packages at their
26.07 versions, then exactly what the Dockerfile installs. tritonserver loads the committed
model_repository/ in it with production's settings (``device_map``, bfloat16 CSM, float16 Whisper in a
CTranslate2 folder) on tiny random weights of the production architectures; only what the CPU cannot do
differs: the device, and CTranslate2's compute type (it has no float16 on a CPU). A package a model needs
at run time that the image lacks (the case this exists for: transformers' ``device_map`` needs
``accelerate``) fails the load here, as it would fail the pod.

The ``llm`` model is not loaded: it runs Triton's own vLLM backend, which needs a GPU; its model.json is
checked against the image's vLLM release by tests/unit/test_deploy_image.py.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from model_env import image_model_env, image_packages

from benchmarks.triton_stream import stream_request, tensor, text_tensor
from serving.launcher import TritonServer, TritonServerOptions
from serving.model_parameters import env_override_name
from serving.paths import MODEL_REPOSITORY, PROJECT_ROOT
from serving.tiny_whisper import tiny_whisper_dir
from serving.tts.tiny_csm import tiny_csm_dir

CACHE_DIR = PROJECT_ROOT / ".cache"
MODELS = ["silero_vad", "stt", "tts", "turn_detector"]

pytestmark = [pytest.mark.image_env, pytest.mark.timeout(900)]


def cpu_settings() -> dict[str, str]:
    """Production's parameters, less what a CPU cannot run."""
    settings = {
        ("stt", "model"): str(tiny_whisper_dir(CACHE_DIR)),
        ("stt", "device"): "cpu",
        ("stt", "compute_type"): "default",  # float16 weights, computed in float32 on a CPU
        ("tts", "model"): str(tiny_csm_dir(CACHE_DIR)),
        ("tts", "device"): "cpu",
    }
    return {env_override_name(model, key): value for (model, key), value in settings.items()}


@pytest.fixture(scope="module")
def image_env() -> Path:
    return image_model_env(CACHE_DIR)


@pytest.fixture(scope="module")
def image_triton(
    image_env: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TritonServer]:
    # The stubs' embedded Python finds its environment through PATH (serving/launcher.py): this venv's.
    # Outside the repository, so that they import our code as installed into it, not from the checkout.
    path = os.pathsep.join([str(image_env / "bin"), os.environ.get("PATH", "")])
    run_dir = tmp_path_factory.mktemp("image-env-triton")
    server = TritonServer(
        TritonServerOptions(
            model_repository=MODEL_REPOSITORY,
            models=MODELS,
            env={**cpu_settings(), "PATH": path},
            run_dir=run_dir,
            cwd=run_dir,
            startup_timeout_s=600,
        )
    )
    server.start()
    yield server
    server.stop()


def test_the_environment_has_the_images_versions(image_env: Path) -> None:
    import subprocess

    frozen = subprocess.run(
        [str(image_env / "bin" / "python"), "-m", "pip", "list", "--format=freeze"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.lower()
    for package in image_packages():
        if package.skipped_on_cpu:
            assert f"{package.name}==" not in frozen
        else:
            version = package.cpu_version or package.version
            assert f"{package.name}=={version}".lower() in frozen, package
    assert "client-caller==" in frozen  # our code, installed as the Dockerfile does


def test_every_python_backend_model_loads_in_the_images_environment(
    image_triton: TritonServer,
) -> None:
    assert image_triton.load_failures() == []
    log = Path(image_triton.log_path).read_text(errors="replace")
    for model in MODELS:
        assert f"{model} ready" in log, model


def test_vad_stt_tts_and_turn_detector_answer(image_triton: TritonServer) -> None:
    rng = np.random.default_rng(0)
    noise = rng.normal(0.0, 0.05, 16_000).astype(np.float32)
    vad = stream_request(
        image_triton.grpc_url,
        "silero_vad",
        [tensor("audio", noise[:512])],
        request_id=f"vad-{uuid.uuid4().hex[:8]}",
    )
    stt = stream_request(
        image_triton.grpc_url,
        "stt",
        [tensor("audio", noise), tensor("sample_rate", np.array([16_000], np.int32))],
        request_id=f"stt-{uuid.uuid4().hex[:8]}",
    )
    # As every reply's second chunk is sent: the previous chunk's text and audio as CSM context, which
    # Mimi's bfloat16 encoder reads (float32 audio there failed: "Input type (float) and bias type
    # (c10::BFloat16) should be the same").
    context_audio = rng.normal(0.0, 0.05, 8_000).astype(np.float32)
    tts = stream_request(
        image_triton.grpc_url,
        "tts",
        [
            text_tensor("text", "Hello there."),
            tensor("speaker_id", np.array([0], np.int32)),
            text_tensor("context_text", "Thanks for calling."),
            tensor("context_speaker", np.array([0], np.int32)),
            tensor("context_audio", context_audio),
            tensor("context_audio_lengths", np.array([context_audio.size], np.int32)),
            tensor("context_sample_rate", np.array([16_000], np.int32)),
        ],
        request_id=f"tts-{uuid.uuid4().hex[:8]}",
    )
    turn = stream_request(
        image_triton.grpc_url,
        "turn_detector",
        [tensor("audio", noise), tensor("sample_rate", np.array([16_000], np.int32))],
        request_id=f"eot-{uuid.uuid4().hex[:8]}",
    )
    for result in (vad, stt, tts, turn):
        assert result.error is None and result.final_at is not None
    assert 0.0 <= float(turn.responses[0].as_numpy("probability")[0]) <= 1.0
    assert tts.responses and tts.responses[0].as_numpy("audio").size > 0
