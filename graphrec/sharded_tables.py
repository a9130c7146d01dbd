"""ID embedding tables as a TorchRec ``EmbeddingBagCollection``, sharded over ranks by ``DistributedModelParallel``
(optional: needs TorchRec, see README "TorchRec"). For tables too large for one device.

``TorchRecMF`` is BPR-MF (``graphrec.models.mf``: L = −mean log σ(⟨u, i⟩ − ⟨u, j⟩) + λ/2 Σ‖e‖²/B) whose user and
item tables are one EmbeddingBagCollection: table ``user`` (feature ``user``) and table ``item`` (features
``pos`` and ``neg``), one id per bag with sum pooling, i.e. a plain lookup. ``shard`` places the tables by
``sharding``: ``table_wise`` (each table whole on one rank) or ``column_wise`` (each table's columns split over
the ranks); the embedding optimizer runs fused in the backward (TorchRec's way; SGD or Adagrad on CPU).

Gradient semantics, measured on 2 gloo ranks: TorchRec's sharded backward averages the ranks' table gradients,
as DDP does, so each rank's loss takes the weight N·n_r/n of ``graphrec.distributed.shard_batch`` and N ranks
follow one process with the whole batch. (TorchRec's ``data_parallel`` sharding with an in-backward optimizer
updated each replica with its own gradient, off by 2e-5 after 20 steps: not offered.)

``python -m graphrec.sharded_tables --sharding table_wise --steps 20`` under torchrun trains the sharded MF on
the synthetic world's BPR batches and, on rank 0, the unsharded one on the same batches, and prints both losses.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import torch
import torch.nn.functional as F

from graphrec import distributed as ddp
from graphrec.errors import ConfigError
from graphrec.losses import l2_regularization

SHARDINGS = ("table_wise", "column_wise")
# fused into the tables' backward by TorchRec (fbgemm's CPU kernels have no Adam; on GPU it exists)
OPTIMIZERS = {"sgd": torch.optim.SGD, "adagrad": torch.optim.Adagrad}
EPS = 1e-8  # Adagrad's ε, set alike for the fused and the reference optimiser


def require_torchrec() -> Any:
    try:
        import torchrec
    except ImportError:
        raise ConfigError("TorchRec is not installed: see README, \"TorchRec\", for the install recipe") from None
    return torchrec


class TorchRecMF(torch.nn.Module):
    """BPR-MF over an EmbeddingBagCollection (module doc); ``generator`` seeds N(0, 0.1²) initial weights, so
    every rank and the unsharded reference start alike."""

    def __init__(self, n_users: int, n_items: int, embedding_dim: int = 64, reg_weight: float = 1e-4,
                 generator: torch.Generator | None = None):
        super().__init__()
        torchrec = require_torchrec()
        self.n_users, self.n_items, self.reg_weight = n_users, n_items, reg_weight
        self.ebc = torchrec.EmbeddingBagCollection(tables=[
            torchrec.EmbeddingBagConfig(name="user", embedding_dim=embedding_dim, num_embeddings=n_users,
                                        feature_names=["user"]),
            torchrec.EmbeddingBagConfig(name="item", embedding_dim=embedding_dim, num_embeddings=n_items,
                                        feature_names=["pos", "neg"])], device=torch.device("cpu"))
        with torch.no_grad():
            for _, weight in sorted(self.ebc.named_parameters()):
                weight.copy_(torch.randn(weight.shape, generator=generator) * 0.1)

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        from torchrec import KeyedJaggedTensor

        user, pos, neg = batch["user"], batch["pos"], batch["neg"]
        ids = KeyedJaggedTensor.from_lengths_sync(keys=["user", "pos", "neg"], values=torch.cat([user, pos, neg]),
                                                  lengths=torch.ones(3 * user.numel(), dtype=torch.int32))
        pooled = self.ebc(ids)
        u, i, j = pooled["user"], pooled["pos"], pooled["neg"]
        return {"bpr": F.softplus((u * j).sum(-1) - (u * i).sum(-1)).mean(),
                "reg": self.reg_weight * l2_regularization(u, i, j, batch_size=u.shape[0])}

    loss = forward


def _optimizer_args(optimizer: str, lr: float) -> dict[str, float]:
    return {"lr": lr, **({"eps": EPS} if optimizer == "adagrad" else {})}


def shard(model: TorchRecMF, sharding: str, optimizer: str = "sgd", lr: float = 0.05) -> torch.nn.Module:
    """``model`` under DistributedModelParallel with its tables placed by ``sharding`` and ``optimizer`` fused
    into the tables' backward; the weights are copied from ``model`` into the shards."""
    if sharding not in SHARDINGS:
        raise ConfigError(f"sharding: '{sharding}' is not one of {list(SHARDINGS)}")
    if optimizer not in OPTIMIZERS:
        raise ConfigError(f"optimizer: '{optimizer}' is not one of {list(OPTIMIZERS)}")
    require_torchrec()
    import torch.distributed as dist
    from torchrec.distributed.embeddingbag import EmbeddingBagCollectionSharder
    from torchrec.distributed.model_parallel import DistributedModelParallel
    from torchrec.distributed.planner import EmbeddingShardingPlanner, Topology
    from torchrec.distributed.planner.types import ParameterConstraints
    from torchrec.optim.apply_optimizer_in_backward import apply_optimizer_in_backward

    full = {k: v.detach().clone() for k, v in model.state_dict().items()}
    apply_optimizer_in_backward(OPTIMIZERS[optimizer], model.ebc.parameters(), _optimizer_args(optimizer, lr))
    constraints = {name: ParameterConstraints(sharding_types=[sharding]) for name in ("user", "item")}
    planner = EmbeddingShardingPlanner(topology=Topology(world_size=dist.get_world_size(), compute_device="cpu"),
                                       constraints=constraints)
    sharders = [EmbeddingBagCollectionSharder()]
    plan = planner.collective_plan(model, sharders, dist.GroupMember.WORLD)
    sharded = DistributedModelParallel(model, device=torch.device("cpu"), plan=plan, sharders=sharders)
    with torch.no_grad():  # DMP initialises the shards itself: put the model's weights into them
        for key, value in sharded.state_dict().items():
            source = full[key.removeprefix("_dmp_wrapped_module.").removeprefix("module.")]
            for piece in value.local_shards() if hasattr(value, "local_shards") else []:
                (r, c), (h, w) = piece.metadata.shard_offsets, piece.metadata.shard_sizes
                piece.tensor.copy_(source[r:r + h, c:c + w])
    return sharded


