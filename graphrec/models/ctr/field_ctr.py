"""The click-through rankers of MTL's Table II — LR, Embedding&MLP, DCN and Wide&Deep — over ID fields, with
optional categorical item fields (MTL's topic ids: ``item_fields=[topic]``) and optional raw content features.

Fields of an impression (u, i) with clicked history H (its last L clicks, ``eval=ctr``): the user id, the
candidate item i, the history H (mean of its items' vectors: "the embedding from a video and the mean
embedding from the historical click videos of a user", MTL §III-B2), and for each item field f the mean of
the candidate's values' vectors and the mean over H of each history item's mean value vector (a video has
several topics). ``use_features`` adds a projection of the item's content features to the item vectors (the
"Baseline + CNN" configuration of MTL's Fig. 6). ``FieldVectors`` computes them, at width d:

- ``LR``: logit = b + Σ_fields ⟨field vector⟩ with d = 1 (a weight per id, value and feature: logistic
  regression on the one-hot and averaged multi-hot encodings);
- ``EMLP`` (Embedding&MLP): MLP([fields]) (the 200–80–1 tower of DIN's base model);
- ``DCN`` (Wang et al., ADKDD 2017): x₀ = [fields], cross layers x_{l+1} = x₀ (x_lᵀ w_l) + b_l + x_l (eq. 3 of
  the paper), a deep MLP beside them, logit = wᵀ[x_L ‖ deep(x₀)];
- ``WideDeep`` (Cheng et al., DLRS 2016): logit = wide + deep, wide = the LR part plus, per item field with at
  most ``max_cross_values`` values, the cross-product feature AND(history value s, candidate value t) with
  weight W_st, averaged over the candidate's values and over the history's items (each item's values
  averaged first, as in the field vectors): p_Hᵀ W q_i (without item fields the
  only crosses would be item × item, too many to learn: wide is then the LR part); deep = the EMLP tower.
Loss: log loss of each click plus λ/2 · the squared norm of the field vectors a batch gathers / B (ClickModel).
Deviation: the paper does not give its rankers' sizes; these are DIN's base-model sizes (d = 32, 200–80).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from graphrec.errors import ConfigError
from graphrec.graphs.sparse import SparseGraph
from graphrec.models.ctr.common import ClickModel, ItemVectors, history, masked_mean
from graphrec.models.layers.mlp import mlp


def padded_values(item: torch.Tensor, value: torch.Tensor, n_items: int, n_values: int, cap: int
                  ) -> torch.Tensor:
    """[n_items + 1, M] value ids per item (M = most values of an item, at most ``cap``), ``n_values`` as
    padding; row ``n_items`` (the history padding item) is all padding."""
    order = torch.argsort(item * (n_values + 1) + value)
    item, value = item[order], value[order]
    counts = torch.bincount(item, minlength=n_items)
    width = max(1, min(int(counts.max()) if counts.numel() else 1, cap))
    position = torch.arange(item.numel()) - torch.repeat_interleave(torch.cumsum(counts, 0) - counts, counts)
    keep = position < width
    out = torch.full((n_items + 1, width), n_values, dtype=torch.long)
    out[item[keep], position[keep]] = value[keep]
    return out


class ItemField(nn.Module):
    """Vectors of one categorical item field. With A the item × value matrix whose row i is 1/|V_i| on the
    item's values V_i, the item vectors are A E (E the value embeddings): one sparse product over all items per
    forward, then a gather — never a [batch, L, values-per-item, d] tensor."""

    def __init__(self, item: torch.Tensor, value: torch.Tensor, n_items: int, n_values: int, dim: int, cap: int):
        super().__init__()
        self.n_values, self.n_items = int(n_values), int(n_items)
        self.register_buffer("values", padded_values(item.long(), value.long(), n_items, n_values, cap),
                             persistent=False)
        key = torch.unique(item.long() * (n_values + 1) + value.long())
        row, col = key // (n_values + 1), key % (n_values + 1)
        counts = torch.bincount(row, minlength=n_items + 1).float()
        self.register_buffer("a_row", row, persistent=False)
        self.register_buffer("a_col", col, persistent=False)
        self.register_buffer("a_val", 1.0 / counts[row], persistent=False)
        self._a: SparseGraph | None = None
        self.emb = nn.Embedding(n_values + 1, dim, padding_idx=n_values)
        nn.init.normal_(self.emb.weight, std=0.01)
        with torch.no_grad():
            self.emb.weight[n_values].zero_()

    def averaging(self) -> SparseGraph:
        """A (class doc), built once per device."""
        if self._a is None or self._a.col.device != self.a_col.device:
            self._a = SparseGraph.from_coo(self.a_row, self.a_col, self.a_val, (self.n_items + 1, self.n_values + 1))
        return self._a

    def distribution(self, items: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(value ids [..., M], their mask) of ``items`` (at most ``cap`` values each)."""
        ids = self.values[items]
        return ids, ids != self.n_values

    def averaged(self, weight: torch.Tensor) -> torch.Tensor:
        """A · weight ([n_items + 1, ...]); without grad (evaluation, serving) computed once per version of
        ``weight`` and reused, so scoring a few impressions costs a gather, not a product over all items."""
        if torch.is_grad_enabled():
            return self.averaging() @ weight
        key = (weight.data_ptr(), weight._version)
        cache = self.__dict__.setdefault("_averaged", {})
        if cache.get("key", {}).get(id(weight)) != key:
            cache.setdefault("key", {})[id(weight)] = key
            cache[id(weight)] = self.averaging() @ weight
        return cache[id(weight)]

    def table(self) -> torch.Tensor:
        """Every item's mean value vector, A E: [n_items + 1, d] (the padding item's row is 0)."""
        return self.averaged(self.emb.weight)

    def forward(self, items: torch.Tensor) -> torch.Tensor:
        return self.table()[items]


