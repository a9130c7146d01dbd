"""``SparseGraph``: a CSR adjacency with a cached transpose and an autograd-aware ``graph @ x``.

``y = A x`` runs as a native CSR sparse-dense product. Its backward is ``∂L/∂x = Aᵀ (∂L/∂y)``, computed with
the cached transposed structure (or ``A`` itself when the graph is symmetric), never by re-transposing; the
gradient with respect to edge values, when they require grad, is ``∂L/∂a_ij = ⟨(∂L/∂y)_i, x_j⟩``.

``graph.power_sum(x, K) = Σ_{k=0..K} A^k x`` (the sum behind LightGCN's layer mean) runs by Horner's rule,
y ← x + A y, one sparse product and one in-place addition per step, and its backward is the same recursion
with Aᵀ: ∂L/∂x = Σ_k (Aᵀ)^k ∂L/∂y. No per-layer tables are kept for backward and no separate layer
additions are made (measured on TikTok, K = 3, d = 64: 6.7 ms against 11.3 ms per forward + backward).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass(eq=False)
class SparseGraph:
    """Sparse ``[n_rows, n_cols]`` adjacency in CSR form.

    ``values`` may require grad (learnable edge weights); the structure (``crow``, ``col``) is fixed.
    ``symmetric=True`` promises ``A = Aᵀ`` (structure and values), so backward reuses ``A``.
    """

    crow: torch.Tensor
    col: torch.Tensor
    values: torch.Tensor
    shape: tuple[int, int]
    symmetric: bool = False
    _t_cache: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = field(default=None, repr=False)
    _row_cache: torch.Tensor | None = field(default=None, repr=False)
    _index32: dict = field(default_factory=dict, repr=False)  # int32 CSR indices for the native kernel
    _t_values: tuple | None = field(default=None, repr=False)  # (values, version, values in Aᵀ order)

    # ---------------------------------------------------------------- construction
    @classmethod
    def from_coo(cls, row: torch.Tensor, col: torch.Tensor, values: torch.Tensor | None,
                 shape: tuple[int, int], symmetric: bool = False, reduce: str = "sum") -> SparseGraph:
        """CSR from (possibly unsorted, duplicated) COO entries; duplicates are summed (or ``reduce='max'``)."""
        row, col = row.long(), col.long()
        if values is None:
            values = torch.ones(row.numel(), dtype=torch.float32, device=row.device)
        n_rows, n_cols = int(shape[0]), int(shape[1])
        key = row * n_cols + col
        uniq, inverse = torch.unique(key, return_inverse=True)
        if uniq.numel() != key.numel():
            merged = torch.zeros(uniq.numel(), dtype=values.dtype, device=values.device)
            if reduce == "sum":
                merged = merged.index_add(0, inverse, values)
            else:
                merged = merged.fill_(float("-inf")).scatter_reduce(0, inverse, values, reduce="amax")
            values = merged
        else:
            values = torch.zeros_like(values).scatter(0, inverse, values)
        row, col = uniq // n_cols, uniq % n_cols
        crow = torch.zeros(n_rows + 1, dtype=torch.long, device=row.device)
        crow[1:] = torch.cumsum(torch.bincount(row, minlength=n_rows), 0)
        return cls(crow, col, values, (n_rows, n_cols), symmetric)

    @classmethod
    def from_edge_index(cls, edge_index: torch.Tensor, edge_weight: torch.Tensor | None = None,
                        num_nodes: int | tuple[int, int] | None = None, symmetric: bool = False) -> SparseGraph:
        """From a PyG ``edge_index`` (row 0 = source = CSR row) and optional weights."""
        if num_nodes is None:
            num_nodes = int(edge_index.max()) + 1 if edge_index.numel() else 0
        shape = (num_nodes, num_nodes) if isinstance(num_nodes, int) else tuple(num_nodes)
        return cls.from_coo(edge_index[0], edge_index[1], edge_weight, shape, symmetric)

    @classmethod
    def from_torch_sparse(cls, tensor: torch.Tensor, symmetric: bool = False) -> SparseGraph:
        coo = tensor.to_sparse_coo().coalesce()
        idx = coo.indices()
        return cls.from_coo(idx[0], idx[1], coo.values(), tuple(coo.shape), symmetric)

    @classmethod
    def from_scipy(cls, matrix, symmetric: bool = False) -> SparseGraph:
        coo = matrix.tocoo()
        return cls.from_coo(torch.from_numpy(coo.row.astype("int64")), torch.from_numpy(coo.col.astype("int64")),
                            torch.from_numpy(coo.data.astype("float32")), coo.shape, symmetric)

    # ---------------------------------------------------------------- basic properties
    @property
    def nnz(self) -> int:
        return int(self.col.numel())

    @property
    def device(self) -> torch.device:
        return self.col.device

    @property
    def row(self) -> torch.Tensor:
        """Row index of every stored entry (expanded from ``crow``, cached)."""
        if self._row_cache is None or self._row_cache.device != self.device:
            counts = self.crow[1:] - self.crow[:-1]
            self._row_cache = torch.repeat_interleave(torch.arange(self.shape[0], device=self.device), counts)
        return self._row_cache

    def with_values(self, values: torch.Tensor, symmetric: bool | None = None) -> SparseGraph:
        """Same structure, new values; the row index and transpose structure are computed once, here, so every
        graph derived from this one (e.g. new edge weights per batch) shares them instead of re-sorting.
        ``symmetric``: whether the new values keep A = Aᵀ (default: as this graph; pass ``False`` for values
        that break it, such as a row normalisation of a symmetric graph)."""
        symmetric = self.symmetric if symmetric is None else symmetric and self.symmetric
        if not symmetric:
            self._transpose_structure()
        _ = self.row
        return SparseGraph(self.crow, self.col, values, self.shape, symmetric, self._t_cache, self._row_cache,
                           self._index32)

    def block(self, rows: slice, cols: slice) -> SparseGraph:
        """The sub-matrix ``A[rows, cols]`` (unit-step slices) as its own graph, indices re-based to 0, e.g. the
        user × item block R of a bipartite adjacency. Differentiable in the values when they require grad."""
        r0, r1, row_step = rows.indices(self.shape[0])
        c0, c1, col_step = cols.indices(self.shape[1])
        if row_step != 1 or col_step != 1:
            raise ValueError(f"block takes unit-step slices, got {rows} and {cols}")
        lo, hi = int(self.crow[r0]), int(self.crow[r1])
        col, values = self.col[lo:hi], self.values[lo:hi]
        keep = (col >= c0) & (col < c1)
        if bool(keep.all()):  # rows already sorted, columns sorted within each row: no re-sort needed
            return SparseGraph(self.crow[r0:r1 + 1] - lo, col - c0, values, (r1 - r0, c1 - c0))
        row = self.row[lo:hi] - r0
        return SparseGraph.from_coo(row[keep], col[keep] - c0, values[keep], (r1 - r0, c1 - c0))

    def to(self, device: torch.device | str) -> SparseGraph:
        t_cache = None if self._t_cache is None else tuple(x.to(device) for x in self._t_cache)
        return SparseGraph(self.crow.to(device), self.col.to(device), self.values.to(device), self.shape,
                           self.symmetric, t_cache)  # type: ignore[arg-type]

    def degree(self, dim: int = 1) -> torch.Tensor:
        """Weighted degree: row sums (``dim=1``) or column sums (``dim=0``)."""
        if dim == 1:
            return torch.zeros(self.shape[0], dtype=self.values.dtype, device=self.device).index_add(
                0, self.row, self.values)
        return torch.zeros(self.shape[1], dtype=self.values.dtype, device=self.device).index_add(
            0, self.col, self.values)

    # ---------------------------------------------------------------- transpose
    def _transpose_structure(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(crow, col, perm) of Aᵀ, where Aᵀ's values are ``self.values[perm]``; computed once."""
        if self._t_cache is None:
            key = self.col * self.shape[0] + self.row
            perm = torch.argsort(key, stable=True)
            t_col = self.row[perm]
            t_crow = torch.zeros(self.shape[1] + 1, dtype=torch.long, device=self.device)
            t_crow[1:] = torch.cumsum(torch.bincount(self.col, minlength=self.shape[1]), 0)
            self._t_cache = (t_crow, t_col, perm)
        return self._t_cache

    def t(self) -> SparseGraph:
        if self.symmetric:
            return self
        t_crow, t_col, perm = self._transpose_structure()
        t_row_perm = torch.argsort(perm)  # transpose of the transpose is the original
        return SparseGraph(t_crow, t_col, self.values[perm], (self.shape[1], self.shape[0]), False,
                           (self.crow, self.col, t_row_perm))

    # ---------------------------------------------------------------- products and conversions
    def _kernel_index(self, key: str, crow: torch.Tensor, col: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Indices as int32 when they fit (MKL's CSR kernel would otherwise convert them on every call)."""
        if self.nnz >= 2**31 or max(self.shape) >= 2**31:
            return crow, col
        cached = self._index32.get(key)
        if cached is None or cached[0].device != crow.device:
            cached = (crow.to(torch.int32), col.to(torch.int32))
            self._index32[key] = cached
        return cached

    def csr(self, values: torch.Tensor | None = None) -> torch.Tensor:
        v = self.values if values is None else values
        crow, col = self._kernel_index("csr", self.crow, self.col)
        return torch.sparse_csr_tensor(crow, col, v, self.shape, check_invariants=False)

    def transposed_csr(self, values: torch.Tensor | None = None) -> torch.Tensor:
        v = self.values if values is None else values
        if self.symmetric:
            return self.csr(v)
        t_crow, t_col, perm = self._transpose_structure()
        crow, col = self._kernel_index("t", t_crow, t_col)
        return torch.sparse_csr_tensor(crow, col, self._transposed_values(v, perm), (self.shape[1], self.shape[0]),
                                       check_invariants=False)

    def _transposed_values(self, v: torch.Tensor, perm: torch.Tensor) -> torch.Tensor:
        """``v[perm]``, cached while ``v`` is the same storage at the same version (fixed edge weights are
        permuted once, not in every backward); learnable weights change version at each update."""
        cached = self._t_values
        if cached is not None and not v.requires_grad and cached[0].data_ptr() == v.data_ptr() \
                and cached[1] == v._version and cached[0].shape == v.shape:
            return cached[2]
        permuted = v[perm]
        if not v.requires_grad:
            self._t_values = (v, v._version, permuted)
        return permuted

    def __matmul__(self, x: torch.Tensor) -> torch.Tensor:
        dtype = product_dtype(x, self.values)
        x, values = x.to(dtype), self.values.to(dtype)
        if x.dim() == 1:
            return _SpMM.apply(values, x.unsqueeze(1), self).squeeze(1)
        return _SpMM.apply(values, x, self)

    def power_sum(self, x: torch.Tensor, n_steps: int) -> torch.Tensor:
        """Σ_{k=0..n_steps} A^k x (square graphs); differentiable in ``x``, and in edge values through the
        layer-by-layer path when they require grad."""
        if self.shape[0] != self.shape[1]:
            raise ValueError(f"power_sum needs a square graph, got shape {self.shape}")
        x = x.to(product_dtype(x, self.values))
        if (self.values.requires_grad and torch.is_grad_enabled()) or self.values.dtype != x.dtype:
            out = x
            for _ in range(n_steps):
                x = self @ x
                out = out + x
            return out
        return _PowerSum.apply(x, self, int(n_steps))

    def to_edge_index(self) -> tuple[torch.Tensor, torch.Tensor]:
        """PyG ``(edge_index, edge_weight)`` with ``edge_index[0]`` the row (source)."""
        return torch.stack([self.row, self.col]), self.values

    def to_pyg_edge_index(self):
        """A PyG ``EdgeIndex`` sorted by row, with the sparse size set, plus the edge weights."""
        from torch_geometric import EdgeIndex

        ei = EdgeIndex(torch.stack([self.row, self.col]), sparse_size=self.shape, sort_order="row")
        return ei, self.values

    def to_torch_sparse(self, layout: torch.layout = torch.sparse_csr) -> torch.Tensor:
        if layout == torch.sparse_csr:
            return self.csr()
        return torch.sparse_coo_tensor(torch.stack([self.row, self.col]), self.values, self.shape).coalesce()

    def to_dense(self) -> torch.Tensor:
        """Dense copy: for tests and small graphs only."""
        return self.csr().to_dense()


class _SpMM(torch.autograd.Function):
    """``A @ x`` with A in CSR; backward uses the cached transpose (no re-transposition)."""

    @staticmethod
    def forward(ctx, values: torch.Tensor, x: torch.Tensor, graph: SparseGraph) -> torch.Tensor:
        ctx.graph = graph
        ctx.save_for_backward(values, x)
        return _csr_matmul(graph.csr(values.detach()), x.detach()) if graph.nnz else x.new_zeros(
            graph.shape[0], x.shape[1])

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        values, x = ctx.saved_tensors
        graph: SparseGraph = ctx.graph
        grad_values = grad_x = None
        grad_out = grad_out.contiguous()
        if ctx.needs_input_grad[1]:
            grad_x = _csr_matmul(graph.transposed_csr(values.detach()), grad_out) if graph.nnz else \
                torch.zeros_like(x)
        if ctx.needs_input_grad[0]:
            grad_values = _sddmm(graph, grad_out, x)
        return grad_values, grad_x, None


class _PowerSum(torch.autograd.Function):
    """Σ_k A^k x by Horner's rule (y ← x + A y); backward Σ_k (Aᵀ)^k g the same way."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, graph: SparseGraph, n_steps: int) -> torch.Tensor:
        ctx.graph, ctx.n_steps = graph, n_steps
        return _horner(graph.csr(graph.values.detach()) if graph.nnz else None, x.detach(), n_steps)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        graph: SparseGraph = ctx.graph
        matrix = graph.transposed_csr(graph.values.detach()) if graph.nnz else None
        return _horner(matrix, grad_out.contiguous(), ctx.n_steps), None, None


def _horner(matrix: torch.Tensor | None, x: torch.Tensor, n_steps: int) -> torch.Tensor:
    if matrix is None or n_steps == 0:  # A = 0, or only the k = 0 term
        return x.clone()
    y = x
    for _ in range(n_steps):
        y = _csr_matmul(matrix, y).add_(x) if x.device.type == "cpu" else torch.addmm(x, matrix, y)
    return y


def product_dtype(*operands: torch.Tensor) -> torch.dtype:
    """The dtype a sparse product runs in: the operands' common type, float32 at least. Under bf16 autocast
    (``trainer.precision=bf16``) dense operands and learned edge values arrive in bfloat16; the sums over
    neighbours then run in float32, which the CPU sparse kernels need, and gradients flow back cast to each
    operand's own dtype."""
    dtype = torch.float32
    for t in operands:
        dtype = torch.promote_types(dtype, t.dtype)
    return dtype


def _csr_matmul(matrix: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``matrix @ x`` for a CSR tensor. On CPU, the native row-parallel kernel (``reduce="sum"``) rather than
    MKL's addmm: measured on the TikTok user–item graph (119k entries), 1.38 vs 2.29 ms with 128 columns, equal
    with 64, and ~10% off a LightGCN epoch."""
    if x.device.type == "cpu":
        return torch.sparse.mm(matrix, x, "sum")
    return torch.sparse.mm(matrix, x)


def _sddmm(graph: SparseGraph, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """⟨a_i, b_j⟩ for every stored (i, j), in CSR order: a sampled dense–dense product, no [nnz, d] gathers."""
    if graph.nnz == 0:
        return a.new_zeros(0)
    pattern = graph.csr(torch.zeros(graph.nnz, dtype=a.dtype, device=a.device))
    return torch.sparse.sampled_addmm(pattern, a.contiguous(), b.T, beta=0.0).values()


class _EdgeDot(torch.autograd.Function):
    """s_ij = ⟨a_i, b_j⟩ on the graph's entries; backward ∂a = S b, ∂b = Sᵀ a with S the sparse gradient."""

    @staticmethod
    def forward(ctx, a: torch.Tensor, b: torch.Tensor, graph: SparseGraph) -> torch.Tensor:
        ctx.graph = graph
        ctx.save_for_backward(a, b)
        return _sddmm(graph, a.detach(), b.detach())

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        a, b = ctx.saved_tensors
        graph: SparseGraph = ctx.graph
        grad = grad.contiguous()
        grad_a = _csr_matmul(graph.csr(grad), b) if ctx.needs_input_grad[0] else None
        grad_b = _csr_matmul(graph.transposed_csr(grad), a) if ctx.needs_input_grad[1] else None
        return grad_a, grad_b, None


def edge_dot(graph: SparseGraph, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``[nnz]`` scores ⟨a_row, b_col⟩ for every stored entry, differentiable in ``a`` and ``b``."""
    dtype = product_dtype(a, b)
    return _EdgeDot.apply(a.to(dtype), b.to(dtype), graph)


def _union(graphs: list[SparseGraph], values: list[torch.Tensor], reduce: str, what: str) -> SparseGraph:
    """One graph over the union of the graphs' structures, ``values[g]`` on graph g's entries, entries stored by
    several graphs combined with ``reduce`` (``sum`` or ``max``)."""
    if not graphs:
        raise ValueError(f"{what} needs at least one graph")
    shape = graphs[0].shape
    if any(g.shape != shape for g in graphs):
        raise ValueError(f"{what}: graph shapes differ ({[g.shape for g in graphs]})")
    row = torch.cat([g.row for g in graphs])
    col = torch.cat([g.col for g in graphs])
    return SparseGraph.from_coo(row, col, torch.cat(values), shape, symmetric=all(g.symmetric for g in graphs),
                                reduce=reduce)


def weighted_sum(graphs: list[SparseGraph], weights: list[float | torch.Tensor] | torch.Tensor) -> SparseGraph:
    """Σ_g w_g A_g over the union of the graphs' structures, differentiable in edge values and in ``weights``."""
    return _union(graphs, [g.values * w for g, w in zip(graphs, weights)], "sum", "weighted_sum")


def elementwise_max(graphs: list[SparseGraph]) -> SparseGraph:
    """Max-pooling of graphs: on the union of their structures, each entry the largest value among the graphs
    that store it (an entry one graph lacks is not read as 0). SMORE's fusion of modality graphs."""
    return _union(graphs, [g.values for g in graphs], "max", "elementwise_max")


def padded_rows(graph: SparseGraph, width: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Each row's entries as ``(columns [n, width], values [n, width])``, padded with column 0 and value 0."""
    counts = graph.crow[1:] - graph.crow[:-1]
    width = int(counts.max()) if width is None and graph.nnz else int(width or 0)
    position = torch.arange(graph.nnz, device=graph.device) - graph.crow[:-1][graph.row]
    keep = position < width
    index = torch.zeros(graph.shape[0], width, dtype=torch.long, device=graph.device)
    values = torch.zeros(graph.shape[0], width, dtype=graph.values.dtype, device=graph.device)
    index[graph.row[keep], position[keep]] = graph.col[keep]
    values[graph.row[keep], position[keep]] = graph.values[keep]
    return index, values


def dense_rows(graph: SparseGraph, rows: torch.Tensor) -> torch.Tensor:
    """``A[rows]`` as a dense ``[len(rows), n_cols]`` tensor (a batch of rows, never the whole matrix)."""
    start, stop = graph.crow[rows], graph.crow[rows + 1]
    counts = stop - start
    owner = torch.repeat_interleave(torch.arange(rows.numel(), device=graph.device), counts)
    offsets = torch.cumsum(counts, 0) - counts
    entry = start[owner] + torch.arange(int(counts.sum()), device=graph.device) - offsets[owner]
    out = torch.zeros(rows.numel(), graph.shape[1], dtype=graph.values.dtype, device=graph.device)
    out[owner, graph.col[entry]] = graph.values[entry]
    return out
