"""The composition root: a run's config → its dataset, the task its model serves (which splits the records and
prepares the model from the training part: graphs, an initialisation), the model on its device.

Shared by ``graphrec train``, ``evaluate`` and ``recommend`` so that a checkpoint is always re-evaluated on
exactly the data, split and graphs it was trained with.
"""

from __future__ import annotations

import inspect
import logging
import time
from dataclasses import dataclass

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from graphrec import distributed as ddp
from graphrec.allocator import retain_freed_memory
from graphrec.data.dataset import Dataset
from graphrec.data.storage import fingerprint, load_dataset
from graphrec.data.synthetic import generate_world
from graphrec.errors import ConfigError, DataError
from graphrec.models.base import Recommender
from graphrec.models.registry import construct, resolve_model_class
from graphrec.tasks import TASKS
from graphrec.tasks.base import Task

log = logging.getLogger("graphrec")


def resolve_device(name: str) -> torch.device:
    """``auto`` = CUDA when available, else CPU; under torchrun a CUDA device without an index is this rank's
    (``LOCAL_RANK``)."""
    try:
        device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if name == "auto" else name)
    except RuntimeError:
        raise ConfigError(f"device: unknown device '{name}'") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device: '{name}' requested but CUDA is not available")
    rank = ddp.context()
    if device.type == "cuda" and device.index is None and rank.enabled:
        device = torch.device("cuda", rank.local_rank % torch.cuda.device_count())
    return device


def load_configured_dataset(dcfg: DictConfig, data_root: str | None = None) -> Dataset:
    """The dataset a ``conf/dataset/*.yaml`` describes, with ``modalities`` selected."""
    if dcfg.get("source", "prepared") == "synthetic":
        params = OmegaConf.to_container(dcfg.get("synthetic", {}), resolve=True)
        ds = generate_world(name=dcfg.name, **params)  # type: ignore[arg-type]
    else:
        if not dcfg.get("name"):
            raise ConfigError("dataset.name: which prepared dataset to load (see `graphrec data list`)")
        ds = load_dataset(dcfg.name, data_root)
    wanted = dcfg.get("modalities")
    if wanted is not None:
        missing = [m for m in wanted if m not in ds.features]
        if missing:
            raise ConfigError(f"dataset.modalities: {missing} not in dataset '{ds.name}' "
                              f"(it has {sorted(ds.features) or 'no features'})")
        ds.features = {m: ds.features[m] for m in wanted}
    return ds


def instantiate_model(mcfg: DictConfig, n_users: int, n_items: int, features: dict[str, torch.Tensor],
                      dataset: Dataset | None = None) -> Recommender:
    """Build the model named by ``_target_`` with its hyper-parameters (``name`` is metadata). A model with an
    ``item_field_data`` parameter receives the dataset's categorical item fields its ``item_fields`` names
    (``Dataset.item_field``: e.g. MTL's topic ids) as ``(item, value, n_values)`` tensors."""
    params = {k: v for k, v in OmegaConf.to_container(mcfg, resolve=True).items()
              if k not in ("_target_", "name") and not k.startswith(PRETRAINED)}
    cls = resolve_model_class(str(mcfg.get("_target_")))
    signature = inspect.signature(cls.__init__).parameters
    extra: dict = {}
    if "probability_modalities" in signature and params.get("probability_modalities") is None:
        declared = dataset.probability_modalities if dataset is not None else []
        params["probability_modalities"] = [m for m in declared if m in features]  # as the dataset declares
    if "item_field_data" in signature:
        names = params.get("item_fields") or []
        if names and dataset is None:
            raise ConfigError("model.item_fields: item fields need the dataset")
        extra["item_field_data"] = {}
        for name in names:
            item, value, n_values = dataset.item_field(name)  # type: ignore[union-attr]
            extra["item_field_data"][name] = (torch.from_numpy(item), torch.from_numpy(value), n_values)
    return construct(cls, params, n_users, n_items, features, extra=extra)


PRETRAINED = "pretrained_"  # model.pretrained_<name>: a checkpoint whose weights initialise part of the model
# what must be equal between a pre-training run and this one: a model pre-trained on another split has seen
# this run's valid/test items as training positives
_SPLIT_KEYS = ("split", "ratios", "split_seed", "loo_order", "min_user_interactions")


def load_pretrained(model: Recommender, mcfg: DictConfig, ecfg: DictConfig, dataset_fp: str) -> list[str]:
    """Initialise ``model`` from every non-null ``model.pretrained_<name>`` checkpoint (NAIS from FISM, NeuMF
    from GMF and MLP) after checking that it was trained on this dataset with this split."""
    from graphrec.checkpoints import load_checkpoint

    loaded = []
    for key, path in mcfg.items():
        if not str(key).startswith(PRETRAINED) or path is None:
            continue
        if not hasattr(model, "load_pretrained"):
            raise ConfigError(f"model.{key}: {type(model).__name__} takes no pre-trained weights")
        ckpt = load_checkpoint(path)
        saved = ckpt.get("config") or {}
        if ckpt.get("dataset_fingerprint") != dataset_fp:
            raise ConfigError(f"model.{key}: {path} was trained on another dataset (its fingerprint differs)")
        wanted = OmegaConf.to_container(ecfg, resolve=True)
        differs = [k for k in _SPLIT_KEYS if (saved.get("eval") or {}).get(k) != wanted.get(k)]
        if differs:
            raise ConfigError(f"model.{key}: {path} was trained on another split (eval.{differs[0]}: "
                              f"{(saved.get('eval') or {}).get(differs[0])!r}, here {wanted.get(differs[0])!r})")
        model.load_pretrained(str(key)[len(PRETRAINED):], ckpt["model"])
        loaded.append(str(path))
    return loaded