class FieldVectors(nn.Module):
    """The field vectors of an impression (module doc): [B, n_fields, d] and their squared norm / B."""

    def __init__(self, n_users: int, n_items: int, dim: int, features: dict[str, torch.Tensor] | None,
                 use_features: bool, item_field_data: dict[str, tuple[torch.Tensor, torch.Tensor, int]],
                 max_values_per_item: int = 64):
        super().__init__()
        self.user = nn.Embedding(n_users, dim)
        nn.init.normal_(self.user.weight, std=0.01)
        self.items = ItemVectors(n_items, dim, features, use_features)
        self.fields = nn.ModuleDict({name: ItemField(item, value, n_items, n_values, dim, max_values_per_item)
                                     for name, (item, value, n_values) in item_field_data.items()})
        self.n_fields = 3 + 2 * len(self.fields)

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        hist_items, _, mask = history(batch, "pos")
        vectors = [self.user(batch["user"]), self.items(batch["item"]), masked_mean(self.items(hist_items), mask)]
        for field in self.fields.values():
            table = field.table()
            vectors += [table[batch["item"]], masked_mean(table[hist_items], mask)]
        x = torch.stack(vectors, 1)
        return x, x.pow(2).sum() / x.shape[0]


class _FieldModel(ClickModel):
    def __init__(self, n_users: int, n_items: int, features: dict[str, torch.Tensor] | None, dim: int,
                 use_features: bool, item_fields: Sequence[str],
                 item_field_data: dict[str, tuple[torch.Tensor, torch.Tensor, int]] | None, reg_weight: float):
        super().__init__(n_users, n_items)
        data = item_field_data or {}
        missing = [f for f in item_fields if f not in data]
        if missing:
            raise ConfigError(f"model.item_fields: no data for {missing} (fields come from the dataset)")
        self.item_fields = list(item_fields)
        self.inputs = FieldVectors(n_users, n_items, dim, features, use_features,
                                   {f: data[f] for f in self.item_fields})
        self.reg_weight = float(reg_weight)


class LR(_FieldModel):
    def __init__(self, n_users: int, n_items: int, features: dict[str, torch.Tensor] | None = None,
                 item_fields: Sequence[str] = (), item_field_data=None, use_features: bool = False,
                 reg_weight: float = 1e-4):
        super().__init__(n_users, n_items, features, 1, use_features, item_fields, item_field_data, reg_weight)
        self.bias = nn.Parameter(torch.zeros(()))

    def forward(self, batch):
        x, used = self.inputs(batch)
        return self.bias + x.sum((1, 2)), used


