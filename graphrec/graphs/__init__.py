"""Sparse graphs and their builders (all from the training split only)."""

from graphrec.graphs.sparse import SparseGraph
from graphrec.graphs.store import GraphSpec, GraphStore

__all__ = ["SparseGraph", "GraphSpec", "GraphStore"]
