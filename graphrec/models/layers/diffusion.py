"""A Gaussian diffusion over users' interaction rows, as in DiffRec (Wang et al., SIGIR 2023) and DiffMM.

A user's training row x₀ ∈ {0, 1}^|I| is noised in T steps, q(x_t | x₀) = N(√ᾱ_t x₀, (1 − ᾱ_t) I), and a denoiser
f(x_t, t) predicts x₀ back:

- schedule: v_t = linspace(s·v_min, s·v_max, T) (s = ``noise_scale``), β₀ = v₀ and β_t = min(1 − (1 − v_t)/(1 − v_{t−1}),
  0.999), then β₀ fixed to 1e-4; α_t = 1 − β_t, ᾱ_t = Π_{k≤t} α_k (all in float64);
- training: t ~ U{0..T−1}, x_t = √ᾱ_t x₀ + √(1 − ᾱ_t) ε, loss w_t · mean_i (x₀ − f(x_t, t))², with the SNR weight
  w_t = SNR(t − 1) − SNR(t), SNR(t) = ᾱ_t / (1 − ᾱ_t), and w₀ = 1;
- generation (no noise): x ← x₀ (or q(x_{S−1} | x₀) when ``sampling_steps`` S > 0), then for t = T−1 … 0
  x ← c₁(t) f(x, t) + c₂(t) x, the posterior mean with c₁ = β_t √ᾱ_{t−1} / (1 − ᾱ_t), c₂ = (1 − ᾱ_{t−1}) √α_t / (1 − ᾱ_t).

``Denoiser`` is DiffRec's MLP: a sinusoidal embedding of t (``time_dim`` wide, one linear map), concatenated to x
(dropout on x in training), tanh layers out to |I|, the last linear.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class Denoiser(nn.Module):
    """f(x_t, t): [B, n] × [B] → [B, n] through ``hidden`` widths (tanh), the last layer linear."""

    def __init__(self, n: int, hidden: list[int], time_dim: int = 10, dropout: float = 0.5, normalize: bool = False):
        super().__init__()
        self.time_dim, self.normalize = int(time_dim), bool(normalize)
        self.time_layer = nn.Linear(self.time_dim, self.time_dim)
        widths = [n + self.time_dim, *hidden, n]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.dropout = nn.Dropout(dropout)
        for layer in [self.time_layer, *self.layers]:  # N(0, 2 / (fan_in + fan_out)), biases N(0, 1e-3²)
            nn.init.normal_(layer.weight, std=math.sqrt(2.0 / sum(layer.weight.shape)))
            nn.init.normal_(layer.bias, std=1e-3)

    def time_embedding(self, t: torch.Tensor) -> torch.Tensor:
        half = self.time_dim // 2
        freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
        angles = t.float().unsqueeze(1) * freqs
        emb = torch.cat([torch.cos(angles), torch.sin(angles)], dim=1)
        if self.time_dim % 2:
            emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=1)
        return self.time_layer(emb)

    def forward(self, x: torch.Tensor, t: torch.Tensor, input_dropout: bool = True) -> torch.Tensor:
        if self.normalize:
            x = F.normalize(x, dim=1)
        if input_dropout:
            x = self.dropout(x)
        h = torch.cat([x, self.time_embedding(t)], dim=1)
        for k, layer in enumerate(self.layers):
            h = layer(h)
            if k < len(self.layers) - 1:
                h = torch.tanh(h)
        return h


class GaussianDiffusion(nn.Module):
    """The schedule, the training loss and the noise-free generation of the module docstring."""

    def __init__(self, steps: int = 5, noise_scale: float = 0.1, noise_min: float = 1e-4, noise_max: float = 0.02):
        super().__init__()
        if steps < 1 or noise_scale <= 0:
            raise ValueError("a diffusion needs steps >= 1 and noise_scale > 0")
        self.steps = int(steps)
        variance = np.linspace(noise_scale * noise_min, noise_scale * noise_max, self.steps, dtype=np.float64)
        betas = [variance[0]] + [min(1 - (1 - variance[t]) / (1 - variance[t - 1]), 0.999) for t in range(1, self.steps)]
        betas = torch.tensor(betas, dtype=torch.float64)
        betas[0] = 1e-4
        alphas = 1.0 - betas
        bar = torch.cumprod(alphas, 0)
        bar_prev = torch.cat([torch.ones(1, dtype=torch.float64), bar[:-1]])
        schedule = {"alpha_bar": bar, "sqrt_alpha_bar": bar.sqrt(), "sqrt_one_minus_alpha_bar": (1 - bar).sqrt(),
                    "mean_coef_x0": betas * bar_prev.sqrt() / (1 - bar),
                    "mean_coef_xt": (1 - bar_prev) * alphas.sqrt() / (1 - bar)}
        for name, value in schedule.items():
            self.register_buffer(name, value, persistent=False)

    def _at(self, name: str, t: torch.Tensor) -> torch.Tensor:
        return getattr(self, name)[t].float().unsqueeze(1)

    def noised(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """x_t ~ q(x_t | x₀)."""
        noise = torch.randn_like(x0) if noise is None else noise
        return self._at("sqrt_alpha_bar", t) * x0 + self._at("sqrt_one_minus_alpha_bar", t) * noise

    def snr_weight(self, t: torch.Tensor) -> torch.Tensor:
        """w_t = SNR(t − 1) − SNR(t), and 1 at t = 0 [B]."""
        snr = self.alpha_bar / (1 - self.alpha_bar)
        return torch.where(t == 0, torch.ones_like(snr[t]), snr[(t - 1).clamp_min(0)] - snr[t]).float()

    def training_loss(self, denoiser: Denoiser, x0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(w_t · mean_i (x₀ − x̂₀)² per row [B], x̂₀ [B, n]) for a uniform t per row."""
        t = torch.randint(0, self.steps, (x0.shape[0],), device=x0.device)
        predicted = denoiser(self.noised(x0, t), t)
        return self.snr_weight(t) * (x0 - predicted).pow(2).mean(1), predicted

    @torch.no_grad()
    def generate(self, denoiser: Denoiser, x0: torch.Tensor, sampling_steps: int = 0) -> torch.Tensor:
        """The posterior-mean chain from x₀ (module docstring), no noise."""
        x = x0
        if sampling_steps > 0:
            x = self.noised(x0, torch.full((x0.shape[0],), sampling_steps - 1, device=x0.device))
        for step in reversed(range(self.steps)):
            t = torch.full((x.shape[0],), step, dtype=torch.long, device=x.device)
            x = self._at("mean_coef_x0", t) * denoiser(x, t, input_dropout=False) + self._at("mean_coef_xt", t) * x
        return x
