"""Skip-gram with negative sampling over walks (DeepWalk, Perozzi et al. 2014; word2vec's SGNS objective).

For every pair (t, c) of nodes at most ``window`` positions apart in a walk (both directions) and ``negatives``
nodes n drawn from the unigram distribution of the walks raised to 3/4,

    ℓ = −log σ(e_t · e′_c) − Σ_n log σ(−e_t · e′_n),

averaged over a batch of pairs; e (the input vectors) are the node embeddings returned, e′ the output ones.
Pairs are formed for a chunk of walks at a time (never all pairs of all walks at once); Adam.

The negatives of a batch are shared: ``shared_negatives`` nodes are drawn once per batch and every pair's
negative term is (negatives / shared_negatives) · Σ over them — the same expected loss as ``negatives``
draws per pair, computed by one [pairs × shared] product instead of a gather per pair (measured on KuaiRec's
tag walks, a step of 8 walks: 42 ms with a gather per pair of 5 negatives, 24 ms with 16 shared; 1 CPU thread).
"""

from __future__ import annotations

import torch
from torch import nn
from tqdm import tqdm

from graphrec.errors import ConfigError


def walk_pairs(walks: torch.Tensor, window: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(centre, context) pairs within ``window`` positions, both directions, skipping −1 padding."""
    centres, contexts = [], []
    for offset in range(1, window + 1):
        if offset >= walks.shape[1]:
            break
        a, b = walks[:, :-offset].reshape(-1), walks[:, offset:].reshape(-1)
        ok = (a >= 0) & (b >= 0)
        centres += [a[ok], b[ok]]
        contexts += [b[ok], a[ok]]
    if not centres:
        empty = walks.new_zeros(0)
        return empty, empty
    return torch.cat(centres), torch.cat(contexts)


def skipgram(walks: torch.Tensor, n_nodes: int, dim: int = 64, window: int = 5, negatives: int = 5,
             epochs: int = 1, lr: float = 0.01, walks_per_batch: int = 64, seed: int = 0,
             progress: bool = False, shared_negatives: int = 16) -> torch.Tensor:
    """Node embeddings ``[n_nodes, dim]`` (module doc); nodes never in a walk keep their small random start."""
    if window < 1 or negatives < 1 or epochs < 1:
        raise ConfigError(f"skip-gram: window, negatives and epochs must be at least 1 "
                          f"(got {window}, {negatives}, {epochs})")
    generator = torch.Generator().manual_seed(int(seed))
    device = walks.device
    emb_in = nn.Embedding(n_nodes, dim).to(device)
    emb_out = nn.Embedding(n_nodes, dim).to(device)
    with torch.no_grad():
        emb_in.weight.copy_((torch.rand(n_nodes, dim, generator=generator) - 0.5) / dim)
        emb_out.weight.zero_()
    seen = walks[walks >= 0]
    freq = torch.bincount(seen, minlength=n_nodes).double().pow(0.75)
    if freq.sum() == 0:
        return emb_in.weight.detach()
    noise = (freq / freq.sum()).cpu()
    opt = torch.optim.Adam([*emb_in.parameters(), *emb_out.parameters()], lr=lr)
    chunks = range(0, walks.shape[0], walks_per_batch)
    for _ in range(epochs):
        order = torch.randperm(walks.shape[0], generator=generator).to(device)
        for start in tqdm(chunks, desc="skip-gram", disable=not progress, leave=False):
            centre, context = walk_pairs(walks[order[start:start + walks_per_batch]], window)
            if centre.numel() == 0:
                continue
            neg = torch.multinomial(noise, shared_negatives, replacement=True, generator=generator).to(device)
            e = emb_in(centre)
            pos = (e * emb_out(context)).sum(-1)
            negs = e @ emb_out(neg).T  # [pairs, shared]
            loss = -(nn.functional.logsigmoid(pos)
                     + nn.functional.logsigmoid(-negs).sum(-1) * (negatives / shared_negatives)).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return emb_in.weight.detach()
