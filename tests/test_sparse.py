"""SparseGraph: products and gradients against dense references; conversions to PyG; normalisations."""

import pytest
import torch

from graphrec.graphs.bipartite import bipartite_graph
from graphrec.graphs.normalize import add_self_loops, normalize
from graphrec.graphs.sparse import SparseGraph


def random_graph(n_rows=9, n_cols=7, nnz=25, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    row = torch.randint(0, n_rows, (nnz,), generator=g)
    col = torch.randint(0, n_cols, (nnz,), generator=g)
    row[0] = 0  # keep row n_rows-1 possibly empty, but ensure some structure
    val = torch.rand(nnz, generator=g, dtype=dtype)
    return SparseGraph.from_coo(row, col, val, (n_rows, n_cols)), (row, col, val)


def dense_of(row, col, val, shape):
    d = torch.zeros(shape, dtype=val.dtype)
    d.index_put_((row, col), val, accumulate=True)
    return d


def test_from_coo_sums_duplicates_and_matches_dense():
    graph, (row, col, val) = random_graph()
    assert torch.allclose(graph.to_dense(), dense_of(row, col, val, (9, 7)))
    x = torch.randn(7, 4, dtype=torch.float64)
    assert torch.allclose(graph @ x, dense_of(row, col, val, (9, 7)) @ x)


def test_transpose_is_cached_and_correct():
    graph, (row, col, val) = random_graph()
    assert torch.allclose(graph.t().to_dense(), dense_of(row, col, val, (9, 7)).T)
    assert torch.allclose(graph.t().t().to_dense(), graph.to_dense())
    first = graph._transpose_structure()
    assert graph._transpose_structure() is first


@pytest.mark.parametrize("rows, cols", [(slice(2, 7), slice(1, 5)), (slice(0, 9), slice(0, 7)),
                                        (slice(3, None), slice(4, None)), (slice(8, 9), slice(0, 2))])
def test_block_is_the_dense_sub_matrix_and_differentiable(rows, cols):
    graph, (row, col, val) = random_graph()
    dense = dense_of(row, col, val, (9, 7))
    values = graph.values.clone().requires_grad_(True)
    sub = graph.with_values(values).block(rows, cols)
    assert sub.shape == tuple(dense[rows, cols].shape)
    assert torch.equal(sub.to_dense(), dense[rows, cols])
    x = torch.randn(sub.shape[1], 3, dtype=torch.float64, requires_grad=True)
    assert torch.allclose(sub @ x, dense[rows, cols] @ x)
    assert torch.allclose(sub.t().to_dense(), dense[rows, cols].T)
    (sub @ x).sum().backward()  # gradient reaches exactly the parent's entries inside the block
    inside = (row >= (rows.start or 0)) & (row < (rows.stop or 9)) & (col >= (cols.start or 0)) & \
        (col < (cols.stop or 7))
    touched = torch.zeros(9, 7, dtype=torch.bool)
    touched[row[inside], col[inside]] = True
    parent_touched = torch.zeros(9, 7, dtype=torch.bool)
    parent_touched[graph.row, graph.col] = values.grad != 0
    assert torch.equal(parent_touched, touched)
    with pytest.raises(ValueError, match="unit-step"):
        graph.block(slice(0, 9, 2), cols)


def test_spmm_gradcheck_features_and_values():
    graph, _ = random_graph()
    x = torch.randn(7, 3, dtype=torch.float64, requires_grad=True)
    values = graph.values.clone().requires_grad_(True)
    fn = lambda v, x_: graph.with_values(v) @ x_
    assert torch.autograd.gradcheck(fn, (values, x))


def test_backward_matches_dense_product():
    graph, (row, col, val) = random_graph(dtype=torch.float32)
    x = torch.randn(7, 5, requires_grad=True)
    (graph @ x).pow(2).sum().backward()
    x2 = x.detach().clone().requires_grad_(True)
    (dense_of(row, col, val, (9, 7)) @ x2).pow(2).sum().backward()
    assert torch.allclose(x.grad, x2.grad, atol=1e-5)


def test_symmetric_backward_reuses_matrix():
    user, item = torch.tensor([0, 0, 1, 2]), torch.tensor([0, 1, 1, 2])
    graph = bipartite_graph(user, item, 3, 3)
    assert graph.symmetric and torch.allclose(graph.to_dense(), graph.to_dense().T)
    x = torch.randn(6, 4, dtype=torch.float32, requires_grad=True)
    (graph @ x).sum().backward()
    assert torch.allclose(x.grad, graph.to_dense().T @ torch.ones(6, 4))
    assert graph._t_cache is None  # never transposed


def test_bipartite_normalisation_matches_dense_formula():
    user, item = torch.tensor([0, 0, 1, 2, 2, 2]), torch.tensor([0, 1, 1, 0, 2, 3])
    a = torch.zeros(7, 7)
    a[user, item + 3] = 1
    a[item + 3, user] = 1
    d = a.sum(1)
    expected = a / torch.sqrt(d[:, None] * d[None, :])
    assert torch.allclose(bipartite_graph(user, item, 3, 4).to_dense(), expected)
    plus = normalize(SparseGraph.from_torch_sparse(a.to_sparse()), "plus_one").to_dense()
    assert torch.allclose(plus, a / torch.sqrt((d[:, None] + 1) * (d[None, :] + 1)))
    row = normalize(SparseGraph.from_torch_sparse(a.to_sparse()), "row").to_dense()
    assert torch.allclose(row.sum(1), torch.ones(7))


def test_learnable_self_loop_weight_gets_gradient():
    graph, _ = random_graph(7, 7, 20)
    w = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    looped = add_self_loops(graph, w)
    assert torch.allclose(looped.to_dense(), graph.to_dense() + 0.5 * torch.eye(7, dtype=torch.float64))
    (looped @ torch.ones(7, 1, dtype=torch.float64)).sum().backward()
    assert w.grad is not None and w.grad.item() == pytest.approx(7.0)


def test_pyg_round_trip_and_layers():
    from torch_geometric.nn import GCNConv, LGConv
    from torch_geometric.utils import softmax

    graph, _ = random_graph(8, 8, 30, dtype=torch.float32)
    edge_index, weight = graph.to_edge_index()
    back = SparseGraph.from_edge_index(edge_index, weight, 8)
    assert torch.allclose(back.to_dense(), graph.to_dense())
    ei, w = graph.to_pyg_edge_index()
    assert ei.sparse_size() == (8, 8)
    x = torch.randn(8, 4)
    # LGConv without normalisation aggregates x_j over edges j -> i (PyG: source row 0 -> target row 1)
    out = LGConv(normalize=False)(x, edge_index, weight)
    assert torch.allclose(out, graph.t() @ x, atol=1e-5)
    assert GCNConv(4, 3)(x, edge_index, weight).shape == (8, 3)
    att = softmax(torch.randn(graph.nnz), graph.row, num_nodes=8)
    sums = torch.zeros(8).index_add(0, graph.row, att)
    assert torch.allclose(sums[graph.degree(1) > 0], torch.ones(int((graph.degree(1) > 0).sum())), atol=1e-5)
    assert torch.allclose(SparseGraph.from_torch_sparse(graph.to_torch_sparse(torch.sparse_coo)).to_dense(),
                          graph.to_dense())


def test_edge_dot_matches_gathered_dot_products_and_gradients():
    from graphrec.graphs.sparse import edge_dot

    g = torch.Generator().manual_seed(3)
    graph = SparseGraph.from_coo(torch.randint(0, 7, (30,), generator=g), torch.randint(0, 5, (30,), generator=g),
                                 None, (7, 5))
    a = torch.randn(7, 4, generator=g, requires_grad=True)
    b = torch.randn(5, 4, generator=g, requires_grad=True)
    w = torch.randn(graph.nnz, generator=g)
    (edge_dot(graph, a, b) * w).sum().backward()
    ga, gb = a.grad.clone(), b.grad.clone()
    a.grad = b.grad = None
    reference = (a[graph.row] * b[graph.col]).sum(-1)
    assert torch.allclose(edge_dot(graph, a, b), reference, atol=1e-5)
    (reference * w).sum().backward()
    assert torch.allclose(ga, a.grad, atol=1e-5) and torch.allclose(gb, b.grad, atol=1e-5)


@pytest.mark.parametrize("symmetric", [True, False])
def test_power_sum_matches_layer_loop_and_dense_gradient(symmetric):
    if symmetric:
        graph = bipartite_graph(torch.tensor([0, 0, 1, 2, 3]), torch.tensor([0, 1, 1, 2, 0]), 4, 3)
        n = 7
    else:
        graph, _ = random_graph(n_rows=8, n_cols=8, nnz=30, dtype=torch.float32)
        n = 8
    dense = graph.to_dense()
    x = torch.randn(n, 5, requires_grad=True)
    weight = torch.randn(n, 5)
    (graph.power_sum(x, 3) * weight).sum().backward()
    powers = sum(torch.linalg.matrix_power(dense, k) for k in range(4))
    assert torch.allclose(graph.power_sum(x, 3), powers @ x, atol=1e-5)
    assert torch.allclose(x.grad, powers.T @ weight, atol=1e-5)  # backward uses Aᵀ, not A
    assert torch.allclose(graph.power_sum(x, 0), x)


def test_power_sum_with_learnable_values_gives_value_gradients():
    graph, _ = random_graph(n_rows=6, n_cols=6, nnz=14)
    x = torch.randn(6, 3, dtype=torch.float64, requires_grad=True)
    values = graph.values.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda v, x_: graph.with_values(v).power_sum(x_, 2), (values, x))


