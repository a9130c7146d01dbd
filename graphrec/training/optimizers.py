"""``trainer.optimizer``: the optimiser of a model's parameters, by name.

With ``trainer.tables`` = ``table_wise`` / ``column_wise`` (``graphrec.training.sharded_tables``) the same name selects the
optimiser TorchRec fuses into the ID tables' backward; Adagrad's ε is set alike on both paths, so a sharded run
follows a dense one with ``trainer.optimizer=adagrad``.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from graphrec.errors import ConfigError

OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "adam": torch.optim.Adam, "adagrad": torch.optim.Adagrad, "sgd": torch.optim.SGD}
ADAGRAD_EPS = 1e-8  # TorchRec's fused Adagrad's ε (torch's default is 1e-10): 5.6e-5 apart after 20 steps otherwise


def optimizer_args(name: str, lr: float, weight_decay: float = 0.0) -> dict[str, float]:
    """The keyword arguments of optimiser ``name`` (a key of OPTIMIZERS)."""
    if name not in OPTIMIZERS:
        raise ConfigError(f"trainer.optimizer: '{name}' is not one of {sorted(OPTIMIZERS)}")
    return {"lr": lr, "weight_decay": weight_decay, **({"eps": ADAGRAD_EPS} if name == "adagrad" else {})}


def build_optimizer(params: Iterable[torch.nn.Parameter], name: str, lr: float, weight_decay: float,
                    device: torch.device) -> torch.optim.Optimizer:
    """Adam runs fused (one kernel per step instead of several per tensor) on CPU and CUDA."""
    kwargs = optimizer_args(name, lr, weight_decay)
    if name == "adam" and device.type in ("cpu", "cuda"):
        kwargs["fused"] = True
    return OPTIMIZERS[name](params, **kwargs)