def _check(sharding: str, steps: int, optimizer: str, lr: float, batch_size: int) -> dict[str, Any]:
    """Sharded vs unsharded MF on the same global batches (module doc)."""
    from graphrec.data.sampler import NegativeSampler, TrainingBatches
    from graphrec.data.interactions import InteractionIndex
    from graphrec.data.synthetic import generate_world

    rank = ddp.init("ddp")
    world = generate_world(n_users=300, n_items=200, interactions_per_user=15, seed=0)
    user, item = torch.from_numpy(world.user), torch.from_numpy(world.item)
    batches = TrainingBatches(user, item, NegativeSampler(InteractionIndex(user, item, world.n_users, world.n_items)),
                              batch_size)
    generator = torch.Generator().manual_seed(0)
    schedule = []
    while len(schedule) < steps:
        schedule.extend(batches.epoch(generator))
    schedule = schedule[:steps]

    def make() -> TorchRecMF:
        return TorchRecMF(world.n_users, world.n_items, 16, 1e-4, torch.Generator().manual_seed(1))

    sharded, losses = shard(make(), sharding, optimizer, lr), []
    for batch in schedule:
        part, weight = ddp.shard_batch(batch, rank)
        terms = sharded(part)
        loss = sum(terms.values())
        (loss * weight).backward()
        losses.append(float(ddp.all_reduce_mean({"loss": loss.detach() * weight})["loss"]))
    out = {"sharding": sharding, "optimizer": optimizer, "world_size": rank.world_size, "sharded": losses}
    if rank.is_main:
        reference = make()
        opt = OPTIMIZERS[optimizer](reference.parameters(), **_optimizer_args(optimizer, lr))
        out["unsharded"] = []
        for batch in schedule:
            loss = sum(reference(batch).values())
            opt.zero_grad()
            loss.backward()
            opt.step()
            out["unsharded"].append(float(loss))
        out["max_rel_diff"] = max(abs(a - b) / abs(b) for a, b in zip(losses, out["unsharded"]))
    ddp.shutdown()
    return out


def main() -> None:
    p = argparse.ArgumentParser(description="sharded vs unsharded TorchRec MF (run under torchrun)")
    p.add_argument("--sharding", choices=SHARDINGS, default="table_wise")
    p.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default="sgd")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--batch-size", type=int, default=1001)
    args = p.parse_args()
    out = _check(args.sharding, args.steps, args.optimizer, args.lr, args.batch_size)
    if "unsharded" in out:
        print(json.dumps(out))


if __name__ == "__main__":
    main()