def test_cached_transposed_values_follow_in_place_updates():
    graph, (row, col, val) = random_graph(dtype=torch.float32)
    x = torch.randn(9, 3)
    first = graph.transposed_csr().to_dense()
    assert torch.equal(graph.transposed_csr().to_dense(), first)  # second call: from the cache
    graph.values.mul_(2.0)  # in place: the version changes, so the cached permutation must not be reused
    assert torch.allclose(graph.transposed_csr().to_dense(), 2.0 * first)
    y = torch.randn(7, 3, requires_grad=True)
    (graph @ y * x).sum().backward()
    assert torch.allclose(y.grad, 2.0 * dense_of(row, col, val, (9, 7)).T @ x, atol=1e-5)


def test_bf16_operands_are_multiplied_in_float32():
    """Under bf16 autocast dense operands and learned edge values arrive in bfloat16: products, power sums and
    edge scores run in float32 (the CPU kernels take no bf16 here) and gradients flow back in each operand's
    dtype; float64 stays float64."""
    from graphrec.graphs.sparse import edge_dot

    graph, (row, col, val) = random_graph(dtype=torch.float32)
    dense = dense_of(row, col, val, (9, 7))
    x = torch.randn(7, 4).bfloat16().requires_grad_(True)
    y = graph @ x
    assert y.dtype == torch.float32 and torch.allclose(y, dense @ x.float(), atol=1e-5)
    (grad,) = torch.autograd.grad((y * y.detach()).sum(), x)
    assert grad.dtype == torch.bfloat16 and torch.allclose(grad.float(), dense.T @ y.detach(), rtol=1e-2, atol=1e-2)
    a, b = torch.randn(9, 4).bfloat16(), torch.randn(7, 4).bfloat16()
    assert torch.allclose(edge_dot(graph, a, b), (a.float()[graph.row] * b.float()[graph.col]).sum(1), atol=1e-5)
    square, _ = random_graph(7, 7, 20, dtype=torch.float32)
    assert square.power_sum(x, 2).dtype == torch.float32
    values = graph.values.bfloat16().requires_grad_(True)
    z = graph.with_values(values) @ x.detach()
    (grad_values,) = torch.autograd.grad(z.float().sum(), values)
    expected = x.detach().float().sum(1)[graph.col]  # ∂Σ(Ax)/∂a_ij = Σ_k x_jk
    assert grad_values.dtype == torch.bfloat16 and torch.allclose(grad_values.float(), expected, rtol=1e-2, atol=1e-2)
    assert (graph @ x.double()).dtype == torch.float64


