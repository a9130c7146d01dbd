"""Where a number came from: code version, library versions, dataset fingerprint and config hash.

``results.json`` carries ``provenance`` so that a metric can be traced to the code (graphrec version and,
when run from a git checkout, the commit and whether the tree had uncommitted changes), the libraries, the
exact dataset content (``graphrec.data.storage.fingerprint``) and the config (``config_hash``, the hash of
the resolved config less the keys that do not change results: resume, progress display, loggers).
"""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

# config keys that do not change what a run computes (and may differ between a run and its resumption)
NON_RESULT_KEYS = ("trainer.resume", "trainer.progress", "trainer.progress_interval_s", "logger", "hydra")


def result_config(config: dict) -> dict:
    """``config`` without ``NON_RESULT_KEYS``."""
    cfg = OmegaConf.create(config)
    for key in NON_RESULT_KEYS:
        parent, _, leaf = key.rpartition(".")
        node = OmegaConf.select(cfg, parent) if parent else cfg
        if node is not None and leaf in node:
            node.pop(leaf)
    return OmegaConf.to_container(cfg)


def flatten(config: dict, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` → ``{"a.b": 1}`` (an empty dict stays one value)."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict) and value:
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def config_hash(config: dict) -> str:
    text = json.dumps(result_config(config), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


@lru_cache(maxsize=1)
def git_state() -> dict[str, Any]:
    """The commit of the checkout graphrec runs from, and whether it has uncommitted changes ({} elsewhere)."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10)
        if commit.returncode != 0:
            return {}
        status = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return {}
    return {"git_commit": commit.stdout.strip(), "git_dirty": bool(status.stdout.strip())}


def provenance(config: dict, dataset_fingerprint: str) -> dict[str, Any]:
    import torch

    return {"graphrec_version": _version("graphrec"), **git_state(), "python": platform.python_version(),
            "torch": torch.__version__, "torch_geometric": _version("torch-geometric"),
            "dataset_fingerprint": dataset_fingerprint, "config_hash": config_hash(config)}
