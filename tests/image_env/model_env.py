"""The GPU image's model environment, rebuilt on this CPU machine in a clean virtual environment.

What the image's Python-backend stubs run with is (1) what the base image ships, at the versions in
``triton/image-packages.txt``, and (2) what ``triton/install-model-packages.sh`` adds from
``triton/requirements-models*.txt``. This builds the same: a fresh venv gets (1), with the CPU stand-ins
that file names where the image's own build cannot run here, then runs that very script, then installs
our code without dependencies, as the Dockerfile does. Nothing else from this project's .venv leaks in,
so a package the models import but the image lacks fails here as it would on the pod.

The venv is cached under ``.cache/image-model-env/<hash of the files above>``; our code is reinstalled
into it on each use (it changes more often than the packages).
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from serving.paths import PROJECT_ROOT

TRITON_DIR = PROJECT_ROOT / "triton"
IMAGE_PACKAGES = TRITON_DIR / "image-packages.txt"
INSTALL_SCRIPT = TRITON_DIR / "install-model-packages.sh"
BUILD_VERSION = "1"  # bump when the build steps below change

_LINE = re.compile(
    r"^(?P<name>[A-Za-z0-9_.-]+)==(?P<version>\S+)\s*#\s*(?P<source>[^|]*?)\s*"
    r"(?:\|\s*cpu:\s*(?P<cpu>\S+)\s*\((?P<why>.*)\))?\s*$"
)


@dataclass(frozen=True)
class ImagePackage:
    name: str
    version: str  # in the image
    source: str  # where that version comes from
    cpu_version: str | None  # what the CPU reproduction installs instead; None: the image's
    cpu_reason: str = ""

    @property
    def skipped_on_cpu(self) -> bool:
        return self.cpu_version == "skip"

    @property
    def cpu_requirement(self) -> str:
        return f"{self.name}=={self.cpu_version or self.version}"


def image_packages(path: Path = IMAGE_PACKAGES) -> list[ImagePackage]:
    packages = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        found = _LINE.match(line)
        if found is None:
            raise ValueError(
                f"{path.name}:{number}: not 'name==version  # source [| cpu: v (why)]'"
            )
        packages.append(
            ImagePackage(
                found["name"],
                found["version"],
                found["source"],
                found["cpu"],
                found["why"] or "",
            )
        )
    return packages


def _inputs_digest() -> str:
    digest = hashlib.sha256(BUILD_VERSION.encode())
    files = [IMAGE_PACKAGES, INSTALL_SCRIPT, *sorted(TRITON_DIR.glob("requirements-models*.txt"))]
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def _run(command: list[str], log: Path) -> None:
    with log.open("a") as out:
        out.write(f"\n$ {' '.join(command)}\n")
        out.flush()
        result = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, check=False)
    if result.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
        raise RuntimeError(f"{' '.join(command[:4])}... failed ({result.returncode}):\n{tail}")


def image_model_env(cache_dir: Path) -> Path:
    """The venv's folder (its ``bin/python`` is the stubs' interpreter), built on first use."""
    venv = (cache_dir / "image-model-env" / _inputs_digest()).resolve()
    python = str(venv / "bin" / "python")
    log = venv.parent / "build.log"
    if not (venv / ".complete").exists():
        if venv.parent.exists():  # environments of earlier requirement files: 1-2 GB each
            shutil.rmtree(venv.parent)
        venv.parent.mkdir(parents=True)
        log.write_text("")
        # The same base interpreter as this project's .venv: Triton's bundled stub embeds its libpython.
        _run([sys._base_executable, "-m", "venv", "--clear", str(venv)], log)
        base = [p.cpu_requirement for p in image_packages() if not p.skipped_on_cpu]
        _run([python, "-m", "pip", "install", "--quiet", *base], log)
        _run(["env", f"PYTHON={python}", "bash", str(INSTALL_SCRIPT)], log)
        (venv / ".complete").write_text("")
    # Our code as the Dockerfile installs it: a regular (not editable) install, no dependencies.
    _run(
        [
            python,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--force-reinstall",
            str(PROJECT_ROOT),
        ],
        log,
    )
    shutil.rmtree(PROJECT_ROOT / "build", ignore_errors=True)  # setuptools' leftovers (git-ignored)
    return venv
