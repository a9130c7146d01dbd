"""The training loop: epochs of sampled batches, validation, early stopping, checkpoints and resume.

- Early stopping and model selection look at ``valid_metric`` on the validation split only, in the direction
  the task declares for it (``Task.metric_directions``, from ``graphrec.evaluation.metrics.higher_is_better``:
  lower logloss is better);
  the test split is evaluated once, by the caller, at the best checkpoint. ``observe`` (``eval.test_each_epoch``)
  may also evaluate it at every validated epoch, into the history as ``test/<metric>`` columns that nothing
  here reads: the papers' best-test-epoch figure is computed from them afterwards, beside the selected one.
- ``checkpoints/best.pt`` (model at the best validation epoch) and ``checkpoints/last.pt`` (model, optimiser,
  sampler and RNG states, early-stopping state, history) are written atomically after every epoch, so an
  interrupted run resumed from ``last.pt`` continues to the same result as an uninterrupted one.
- Under torchrun (``graphrec.distributed``): the loss runs under DDP on this rank's slice of each global batch,
  weighted so that the averaged gradient is the whole batch's; rank 0 alone writes checkpoints and logs.
- ``trainer.tables`` = ``table_wise`` / ``column_wise`` (MF and LightGCN, under torchrun, TorchRec installed): the
  loss runs on the model's TorchRec twin (``graphrec.training.sharded_tables``), its ID tables sharded over the ranks and
  ``trainer.optimizer`` fused into their backward. After every epoch the tables are looked up whole into the
  model itself, which validation, checkpoints (plain state dicts, as any run's) and the test see.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
from tqdm import tqdm

from graphrec import distributed as ddp
from graphrec.data.sampler import TrainingBatches
from graphrec.evaluation.metrics import improves, metric_values
from graphrec.errors import ConfigError, DataError, GraphrecError
from graphrec.models.base import Recommender
from graphrec.checkpoints import load_checkpoint, save_checkpoint
from graphrec.training.optimizers import OPTIMIZERS, build_optimizer
from graphrec.training.loggers import Logger
from graphrec.typed_config import TypedSection, setting

log = logging.getLogger("graphrec")


# trainer.precision -> the autocast dtype of ``model.loss`` (None: no autocast). Parameters, optimiser state,
# gradients and evaluation stay float32; bf16 runs matrix products and their activations in bfloat16.
PRECISIONS: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16}


TABLES = ("dense", "table_wise", "column_wise")


@dataclass
class TrainerConfig(TypedSection):
    """``trainer.*``, typed (``graphrec.typed_config``): every field is checked on construction (a ConfigError
    naming ``trainer.<field>``); the rules between fields follow in ``__post_init__``."""

    section: ClassVar[str] = "trainer"
    epochs: int = setting(1000, at_least=1)
    batch_size: int = setting(2048, at_least=1)
    lr: float = setting(1e-3, above=0)
    weight_decay: float = setting(0.0, at_least=0)
    n_neg: int = setting(1, at_least=1)
    eval_every: int = setting(1, at_least=1)
    patience: int = setting(20, at_least=1)
    min_epochs: int = setting(0, at_least=0)
    grad_clip: float | None = setting(None, above=0)
    progress: bool = True
    progress_interval_s: float = setting(30.0, at_least=0)  # without a terminal: a progress line this often
    precision: str = setting("fp32", choices=tuple(PRECISIONS))  # autocast of the forward pass and loss
    distributed: str = setting("auto", choices=ddp.MODES)  # auto = DDP when launched by torchrun
    max_batches: int | None = setting(None, at_least=1)  # stop each epoch after this many (smoke runs, scale.py)
    optimizer: str = setting("adam", choices=tuple(OPTIMIZERS))  # graphrec.training.optimizers
    tables: str = setting("dense", choices=TABLES)  # TorchRec-sharded ID tables (graphrec.training.sharded_tables)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.tables != "dense" and (self.weight_decay or self.grad_clip):
            raise ConfigError(f"trainer.tables={self.tables}: trainer.weight_decay and trainer.grad_clip are not "
                              "supported (the table optimiser runs fused in the backward)")
        if self.tables != "dense" and self.distributed == "none":
            raise ConfigError(f"trainer.tables={self.tables}: shards live on torchrun's ranks; "
                              "trainer.distributed=none turns them off")


class TrainingDiverged(GraphrecError):
    """The loss became NaN or infinite."""


@dataclass
class TrainState:
    epoch: int = 0  # epochs completed
    best_epoch: int = -1
    best_score: float | None = None  # valid_metric at best_epoch, in the metric's own direction
    best_valid: dict[str, float] = field(default_factory=dict)
    bad_evals: int = 0
    stopped_early: bool = False
    history: list[dict[str, Any]] = field(default_factory=list)
    train_seconds: list[float] = field(default_factory=list)
    eval_seconds: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Trainer:
    """Fits ``model`` on ``batches``; ``validate(model) -> metrics`` is called every ``eval_every`` epochs."""

    def __init__(self, model: Recommender, batches: TrainingBatches, config: TrainerConfig,
                 validate: Callable[[Recommender], dict[str, float]] | None, valid_metric: str,
                 checkpoint_dir: str | Path, logger: Logger, seed: int = 0, extra_state: dict | None = None,
                 on_epoch_end: Callable[[TrainState], None] | None = None,
                 valid_higher_is_better: bool | None = None,
                 observe: Callable[[Recommender], dict[str, float]] | None = None):
        self.model, self.batches, self.cfg = model, batches, config
        self.validate, self.valid_metric = validate, valid_metric
        self.observe = observe  # logged only (module doc), never selects
        # the direction the task declares for valid_metric (None: the metric's own, evaluation.metrics)
        self.valid_higher_is_better = valid_higher_is_better
        self.ckpt_dir = Path(checkpoint_dir)
        self.logger, self.extra_state, self.on_epoch_end = logger, dict(extra_state or {}), on_epoch_end
        self.device = next(model.parameters()).device
        self.autocast_dtype = PRECISIONS[config.precision]
        self.generator = torch.Generator().manual_seed(seed)
        self.state = TrainState()
        self.saved_epoch = 0  # the epoch last.pt holds
        self.dist = ddp.context()
        self.twin: torch.nn.Module | None = None  # the TorchRec twin under DistributedModelParallel
        self.optimizer: torch.optim.Optimizer | None = None  # None: the twin's tables step in their backward
        if config.tables != "dense":
            self.loss_fn = self.twin = self._shard_tables(model, config)
        else:
            self.optimizer = build_optimizer(model.parameters(), config.optimizer, config.lr, config.weight_decay,
                                             self.device)
            self.loss_fn = ddp.wrap(model, self.device) if self.dist.enabled else model.loss
        self.batch_group = getattr(batches, "group", 1)  # rows that stay together when a batch is sharded

    def _shard_tables(self, model: Recommender, config: TrainerConfig) -> torch.nn.Module:
        from graphrec.training import sharded_tables

        if not self.dist.enabled:
            raise ConfigError(f"trainer.tables={config.tables}: shards live on the ranks of a torchrun launch "
                              "(torchrun --nproc-per-node=N -m graphrec train ...)")
        sharded_tables.check_optimizer(config.optimizer, self.device)
        return sharded_tables.shard(sharded_tables.to_torchrec(model), config.tables, config.optimizer, config.lr,
                                    self.device)

    def _sync_tables(self) -> None:
        """The twin's tables into the model (every rank, together: the whole tables are looked up)."""
        if self.twin is not None:
            self.twin.module.write_into(self.model)

    # ------------------------------------------------------------------ checkpoints
    @property
    def best_path(self) -> Path:
        return self.ckpt_dir / "best.pt"

    @property
    def last_path(self) -> Path:
        return self.ckpt_dir / "last.pt"

    def _saving(self, save: Callable[[], None]) -> None:
        """``save()``; a failed write (a full disk) ends the run with one line saying which epoch the kept
        ``last.pt`` holds and how to continue."""
        try:
            save()
        except DataError as exc:
            kept = self.last_path.is_file() and self.saved_epoch > 0
            how = (f"checkpoints/last.pt holds epoch {self.saved_epoch}: free space, then continue with "
                   f"trainer.resume=true") if kept else "no epoch was saved: free space and train again"
            raise DataError(f"{exc}; {how}") from None

    def _save_last(self) -> None:
        if not self.dist.is_main:
            return
        self._saving(self._write_last)
        self.saved_epoch = self.state.epoch

    def _write_last(self) -> None:
        save_checkpoint({
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict() if self.optimizer is not None else {},
            "generator": self.generator.get_state(), "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else [],
            "state": self.state.as_dict(), **self.extra_state}, self.last_path)

    def _save_best(self) -> None:
        if not self.dist.is_main:
            return
        self._saving(lambda: save_checkpoint({"model": self.model.state_dict(), "epoch": self.state.best_epoch,
                                              "valid": self.state.best_valid, **self.extra_state}, self.best_path))

    def resume(self, path: str | Path) -> None:
        """Restore everything ``last.pt`` holds (CUDA's generators too: NGCF's dropout and FREEDOM's pruning
        draw from them); training then continues after its last completed epoch."""
        if self.twin is not None:
            raise ConfigError(f"trainer.resume: not with trainer.tables={self.cfg.tables} (the fused table "
                              "optimiser's state lives in the shards and is not checkpointed)")
        ckpt = load_checkpoint(path)
        try:
            self.model.load_state_dict(ckpt["model"])
            self.optimizer.load_state_dict(ckpt["optimizer"])
        except (RuntimeError, ValueError, KeyError) as exc:
            raise GraphrecError(f"{path}: does not fit this model ({str(exc).splitlines()[0]})") from None
        self.generator.set_state(ckpt["generator"])
        torch.set_rng_state(ckpt["torch_rng"])
        if ckpt.get("cuda_rng") and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(ckpt["cuda_rng"])
        self.state = TrainState(**ckpt["state"])
        self.saved_epoch = self.state.epoch

    # ------------------------------------------------------------------ loop
    def fit(self) -> TrainState:
        st = self.state
        has_valid = self.validate is not None
        while st.epoch < self.cfg.epochs and not st.stopped_early:
            epoch = st.epoch + 1
            row: dict[str, Any] = {"epoch": epoch}
            row.update(self._train_epoch(epoch))
            self._sync_tables()
            if has_valid and (epoch % self.cfg.eval_every == 0 or epoch == self.cfg.epochs):
                metrics = self.validate(self.model)
                st.eval_seconds.append(metrics.pop("eval_s", 0.0))
                row["valid_s"] = st.eval_seconds[-1]
                if "n_nonfinite" in metrics:
                    row["valid_nonfinite"] = int(metrics["n_nonfinite"])
                row.update({f"valid/{k}": v for k, v in metric_values(metrics).items()})
                if self.observe is not None:
                    row.update({f"test/{k}": v for k, v in metric_values(self.observe(self.model)).items()})
                score = float(metrics[self.valid_metric])
                if improves(score, st.best_score if st.best_epoch >= 0 else None, self.valid_metric,
                            self.valid_higher_is_better):
                    st.best_score, st.best_epoch, st.bad_evals = score, epoch, 0
                    st.best_valid = metric_values(metrics)
                    self._save_best()
                else:
                    st.bad_evals += 1
                if st.bad_evals >= self.cfg.patience and epoch >= self.cfg.min_epochs:
                    st.stopped_early = True
            elif not has_valid:
                st.best_epoch = epoch
            st.epoch = epoch
            st.history.append(row)
            self.logger.log_epoch(row)
            if not has_valid:
                self._save_best()
            self._save_last()
            if self.on_epoch_end is not None:
                self.on_epoch_end(st)
        ddp.barrier()  # rank 0's checkpoints are on disk before any rank reads them
        return st

    def _train_epoch(self, epoch: int) -> dict[str, float]:
        self.model.train()
        start = time.perf_counter()
        self.model.pre_epoch(epoch)
        totals: dict[str, torch.Tensor] = {}
        n_batches = 0
        total = min(len(self.batches), self.cfg.max_batches or len(self.batches))
        bar = tqdm(self.batches.epoch(self.generator), total=total, desc=f"epoch {epoch}",
                   leave=False, disable=None if self.cfg.progress else True)
        progress = _ProgressLines(f"epoch {epoch}", total, self.cfg.progress_interval_s,
                                  enabled=self.cfg.progress and bar.disable)
        for batch in bar:
            if n_batches == total:
                break
            batch, weight = ddp.shard_batch(batch, self.dist, self.batch_group)
            batch = {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}
            with torch.autocast(self.device.type, dtype=self.autocast_dtype or torch.float32,
                                enabled=self.autocast_dtype is not None):
                out = self.loss_fn(batch)
            terms = out if isinstance(out, dict) else {"loss": out}
            if weight != 1.0:
                terms = {k: v * weight for k, v in terms.items()}
            loss = sum(terms.values())
            if not torch.isfinite(loss):
                raise self._diverged(epoch, n_batches + 1, terms)
            if self.optimizer is not None:
                self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if self.cfg.grad_clip:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
            if self.optimizer is not None:
                self.optimizer.step()
            n_batches += 1
            progress.step(n_batches)
            for k, v in terms.items():
                totals[k] = totals[k] + v.detach() if k in totals else v.detach()
        totals = ddp.all_reduce_mean(totals)  # the weighted terms' mean over ranks: the batch's loss
        means = {k: float(v) / max(n_batches, 1) for k, v in totals.items()}
        seconds = time.perf_counter() - start
        self.state.train_seconds.append(seconds)
        row = {"loss": sum(means.values())}
        if len(means) > 1:
            row.update({f"loss/{k}": v for k, v in means.items()})
        row["train_s"] = seconds
        return row

    def _diverged(self, epoch: int, batch: int, terms: dict[str, torch.Tensor]) -> TrainingDiverged:
        values = {k: float(v.detach()) for k, v in terms.items()}
        bad = [k for k, v in values.items() if not math.isfinite(v)] or list(values)
        shown = ", ".join(f"{k} = {values[k]:.4g}" for k in values)
        hint = f"try a lower trainer.lr (now {self.cfg.lr:g})" + \
            ("" if self.cfg.grad_clip else ", trainer.grad_clip=1.0") + \
            (", trainer.precision=fp32" if self.autocast_dtype is not None else "")
        resume = f"; epochs up to {self.state.epoch} are in {self.last_path}" if self.state.epoch else ""
        return TrainingDiverged(f"trainer: the loss became non-finite at epoch {epoch}, batch {batch} "
                                f"(term{'s' if len(bad) > 1 else ''} {', '.join(bad)}: {shown}); {hint}{resume}")


class _ProgressLines:
    """Periodic ``epoch 3: batch 120/400 (30%), 12.0 s`` log lines where no progress bar can be drawn
    (output not a terminal: batch jobs, CI, ``| tee``)."""

    def __init__(self, what: str, total: int, interval_s: float, enabled: bool):
        self.what, self.total, self.interval_s, self.enabled = what, total, interval_s, enabled
        self.start = self.last = time.perf_counter()

    def step(self, done: int) -> None:
        if not self.enabled or done >= self.total:
            return
        now = time.perf_counter()
        if now - self.last >= self.interval_s:
            self.last = now
            log.info(f"{self.what}: batch {done}/{self.total} ({100 * done // self.total}%), "
                     f"{now - self.start:.1f} s")
