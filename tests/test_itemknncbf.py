"""ItemKNNCBF against a dense reference: shrunk cosine, top-k rows with the item itself, scores R · S."""

from __future__ import annotations

import torch

from graphrec.graphs.knn import knn_graph
from graphrec.graphs.store import GraphStore, TrainingGraphInput
from graphrec.models.ranking.itemknncbf import ItemKNNCBF


def _world(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    n_users, n_items = 7, 12
    user = torch.randint(0, n_users, (30,), generator=g)
    item = torch.randint(0, n_items, (30,), generator=g)
    # rows of very different lengths, so the shrink term changes which neighbours are kept
    feats = {"visual": torch.randn(n_items, 4, generator=g) * torch.linspace(0.2, 3.0, n_items).unsqueeze(1),
             "acoustic": torch.randn(n_items, 3, generator=g)}
    return TrainingGraphInput(user, item, n_users, n_items, feats)


def _reference_similarity(x: torch.Tensor, k: int, shrink: float) -> torch.Tensor:
    norms = x.norm(dim=1)
    sim = (x @ x.T) / (norms[:, None] * norms[None, :] + shrink)
    sim.fill_diagonal_(float("-inf"))
    keep = sim.topk(k - 1, dim=1)
    dense = torch.zeros_like(sim).scatter_(1, keep.indices, keep.values)
    dense.fill_diagonal_(1.0)
    return dense


def test_shrunk_knn_graph_matches_the_dense_rows():
    x = _world().features["visual"]
    for shrink in (0.0, 10.0):
        built = knn_graph(x, k=4, include_self=True, shrink=shrink, block_size=5).to_dense()
        ref = _reference_similarity(x, 4, shrink) if shrink else \
            _reference_similarity(torch.nn.functional.normalize(x, dim=1), 4, 0.0)
        assert torch.allclose(built, ref, atol=1e-6)
    # the shrink term changes the neighbour sets here (short rows lose neighbours to long ones)
    assert not torch.equal(knn_graph(x, k=4, shrink=10.0).to_dense() != 0, knn_graph(x, k=4).to_dense() != 0)


def test_scores_are_the_users_rows_of_r_times_s():
    data = _world()
    model = ItemKNNCBF(data.n_users, data.n_items, data.features, k=4, shrink=10.0)
    model.attach_graphs(GraphStore(data).build(model.graph_specs()))
    x = torch.cat([data.features["acoustic"], data.features["visual"]], dim=1)  # modalities in name order
    r = torch.zeros(data.n_users, data.n_items)
    r[data.user, data.item] = 1.0
    expected = r @ _reference_similarity(x, 4, 10.0)
    users = torch.tensor([3, 0, 6, 3])
    assert torch.allclose(model.score(users), expected[users], atol=1e-5)
    items = torch.tensor([1, 5, 11, 0])
    assert torch.allclose(model.score(users, items), expected[users, items], atol=1e-5)