def test_elementwise_max_takes_the_largest_stored_value_on_the_union():
    from graphrec.graphs.sparse import elementwise_max

    a, _ = random_graph(seed=1)
    b, _ = random_graph(seed=2)
    b = b.with_values(b.values - 0.5)  # some of b's values are negative: a missing entry must not count as 0
    da, db = a.to_dense(), b.to_dense()
    in_a, in_b = da != 0, db != 0
    expected = torch.where(in_a & in_b, torch.maximum(da, db), torch.where(in_a, da, db))
    fused = elementwise_max([a, b])
    assert torch.allclose(fused.to_dense(), expected)
    assert fused.nnz == int((in_a | in_b).sum())
    assert bool((fused.to_dense() < 0).any())


def test_dense_rows_equal_the_rows_of_the_dense_matrix():
    from graphrec.graphs.sparse import dense_rows

    g = torch.Generator().manual_seed(3)
    dense = (torch.rand(9, 7, generator=g) < 0.3).float() * torch.rand(9, 7, generator=g)
    dense[4] = 0.0  # an empty row
    graph = SparseGraph.from_coo(*dense.nonzero().T, dense[dense != 0], (9, 7))
    rows = torch.tensor([4, 0, 8, 0, 2])
    assert torch.equal(dense_rows(graph, rows), dense[rows])