@dataclass
class Experiment:
    """What every run has: its config, dataset, model on its device, task, and the dataset's fingerprint. What
    is particular to a kind of learning (splits, interaction indices, impression histories, graphs) is the
    task's (``graphrec.tasks``)."""

    cfg: DictConfig
    dataset: Dataset
    device: torch.device
    model: Recommender
    task: Task
    dataset_fingerprint: str = ""
    prepare_s: float = 0.0  # the task's preparation of the model (graph building), for results.json

    def evaluate(self, part: str) -> dict[str, float]:
        """The task's metrics of this experiment's model on ``valid`` or ``test``; a warning names the model, the
        part and the count when some were judged from non-finite scores (counted as misses by the evaluators)."""
        out = self.task.evaluate(self.model, part)
        if out.get("n_nonfinite"):
            log.warning(f"{self.cfg.model.get('name', type(self.model).__name__)}: {out['n_nonfinite']:,} "
                        f"{'impressions' if self.task.name == 'ctr' else 'users/pairs'} of the {part} part had NaN or "
                        f"infinite scores; counted as misses (results.json: nonfinite_scores)")
        return out

    def has_valid(self) -> bool:
        return self.task.has_valid()


def task_for(cfg: DictConfig) -> type[Task]:
    """The task class the configured model serves, checked against ``eval.protocol`` (one line naming both)."""
    model_cls = resolve_model_class(str(cfg.model.get("_target_")))
    served = str(getattr(model_cls, "task", "ranking"))
    task = TASKS.get(served)
    if task is None:
        raise ConfigError(f"model {model_cls.__name__} serves an unknown task '{served}'")
    if cfg.eval.protocol not in task.protocols:
        if served == "ctr":
            raise ConfigError(f"model {model_cls.__name__} serves the 'ctr' task: use eval=ctr")
        raise ConfigError(f"model {model_cls.__name__} serves the '{served}' task, not eval=ctr "
                          f"(choose a click-through model, or another eval)")
    return task


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed torch and numpy; with ``deterministic``, also ask torch for deterministic kernels.

    Without it, the backward of advanced indexing (``x[idx]``, an accumulating ``index_put_``) adds rows with
    atomics on several CPU threads, so the same seed gives different float sums and, a few epochs later,
    different metrics (measured: GRCN on TikTok, test R@20 0.0778 and 0.0747 from two runs of one command).
    ``warn_only``: an op with no deterministic kernel (some CUDA ones) warns instead of failing.
    """
    torch.manual_seed(seed)
    np.random.seed(seed)
    torch.use_deterministic_algorithms(deterministic, warn_only=True)


def build_experiment(cfg: DictConfig) -> Experiment:
    """Dataset, the task's split of its records, the model on its device, and what the task prepares for it
    from the training records (graphs, an initialisation).

    Each stage logs one line (what it did, how long it took), so a run is never silent before its first epoch."""
    device = resolve_device(cfg.device)
    start = time.perf_counter()
    task_cls = task_for(cfg)
    ds = load_configured_dataset(cfg.dataset, cfg.get("data_root"))
    dataset_fp = fingerprint(ds)
    if ds.n_interactions == 0:
        raise DataError(f"dataset '{ds.name}' holds item content only (no interactions or impressions): "
                        f"use it with `graphrec topics`, not `train`")
    log.info(f"dataset {ds.name}: {ds.n_users:,} users, {ds.n_items:,} items, {ds.n_interactions:,} interactions, "
             f"features {sorted(ds.features) or 'none'} ({time.perf_counter() - start:.1f} s)")
    task = task_cls.from_dataset(cfg, ds)
    seed_everything(int(cfg.seed), bool(cfg.get("deterministic", True)))
    if cfg.get("retain_freed_memory", True):
        retain_freed_memory()
    features = {m: torch.from_numpy(f) for m, f in ds.features.items()}
    model = instantiate_model(cfg.model, ds.n_users, ds.n_items, features, ds).to(device)
    prepare_s = task.prepare(model, cfg, device)
    log.info(f"model {cfg.model.get('name', type(model).__name__)}: {model.num_parameters():,} parameters on {device}")
    for path in load_pretrained(model, cfg.model, cfg.eval, dataset_fp):
        log.info(f"model initialised from {path}")
    return Experiment(cfg, ds, device, model, task, dataset_fp, prepare_s)
