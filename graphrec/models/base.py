"""The ``Recommender`` contract every model implements.

A model is configured by ``conf/model/<name>.yaml`` (``_target_`` + hyper-parameters) and built with
``n_users``, ``n_items`` and, when its constructor accepts it, ``features`` (``{modality: [n_items, d]}``).
It declares the graphs it consumes (``graph_specs``) instead of building them; the trainer builds them from
the training split with the ``GraphStore`` and calls ``attach_graphs`` with them on the model's device.
"""

from __future__ import annotations

import torch
from torch import nn

from graphrec.errors import ConfigError
from graphrec.graphs.sparse import SparseGraph
from graphrec.graphs.store import GraphSpec


class Recommender(nn.Module):
    """Base class: ``loss(batch)``, ``score(users, items=None)``, optional ``embeddings()``."""

    task: str = "ranking"  # or "ctr"
    sampling: str = "pairwise"  # batches the trainer feeds: "pairwise", "pointwise" or "positive" (no negatives)
    n_negatives: int | None = None  # negatives per positive this model needs (None: ``trainer.n_neg``)
    learns: bool = True  # False for a model with no learned weights (its loss is constant; e.g. ItemKNNCBF)

    def __init__(self, n_users: int, n_items: int):
        super().__init__()
        self.n_users, self.n_items = int(n_users), int(n_items)
        self.graphs: dict[str, SparseGraph] = {}

    def register_features(self, features: dict[str, torch.Tensor]) -> list[str]:
        """Keep item features as non-persistent buffers (they follow ``.to()``, stay out of checkpoints);
        returns the modality names, sorted. A model that needs features fails clearly without them."""
        if not features:
            raise ConfigError(f"model {type(self).__name__} needs item features, and the dataset has none "
                              "(choose a dataset with features, or dataset.modalities)")
        self.modalities = sorted(features)
        for m in self.modalities:
            self.register_buffer(f"feat_{m}", features[m].float(), persistent=False)
        return self.modalities

    def feature(self, modality: str) -> torch.Tensor:
        return getattr(self, f"feat_{modality}")

    def graph_specs(self) -> dict[str, GraphSpec]:
        """The graphs this model consumes, by name."""
        return {}

    def attach_graphs(self, graphs: dict[str, SparseGraph]) -> None:
        self.graphs = dict(graphs)

    def pre_epoch(self, epoch: int) -> None:
        """Called by the trainer before each training epoch (1-based), e.g. to re-sample a pruned graph or
        re-select learned neighbours. Randomness must come from torch's global generator, which checkpoints
        save, so a resumed run repeats it."""

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor | dict[str, torch.Tensor]:
        raise NotImplementedError

    def score(self, users: torch.Tensor, items: torch.Tensor | None = None) -> torch.Tensor:
        """Scores ``[B, n_items]`` (``items=None``), ``[B]`` (items ``[B]``) or ``[B, M]`` (items ``[B, M]``).

        The default uses ``embeddings()``: s_ui = ⟨e_u, e_i⟩.
        """
        emb = self.embeddings()
        if emb is None:
            raise NotImplementedError(f"{type(self).__name__} must implement score() or embeddings()")
        user_emb, item_emb = emb
        u = user_emb[users]
        if items is None:
            return u @ item_emb.T
        if items.dim() == 1:
            return (u * item_emb[items]).sum(-1)
        return torch.einsum("bd,bmd->bm", u, item_emb[items])

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Final (user, item) embeddings for dot-product models, so evaluation is one GEMM per block.
        The default splits ``node_embeddings()`` when the model provides it."""
        table = self.node_embeddings()
        return None if table is None else (table[: self.n_users], table[self.n_users:])

    def item_id_embeddings(self) -> torch.Tensor | None:
        """The trainable item ID table ``[n_items, d]`` whose rows are the first ``d`` columns of the item vectors
        ``embeddings()`` starts from (LightGCN's E^(0), BPR-MF's Q, VBPR's γ_i), for plug-ins that enrich it
        (DA-MRS); None when the model has none."""
        return None

    def node_embeddings(self, rows: torch.Tensor | None = None) -> torch.Tensor | None:
        """Final embeddings of all nodes as one ``[n_users + n_items, d]`` table (users first), for models that
        compute them that way; ``embeddings`` and ``batch_embeddings`` then derive from it. With ``rows``
        (node ids), only those rows, in that order: a model may then run its last layer on them alone."""
        return None

    def batch_embeddings(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Rows of ``embeddings()`` for a pairwise batch: (users [B, d], positives [B, d], negatives [B(, n), d]).

        One index per table (positives and negatives together): each index costs a zero-filled full-table
        gradient in backward. A model with ``node_embeddings`` is asked for the batch's distinct nodes only."""
        if type(self).node_embeddings is not Recommender.node_embeddings:
            nodes, inverse = torch.unique(self.pairwise_node_rows(batch), return_inverse=True)
            return self.split_pairwise_rows(self.node_embeddings(nodes)[inverse], batch)
        users, items = self.embeddings()
        return (users[batch["user"]], *self.split_item_rows(items[self.pairwise_item_ids(batch)], batch))

    @staticmethod
    def pairwise_item_ids(batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Item ids of a pairwise batch in one index: [pos; neg flattened]."""
        return torch.cat([batch["pos"], batch["neg"].reshape(-1)])

    @staticmethod
    def split_item_rows(rows: torch.Tensor, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """The inverse of ``pairwise_item_ids`` on gathered rows: (pos [B, d], neg [B(, n), d])."""
        size = batch["pos"].shape[0]
        return rows[:size], rows[size:].reshape(*batch["neg"].shape, rows.shape[-1])

    def pairwise_node_rows(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Node ids of a pairwise batch in a users-then-items table: [users; n_users + pos; n_users + neg]."""
        return torch.cat([batch["user"], self.pairwise_item_ids(batch) + self.n_users])

    @classmethod
    def split_pairwise_rows(cls, rows: torch.Tensor, batch: dict[str, torch.Tensor]
                            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The inverse of ``pairwise_node_rows`` on gathered rows: (users [B, d], pos [B, d], neg [B(, n), d])."""
        size = batch["user"].shape[0]
        return (rows[:size], *cls.split_item_rows(rows[size:], batch))

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)
