"""A multi-layer perceptron: the block the click-through models and the topic pipeline's MMoE share."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn


def mlp(sizes: Sequence[int], activation: type[nn.Module] = nn.PReLU) -> nn.Sequential:
    """Linear → activation between every pair of sizes, no activation after the last layer."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(activation())  # PReLU: one slope per layer (per-channel expects channels at dim 1)
    return nn.Sequential(*layers)
