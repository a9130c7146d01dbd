"""The package's layers contract (``pyproject.toml``, ``[tool.importlinter]``): no module imports upward."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _lint_imports() -> str:
    exe = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    if not Path(exe).exists():
        pytest.fail("lint-imports is missing: install the test extras (import-linter)")
    return exe


def test_layers_contract_is_kept():
    done = subprocess.run([_lint_imports()], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "graphrec layers KEPT" in done.stdout


def test_an_upward_import_breaks_the_contract(tmp_path):
    """The contract is live: a copy of the package where a graph builder imports the trainer fails it."""
    pkg = tmp_path / "graphrec"
    shutil.copytree(ROOT / "graphrec", pkg, ignore=shutil.ignore_patterns("__pycache__", "conf"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    with open(pkg / "graphs" / "topk.py", "a") as f:
        f.write("\nimport graphrec.training.trainer  # noqa: E402\n")
    done = subprocess.run([_lint_imports()], cwd=tmp_path, capture_output=True, text=True,
                          env={"PYTHONPATH": str(tmp_path), "PATH": ""})
    assert done.returncode != 0
    assert "graphrec.graphs is not allowed to import graphrec.training" in done.stdout
