"""ID embedding tables as a TorchRec ``EmbeddingBagCollection``, sharded over ranks by ``DistributedModelParallel``
(optional: needs TorchRec, see README "TorchRec"). For tables too large for one device.

``IdTables`` holds the user and the item table as one EmbeddingBagCollection (features ``user`` and ``item``,
one id per bag, sum pooling: a plain lookup). ``TorchRecMF`` and ``TorchRecLightGCN`` are the toolkit's BPR-MF
(``graphrec.models.ranking.mf``) and LightGCN (``graphrec.models.ranking.lightgcn``, eq. 7, 8, 15) with their tables there: only
the lookup is theirs (``MF.lookup``, ``LightGCN.ego_embeddings``), the loss is the toolkit model's, so
``unsharded()`` gives the plain model with the same weights to compare against. ``shard`` places the tables by
``sharding``: ``table_wise`` (each table whole on one rank) or ``column_wise`` (each table's columns split over
the ranks); the table optimiser runs fused in the backward (TorchRec's way; SGD or Adagrad on CPU).

LightGCN propagates over every node each step, so each step looks up all of E^(0): sharding then spreads the
tables' storage and optimiser state, not the propagation's [n_users + n_items, d] activations (beyond that,
sampled-neighbourhood training takes over: docs/scaling.md).

Gradient semantics, measured on 2 gloo ranks: TorchRec's sharded backward averages the ranks' table gradients,
as DDP does, so each rank's loss takes the weight N·n_r/n of ``graphrec.distributed.shard_batch`` and N ranks
follow one process with the whole batch. (TorchRec's ``data_parallel`` sharding with an in-backward optimizer
updated each replica with its own gradient, off by 2e-5 after 20 steps: not offered.)

In ``graphrec train`` (``trainer.tables=table_wise|column_wise`` under torchrun) the trainer builds the twin of the
configured MF / LightGCN (``to_torchrec``), trains the twin and copies its tables back into the model after every
epoch (``write_into``), so validation, checkpoints and the test run on the plain model, as in any run.

``python -m graphrec.training.sharded_tables --model lightgcn --sharding table_wise --steps 20`` under torchrun trains the
sharded model on the synthetic world's BPR batches and, on rank 0, the unsharded toolkit model on the same
batches, and prints both losses.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import torch
from torch import nn

from graphrec import distributed as ddp
from graphrec.errors import ConfigError
from graphrec.models.base import Recommender
from graphrec.models.ranking.lightgcn import LightGCN
from graphrec.models.ranking.mf import MF
from graphrec.training.optimizers import OPTIMIZERS, optimizer_args

SHARDINGS = ("table_wise", "column_wise")
# the check's step sizes: a batch-mean BPR gradient is small per row, so plain SGD needs a large step to move the
# loss within 20 steps (both fall by more than 10% there)
CHECK_LR = {"sgd": 100.0, "adagrad": 0.1}
TABLES = ("user", "item")


def require_torchrec() -> Any:
    try:
        import torchrec
    except ImportError:
        raise ConfigError("TorchRec is not installed: see README, \"TorchRec\", for the install recipe") from None
    return torchrec


class IdTables(nn.Module):
    """The user and item tables as one EmbeddingBagCollection; ``generator`` seeds N(0, 0.1²) initial weights,
    so every rank and the unsharded reference start alike."""

    def __init__(self, n_users: int, n_items: int, embedding_dim: int, generator: torch.Generator | None = None):
        super().__init__()
        torchrec = require_torchrec()
        sizes = {"user": n_users, "item": n_items}
        self.ebc = torchrec.EmbeddingBagCollection(tables=[
            torchrec.EmbeddingBagConfig(name=name, embedding_dim=embedding_dim, num_embeddings=sizes[name],
                                        feature_names=[name]) for name in TABLES], device=torch.device("cpu"))
        with torch.no_grad():
            for name in TABLES:
                weight = self.ebc.embedding_bags[name].weight
                weight.copy_(torch.randn(weight.shape, generator=generator) * 0.1)

    def lookup(self, users: torch.Tensor, items: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Rows ``users`` of the user table and ``items`` of the item table. The collection pools every feature
        over one number of bags: the shorter id list is padded with empty bags (pooled to 0), cut off after."""
        from torchrec import KeyedJaggedTensor

        counts = (users.numel(), items.numel())
        stride = max(counts)
        lengths = torch.cat([torch.cat([torch.ones(c, dtype=torch.int32), torch.zeros(stride - c, dtype=torch.int32)])
                             for c in counts])
        ids = KeyedJaggedTensor.from_lengths_sync(keys=list(TABLES), values=torch.cat([users, items]).long(),
                                                  lengths=lengths)
        pooled = self.ebc(ids)
        return pooled["user"][:counts[0]], pooled["item"][:counts[1]]

    def full(self, n_users: int, n_items: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Both whole tables, looked up (so their gradient reaches the shards)."""
        return self.lookup(torch.arange(n_users), torch.arange(n_items))

    def set_weights(self, users: torch.Tensor, items: torch.Tensor) -> None:
        """Load both tables (before ``shard``)."""
        with torch.no_grad():
            for name, weight in zip(TABLES, (users, items)):
                self.ebc.embedding_bags[name].weight.copy_(weight)


class TorchRecMF(MF):
    """BPR-MF (``graphrec.models.ranking.mf``) with its tables in ``IdTables``."""

    def __init__(self, n_users: int, n_items: int, embedding_dim: int = 64, reg_weight: float = 1e-4,
                 generator: torch.Generator | None = None):
        Recommender.__init__(self, n_users, n_items)  # not MF's nn.Embedding tables: IdTables holds them
        self.tables = IdTables(n_users, n_items, embedding_dim, generator)
        self.embedding_dim, self.reg_weight = embedding_dim, reg_weight

    def lookup(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        users, items = self.tables.lookup(batch["user"], self.pairwise_item_ids(batch))
        return (users, *self.split_item_rows(items, batch))

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.tables.full(self.n_users, self.n_items)

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return self.loss(batch)  # DistributedModelParallel calls forward

    @classmethod
    def like(cls, model: MF) -> TorchRecMF:
        """The twin of ``model``: its sizes, λ and weights."""
        twin = cls(model.n_users, model.n_items, model.user_emb.embedding_dim, model.reg_weight, _quiet())
        twin.tables.set_weights(model.user_emb.weight, model.item_emb.weight)
        return twin

    @torch.no_grad()
    def write_into(self, model: MF) -> None:
        """Copy the tables (looked up whole: every rank calls this together when sharded) into ``model``."""
        users, items = self.embeddings()
        model.user_emb.weight.copy_(users)
        model.item_emb.weight.copy_(items)

    def unsharded(self) -> MF:
        model = MF(self.n_users, self.n_items, self.embedding_dim, self.reg_weight)
        self.write_into(model)
        return model


class TorchRecLightGCN(LightGCN):
    """LightGCN (``graphrec.models.ranking.lightgcn``) with E^(0) in ``IdTables`` (module doc: all rows each step)."""

    def __init__(self, n_users: int, n_items: int, embedding_dim: int = 64, n_layers: int = 3,
                 reg_weight: float = 1e-4, generator: torch.Generator | None = None):
        Recommender.__init__(self, n_users, n_items)  # not LightGCN's parameter table: IdTables holds it
        self.tables = IdTables(n_users, n_items, embedding_dim, generator)
        self.embedding_dim, self.n_layers, self.reg_weight = embedding_dim, n_layers, reg_weight

    def ego_embeddings(self) -> torch.Tensor:
        return torch.cat(self.tables.full(self.n_users, self.n_items))

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return self.loss(batch)  # DistributedModelParallel calls forward

    @classmethod
    def like(cls, model: LightGCN) -> TorchRecLightGCN:
        """The twin of ``model``: its sizes, K, λ, weights and graphs."""
        twin = cls(model.n_users, model.n_items, model.embedding.shape[1], model.n_layers, model.reg_weight, _quiet())
        twin.tables.set_weights(model.embedding[:model.n_users], model.embedding[model.n_users:])
        twin.attach_graphs(model.graphs)
        return twin

    @torch.no_grad()
    def write_into(self, model: LightGCN) -> None:
        """Copy E^(0) (looked up whole: every rank calls this together when sharded) into ``model``."""
        model.embedding.copy_(self.ego_embeddings())

    def unsharded(self) -> LightGCN:
        model = LightGCN(self.n_users, self.n_items, self.embedding_dim, self.n_layers, self.reg_weight)
        self.write_into(model)
        model.attach_graphs(self.graphs)
        return model


MODELS = {"mf": TorchRecMF, "lightgcn": TorchRecLightGCN}
TWINS: dict[type[Recommender], type[TorchRecMF] | type[TorchRecLightGCN]] = {
    MF: TorchRecMF, LightGCN: TorchRecLightGCN}


def _quiet() -> torch.Generator:
    """A private generator for initial weights that are overwritten at once (the global one stays untouched)."""
    return torch.Generator().manual_seed(0)


def to_torchrec(model: Recommender) -> TorchRecMF | TorchRecLightGCN:
    """The TorchRec twin of a toolkit MF or LightGCN (same weights and graphs)."""
    twin = TWINS.get(type(model))
    if twin is None:
        raise ConfigError(f"trainer.tables: only {sorted(m.__name__ for m in TWINS)} keep their ID tables in "
                          f"TorchRec; {type(model).__name__} trains with trainer.tables=dense")
    return twin.like(model)


def check_optimizer(optimizer: str, device: torch.device) -> None:
    if optimizer not in OPTIMIZERS:
        raise ConfigError(f"trainer.optimizer: '{optimizer}' is not one of {sorted(OPTIMIZERS)}")
    if optimizer == "adam" and device.type == "cpu":
        raise ConfigError("trainer.optimizer=adam: fbgemm's CPU kernels have no fused Adam for TorchRec tables; "
                          "use trainer.optimizer=adagrad or sgd (or a GPU)")


def shard(model: TorchRecMF | TorchRecLightGCN, sharding: str, optimizer: str = "adagrad", lr: float = 0.1,
          device: torch.device = torch.device("cpu")) -> nn.Module:
    """``model`` under DistributedModelParallel with its tables placed by ``sharding`` and ``optimizer`` fused
    into the tables' backward; the weights are copied from ``model`` into the shards."""
    if sharding not in SHARDINGS:
        raise ConfigError(f"trainer.tables: '{sharding}' is not one of {['dense', *SHARDINGS]}")
    check_optimizer(optimizer, device)
    require_torchrec()
    import torch.distributed as dist
    from torchrec.distributed.embeddingbag import EmbeddingBagCollectionSharder
    from torchrec.distributed.model_parallel import DistributedModelParallel
    from torchrec.distributed.planner import EmbeddingShardingPlanner, Topology
    from torchrec.distributed.planner.types import ParameterConstraints
    from torchrec.optim.apply_optimizer_in_backward import apply_optimizer_in_backward

    full = {k: v.detach().clone() for k, v in model.state_dict().items()}
    apply_optimizer_in_backward(OPTIMIZERS[optimizer], model.tables.parameters(), optimizer_args(optimizer, lr))
    constraints = {name: ParameterConstraints(sharding_types=[sharding]) for name in TABLES}
    planner = EmbeddingShardingPlanner(topology=Topology(world_size=dist.get_world_size(),
                                                         compute_device=device.type), constraints=constraints)
    sharders = [EmbeddingBagCollectionSharder()]
    plan = planner.collective_plan(model, sharders, dist.GroupMember.WORLD)
    sharded = DistributedModelParallel(model, device=device, plan=plan, sharders=sharders)
    with torch.no_grad():  # DMP initialises the shards itself: put the model's weights into them
        for key, value in sharded.state_dict().items():
            source = full[key.removeprefix("_dmp_wrapped_module.").removeprefix("module.")]
            for piece in value.local_shards() if hasattr(value, "local_shards") else []:
                (r, c), (h, w) = piece.metadata.shard_offsets, piece.metadata.shard_sizes
                piece.tensor.copy_(source[r:r + h, c:c + w])
    return sharded


def _check(model_name: str, sharding: str, steps: int, optimizer: str, lr: float, batch_size: int
           ) -> dict[str, Any]:
    """Sharded vs unsharded model on the same global batches (module doc)."""
    from graphrec.data.interactions import InteractionIndex
    from graphrec.data.sampler import NegativeSampler, TrainingBatches
    from graphrec.data.synthetic import generate_world
    from graphrec.graphs.bipartite import bipartite_graph

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

    model = MODELS[model_name](world.n_users, world.n_items, embedding_dim=16, reg_weight=1e-4,
                               generator=torch.Generator().manual_seed(1))
    model.attach_graphs({"adj": bipartite_graph(user, item, world.n_users, world.n_items)})
    reference = model.unsharded()
    sharded, losses = shard(model, sharding, optimizer, lr), []
    for batch in schedule:
        part, weight = ddp.shard_batch(batch, rank)
        loss = sum(sharded(part).values())
        (loss * weight).backward()
        losses.append(float(ddp.all_reduce_mean({"loss": loss.detach() * weight})["loss"]))
    out = {"model": model_name, "sharding": sharding, "optimizer": optimizer, "lr": lr,
           "world_size": rank.world_size, "sharded": losses}
    if rank.is_main:
        opt = OPTIMIZERS[optimizer](reference.parameters(), **optimizer_args(optimizer, lr))
        out["unsharded"] = []
        for batch in schedule:
            loss = sum(reference.loss(batch).values())
            opt.zero_grad()
            loss.backward()
            opt.step()
            out["unsharded"].append(loss.item())
        out["max_rel_diff"] = max(abs(a - b) / abs(b) for a, b in zip(losses, out["unsharded"]))
    ddp.shutdown()
    return out


def main() -> None:
    p = argparse.ArgumentParser(description="sharded vs unsharded TorchRec MF / LightGCN (run under torchrun)")
    p.add_argument("--model", choices=sorted(MODELS), default="mf")
    p.add_argument("--sharding", choices=SHARDINGS, default="table_wise")
    p.add_argument("--optimizer", choices=sorted(CHECK_LR), default="sgd")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--lr", type=float, default=None, help=f"default: {CHECK_LR}")
    p.add_argument("--batch-size", type=int, default=1001)
    args = p.parse_args()
    lr = CHECK_LR[args.optimizer] if args.lr is None else args.lr
    out = _check(args.model, args.sharding, args.steps, args.optimizer, lr, args.batch_size)
    if "unsharded" in out:
        print(json.dumps(out))


if __name__ == "__main__":
    main()
