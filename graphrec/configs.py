"""Where the packaged Hydra configs live, and the model configs they hold.

``conf/`` in a source checkout; ``graphrec/conf`` (a link to it, carried by installs) otherwise. Every
``conf/model/<name>.yaml`` is one registered model: ``model=<name>`` selects it, and the registry
(``graphrec.models.registry``), the parametrised model tests and ``benchmarks/model_table.py`` all read this list,
so a new model is a new file here and nothing else to keep by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from omegaconf import OmegaConf

from graphrec.errors import ConfigError, GraphrecError


def conf_dir() -> str:
    """The packaged config folder (``graphrec/conf`` when installed, ``conf/`` in a source checkout)."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "conf", here.parent / "conf"):
        if (candidate / "config.yaml").is_file():
            return str(candidate)
    raise GraphrecError("graphrec's config folder is missing from the installation")


@dataclass(frozen=True)
class ModelConfig:
    """One ``conf/model/<name>.yaml``: its name, the class it builds and the ``eval=`` preset it selects."""

    name: str
    target: str
    eval_preset: str  # "default" unless the file overrides /eval (ctr models: ctr; leave-one-out ones: iris)
    path: Path


def _eval_override(defaults: list) -> str:
    for entry in defaults or []:
        if isinstance(entry, dict):
            for key, value in entry.items():
                if str(key).replace("override ", "").strip().lstrip("/") == "eval":
                    return str(value)
    return "default"


def read_model_config(path: Path) -> ModelConfig:
    """Parse one model config (a plain ``model`` group file, or a ``# @package _global_`` one with ``model:``)."""
    raw = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    body = raw.get("model", raw) if isinstance(raw, dict) else None
    if not isinstance(body, dict) or "_target_" not in body:
        raise ConfigError(f"{path}: a model config needs model._target_")
    return ModelConfig(path.stem, str(body["_target_"]), _eval_override(raw.get("defaults", [])), path)


def model_configs() -> dict[str, ModelConfig]:
    """Every registered model, by its ``model=`` name, in name order."""
    return {p.stem: read_model_config(p) for p in sorted((Path(conf_dir()) / "model").glob("*.yaml"))}
