"""Which Hugging Face weights the model repository loads, and fetching them once into ``$HF_HOME``.

The image's entrypoint runs ``python3 -m serving.weights fetch`` before tritonserver starts; the models
then load from the Hugging Face cache under ``$HF_HOME`` (a volume, ``/workspace`` on RunPod) with
``HF_HUB_OFFLINE=1``, so no model ever downloads while calls are live and a restart downloads nothing.

What is fetched is read from the repository itself, as the models will read it:

* ``<model>/1/model.json`` (the vLLM backend's engine arguments): ``model`` and ``tokenizer``;
* ``<model>/config.pbtxt`` ``parameters`` whose key names a model (``model``, ``*_model``, ``model_id``,
  ``*_repo``, ``tokenizer``, ``checkpoint``, ...), after the same ``CC_MODEL_<MODEL>_<KEY>`` overrides the
  models apply (serving/model_parameters.py); faster-whisper size names (``distil-large-v3``) map to their
  CTranslate2 repositories. Such a key has no default in its model's options dataclass, so config.pbtxt
  always names it;
* ``CC_WEIGHTS_EXTRA``: more repository ids, comma-separated.

Values that are paths (absolute, relative with ``./``, or existing) are left alone. Gated repositories
(Gemma 3, CSM) need ``HF_TOKEN`` from an account that has accepted their licence on the Hub.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from serving.model_parameters import env_override_name

# ``org/name`` as the Hub spells repository ids.
_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")
# config.pbtxt parameters: { key: "k", value: { string_value: "v" } } (either field order of the pair).
_PARAMETER = re.compile(
    r'key\s*:\s*"(?P<key>[^"]+)"\s*,?\s*value\s*:\s*\{\s*string_value\s*:\s*"(?P<value>[^"]*)"\s*\}'
)
# Parameter keys whose value is a weights repository.
_WEIGHT_KEYS = re.compile(
    r"^(model|model_id|model_name|repo|repo_id|tokenizer|checkpoint|voice|codec|"
    r".*_model|.*_model_id|.*_repo|.*_repo_id|.*_checkpoint|.*_tokenizer)$"
)
# faster-whisper's size names -> CTranslate2 repositories (faster_whisper.utils._MODELS, 1.2.x).
FASTER_WHISPER_SIZES = {
    "tiny.en": "Systran/faster-whisper-tiny.en",
    "tiny": "Systran/faster-whisper-tiny",
    "base.en": "Systran/faster-whisper-base.en",
    "base": "Systran/faster-whisper-base",
    "small.en": "Systran/faster-whisper-small.en",
    "small": "Systran/faster-whisper-small",
    "medium.en": "Systran/faster-whisper-medium.en",
    "medium": "Systran/faster-whisper-medium",
    "large-v1": "Systran/faster-whisper-large-v1",
    "large-v2": "Systran/faster-whisper-large-v2",
    "large-v3": "Systran/faster-whisper-large-v3",
    "large": "Systran/faster-whisper-large-v3",
    "distil-large-v2": "Systran/faster-distil-whisper-large-v2",
    "distil-medium.en": "Systran/faster-distil-whisper-medium.en",
    "distil-small.en": "Systran/faster-distil-whisper-small.en",
    "distil-large-v3": "Systran/faster-distil-whisper-large-v3",
    "distil-large-v3.5": "distil-whisper/distil-large-v3.5-ct2",
    "large-v3-turbo": "mobiuslabsgmbh/faster-whisper-large-v3-turbo",
    "turbo": "mobiuslabsgmbh/faster-whisper-large-v3-turbo",
}
# Repositories whose licence must be accepted on the Hub before the token can download them.
GATED_PREFIXES = ("google/gemma", "sesame/", "meta-llama/")
# Files no loader of ours reads (original PyTorch checkpoints, other frameworks' weights).
IGNORED_FILES = [
    "*.pt",
    "*.pth",
    "original/*",
    "*.gguf",
    "*.msgpack",
    "*.h5",
    "flax_model*",
    "tf_model*",
]


@dataclass(frozen=True)
class WeightSource:
    """One repository to fetch, and where the model repository asks for it."""

    repo_id: str
    origin: str  # e.g. "llm/1/model.json: model"

    @property
    def gated(self) -> bool:
        return self.repo_id.startswith(GATED_PREFIXES)


def _as_repo_id(value: str, base: Path) -> str | None:
    value = value.strip()
    if value in FASTER_WHISPER_SIZES:
        return FASTER_WHISPER_SIZES[value]
    if not _REPO_ID.match(value) or value.startswith(".") or (base / value).exists():
        return None
    return value


def config_parameters(config_text: str) -> dict[str, str]:
    """String parameters of a ``config.pbtxt`` (comments stripped)."""
    text = "\n".join(line.split("#", 1)[0] for line in config_text.splitlines())
    return {m["key"]: m["value"] for m in _PARAMETER.finditer(text)}


def discover(
    model_repository: Path, environ: Mapping[str, str] | None = None
) -> list[WeightSource]:
    """Every Hub repository the models in ``model_repository`` load, first mention first."""
    environ = os.environ if environ is None else environ
    found: dict[str, WeightSource] = {}

    def add(repo_id: str | None, origin: str) -> None:
        if repo_id and repo_id not in found:
            found[repo_id] = WeightSource(repo_id, origin)

    for model_dir in sorted(p for p in model_repository.iterdir() if p.is_dir()):
        name = model_dir.name
        engine_args = model_dir / "1" / "model.json"
        if engine_args.is_file():
            args = json.loads(engine_args.read_text())
            for key in ("model", "tokenizer"):
                value = args.get(key)
                if isinstance(value, str):
                    add(_as_repo_id(value, model_dir), f"{name}/1/model.json: {key}")
        config = model_dir / "config.pbtxt"
        if config.is_file():
            for key, value in config_parameters(config.read_text()).items():
                if not _WEIGHT_KEYS.match(key):
                    continue
                value = environ.get(env_override_name(name, key), value)
                add(_as_repo_id(value, model_dir), f"{name}/config.pbtxt: {key}")
    for extra in environ.get("CC_WEIGHTS_EXTRA", "").split(","):
        if extra.strip():
            add(extra.strip(), "CC_WEIGHTS_EXTRA")
    return list(found.values())


def _marker(hf_home: Path, sources: list[WeightSource]) -> Path:
    digest = hashlib.sha256("\n".join(s.repo_id for s in sources).encode()).hexdigest()[:16]
    return hf_home / f".client-caller-weights-{digest}"


def fetch(sources: list[WeightSource], hf_home: Path) -> int:
    """Download every source into the Hugging Face cache under ``hf_home``; 0 on success.

    A marker file named after the list makes later starts skip the Hub entirely.
    """
    marker = _marker(hf_home, sources)
    if marker.exists():
        print(f"weights: all {len(sources)} repositories already in {hf_home}", flush=True)
        return 0
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    failed = 0
    for source in sources:
        print(f"weights: {source.repo_id} ({source.origin})", flush=True)
        try:
            # The token comes from HF_TOKEN. Original (non-Transformers) checkpoints and other
            # frameworks' copies are skipped; CTranslate2's model.bin is kept.
            snapshot_download(source.repo_id, ignore_patterns=IGNORED_FILES)
        except (GatedRepoError, RepositoryNotFoundError) as exc:
            failed += 1
            hint = (
                "accept its licence at https://huggingface.co/"
                f"{source.repo_id} with the account whose token is in HF_TOKEN"
                if source.gated or isinstance(exc, GatedRepoError)
                else "check the id, or set HF_TOKEN if it is private"
            )
            print(f"weights: cannot download {source.repo_id}: {hint}", file=sys.stderr)
    if failed:
        return 1
    marker.write_text("\n".join(s.repo_id for s in sources) + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m serving.weights", description=__doc__)
    parser.add_argument("command", choices=["list", "fetch"])
    parser.add_argument("--model-repository", type=Path, default=Path("model_repository"))
    args = parser.parse_args(argv)
    sources = discover(args.model_repository)
    if args.command == "list":
        for source in sources:
            gated = "\tgated" if source.gated else ""
            print(f"{source.repo_id}\t{source.origin}{gated}")
        return 0
    hf_home = Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface"))
    hf_home.mkdir(parents=True, exist_ok=True)
    return fetch(sources, hf_home)


if __name__ == "__main__":
    raise SystemExit(main())