class EMLP(_FieldModel):
    def __init__(self, n_users: int, n_items: int, features: dict[str, torch.Tensor] | None = None,
                 item_fields: Sequence[str] = (), item_field_data=None, use_features: bool = False,
                 embedding_dim: int = 32, hidden: Sequence[int] = (200, 80), reg_weight: float = 1e-4):
        super().__init__(n_users, n_items, features, embedding_dim, use_features, item_fields, item_field_data,
                         reg_weight)
        self.tower = mlp([self.inputs.n_fields * embedding_dim, *hidden, 1])

    def forward(self, batch):
        x, used = self.inputs(batch)
        return self.tower(x.flatten(1)).squeeze(-1), used


class DCN(_FieldModel):
    def __init__(self, n_users: int, n_items: int, features: dict[str, torch.Tensor] | None = None,
                 item_fields: Sequence[str] = (), item_field_data=None, use_features: bool = False,
                 embedding_dim: int = 32, cross_layers: int = 3, hidden: Sequence[int] = (200, 80),
                 reg_weight: float = 1e-4):
        super().__init__(n_users, n_items, features, embedding_dim, use_features, item_fields, item_field_data,
                         reg_weight)
        width = self.inputs.n_fields * embedding_dim
        self.cross_w = nn.Parameter(torch.randn(cross_layers, width) / width ** 0.5)
        self.cross_b = nn.Parameter(torch.zeros(cross_layers, width))
        self.deep = mlp([width, *hidden])
        self.out = nn.Linear(width + hidden[-1], 1)

    def forward(self, batch):
        x, used = self.inputs(batch)
        x0 = x.flatten(1)
        xl = x0
        for w, b in zip(self.cross_w, self.cross_b):
            xl = x0 * (xl @ w)[:, None] + b + xl  # eq. 3 of DCN
        deep = torch.relu(self.deep(x0))
        return self.out(torch.cat([xl, deep], 1)).squeeze(-1), used


class WideDeep(_FieldModel):
    def __init__(self, n_users: int, n_items: int, features: dict[str, torch.Tensor] | None = None,
                 item_fields: Sequence[str] = (), item_field_data=None, use_features: bool = False,
                 embedding_dim: int = 32, hidden: Sequence[int] = (200, 80), max_cross_values: int = 1024,
                 reg_weight: float = 1e-4):
        super().__init__(n_users, n_items, features, embedding_dim, use_features, item_fields, item_field_data,
                         reg_weight)
        self.wide = LR(n_users, n_items, features, item_fields, item_field_data, use_features, 0.0)
        self.crosses = nn.ParameterDict({
            f: nn.Parameter(torch.zeros(field.n_values + 1, field.n_values + 1))
            for f, field in self.wide.inputs.fields.items() if field.n_values <= max_cross_values})
        self.tower = mlp([self.inputs.n_fields * embedding_dim, *hidden, 1])

    def _cross(self, name: str, batch) -> torch.Tensor:
        """p_Hᵀ W q_i for one field: with U = A W (every item's mean row of W), the mean over the history of
        U[h], read at the candidate's values and averaged over them."""
        field = self.wide.inputs.fields[name]
        hist_items, _, mask = history(batch, "pos")
        u = field.averaged(self.crosses[name])  # [n_items + 1, V + 1]
        p_w = masked_mean(u[hist_items], mask)  # [B, V + 1]: Σ_s p_H(s) W[s, :]
        c_ids, c_mask = field.distribution(batch["item"])  # [B, M]
        per_value = p_w.gather(1, c_ids)
        return (per_value * c_mask).sum(1) / c_mask.sum(1).clamp_min(1)

    def forward(self, batch):
        x, used = self.inputs(batch)
        wide, wide_used = self.wide(batch)
        for name in self.crosses:
            wide = wide + self._cross(name, batch)
        return wide + self.tower(x.flatten(1)).squeeze(-1), used + wide_used
