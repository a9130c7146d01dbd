"""Multimodal IRIS: interest-related item similarity with multi-view subspace coding (Liu, "Implicit
semantic-based personalized micro-videos recommendation").

What is implemented, by the paper's equations:
- **Multi-view subspace coding** (eq. 1–4): every item n has a free latent code h_n ∈ R^D (a parameter, as in
  the multi-view "degradation" networks the paper follows: H is learned, not encoded from X) that reconstructs
  each modality v through its own network u_n^(v) = f_v(h_n); the reconstruction loss Σ_v ‖U^(v) − X^(v)‖²
  (eq. 3) is added with weight ``recon_weight``. f_v is eq. 4 stacked: Linear → tanh → Linear (the paper says
  "multilayer perceptual neural networks"); targets X^(v) are the item features standardised per column over
  all items (features are item side information, no interaction reaches them), so modalities of different
  scales weigh alike; the loss is the mean over items and dimensions, summed over modalities.
- **Feature filtering** (eq. 5–10): a modality that is a per-item probability or membership vector (scene /
  action class probabilities in the paper, the genre vector of MovieLens here) is kept whole, not reduced to its
  argmax (eq. 6, 9). Rows are normalised to sum to 1 (a genre distribution). Which modalities are such vectors
  is declared by the dataset (its importer: MovieLens declares ``genre``; ``Dataset.probability_modalities``)
  or named in ``probability_modalities``, never guessed from the values (min-max-scaled image features also lie
  in [0, 1]). They enter the predictor as real-valued FM features: field vector e_f(i) = Σ_k f_ik V_k.
- **Interest-related network and product similarity** (the NAIS-style part, Fig. 2): item i's target vector is
  the sum of its fields q̂_i = Q_i + V_h h_i + Σ_f e_f(i); a history item's vector is p̂_j = P_j + V_h h_j +
  Σ_f e_f(j) (the content fields are shared, so content links items a user has seen to ones they have not);
  attention a_ij = wᵀ ReLU(W(p̂_j ⊙ q̂_i) + b) with the smoothed softmax of exponent β (NAIS eq. 6–7), the target
  removed from its own history; the user-history field is e_hist(i) = Σ_j w_ij p̂_j.
- **FM preference predictor** (eq. 11–12) over the fields {user history, item id, latent h, each filtered
  modality}: ŷ = w₀ + b_i + w_hᵀh_i + Σ_f w_fᵀf_i + Σ_{f<g} ⟨e_f, e_g⟩ + Σ_f Σ_{k<l} x_fk x_fl ⟨V_fk, V_fl⟩.
  The last sum is eq. 11's pairs of features within one content field (genre × genre, and the latent code's
  dimensions among themselves), ½(‖Σ_k x_k V_k‖² − Σ_k x_k² ‖V_k‖²) per field (``within_field_pairs``).
  **Deviation, measured**: they are off by default. On ML-100K (seed 0, the preset, same sitting) validation
  NDCG@10 was 0.5650 without them and 0.5637 with them (test NDCG@10 0.5407 / 0.5423): equal within noise, so
  validation keeps the field-level FM; ``model.within_field_pairs=true`` is eq. 11 as printed.
  The history's cross terms sum to ⟨e_hist, q̂_i⟩ = Σ_j w_ij ⟨p̂_j, q̂_i⟩, so the history never has to be pooled
  per target; the other pairs are the FM of the item fields (``graphrec.models.layers.fm``). Pairs of
  history items among themselves are not eq. 11's (the history is the NAIS part, not a feature of x). Trained
  with the log loss on a positive and K sampled negatives (the paper's §4.3 protocol, NAIS eq. 9).

Choices where the paper is silent (it gives no layer sizes, field layout or training details):
- the FM fields are the four above, each a d-vector; no user-id field (the user is their history, as in FISM /
  NAIS, which IRIS builds on);
- no GBDT: the paper merges "high-impact features extracted by GBDT"; no trees here, the filtered features and
  the latent code enter the FM directly;
- sizes d = 16 (NAIS' size), D = 32, decoder hidden 64, β = 0.5 and λ as NAIS, not tuned;
  ``recon_weight`` 0.1 over 1.0, λ 1e-7 over 1e-5 and no FISM pre-training over ``pretrained_fism`` (equal
  within noise) on ML-100K validation (``benchmarks/README.md``);
- the latent codes and decoders train jointly with the ranker (one loss), not in a separate stage;
- ``pretrained_fism`` (optional) starts P, Q and b_i from a FISM checkpoint, as NAIS does.
- regularisation (the paper names none): λ‖P‖² + λ‖Q‖² on the item-id tables and η on the attention network
  (NAIS' λ and η); the biases, the latent codes H and decoders (held by the reconstruction loss), V_h, w_h,
  V_f and w_f are not regularised.

Ablation switches: ``subspace=false`` replaces h by a linear projection of the standardised, concatenated
features (the "direct fusion" the paper's Image-add-Text IRIS stands for, no reconstruction loss);
``attention=mean`` pools the history uniformly; ``predictor=dot`` drops the FM's item-field pairs and linear
content weights (ŷ = ⟨e_hist, q̂_i⟩ + b_i); ``dataset.modalities=[...]`` picks modality subsets.
"""

from __future__ import annotations

import torch
from torch import nn

from graphrec.errors import ConfigError
from graphrec.models.layers.fm import fm_pairwise
from graphrec.models.layers.history import segment_sum
from graphrec.models.layers.item_attention import ItemAttention
from graphrec.models.item_based.recommender import ItemBasedRecommender

PREDICTORS = ("fm", "dot")


class IRIS(ItemBasedRecommender):
    def __init__(self, n_users: int, n_items: int, features: dict[str, torch.Tensor], embedding_dim: int = 16,
                 latent_dim: int = 32, decoder_hidden: int = 64, attention_size: int = 16, attention: str = "prod",
                 beta: float = 0.5, subspace: bool = True, predictor: str = "fm",
                 probability_modalities: list[str] | None = None, within_field_pairs: bool = False,
                 recon_weight: float = 0.1,
                 reg_weight: float = 1e-7, attention_reg_weight: float = 1e-5, n_negatives: int = 4,
                 max_elements: int = 4_000_000):
        super().__init__(n_users, n_items, n_negatives, max_elements)
        if predictor not in PREDICTORS:
            raise ConfigError(f"model.predictor: expected one of {', '.join(PREDICTORS)}, got '{predictor}'")
        modalities = self.register_features(features)
        unknown = [m for m in probability_modalities or [] if m not in modalities]
        if unknown:
            raise ConfigError(f"model.probability_modalities: {unknown} not among the dataset's modalities "
                              f"{modalities}")
        self.filtered = sorted(probability_modalities or [])  # None (no dataset at hand): none
        self.subspace, self.predictor = bool(subspace), predictor
        self.within_field_pairs = bool(within_field_pairs)
        self.recon_weight, self.reg = float(recon_weight), (float(reg_weight), float(attention_reg_weight))
        d = embedding_dim
        for m in modalities:
            x = self.feature(m)
            std = x.std(0, keepdim=True)
            self.register_buffer(f"target_{m}", (x - x.mean(0, keepdim=True)) / torch.where(std > 0, std, 1.0),
                                 persistent=False)
        for m in self.filtered:
            x = self.feature(m)
            self.register_buffer(f"filtered_{m}", x / x.sum(1, keepdim=True).clamp_min(1e-12), persistent=False)
        self.P = nn.Parameter(torch.randn(n_items, d) * 0.01)  # history-item ids
        self.Q = nn.Parameter(torch.randn(n_items, d) * 0.01)  # target-item ids
        self.item_bias = nn.Parameter(torch.zeros(n_items))
        self.global_bias = nn.Parameter(torch.zeros(()))
        if self.subspace:
            self.latent = nn.Parameter(torch.randn(n_items, latent_dim) * 0.1)  # H
            self.decoders = nn.ModuleDict({m: nn.Sequential(nn.Linear(latent_dim, decoder_hidden), nn.Tanh(),
                                                            nn.Linear(decoder_hidden, self.feature(m).shape[1]))
                                           for m in modalities})
            content_in = latent_dim
        else:
            content_in = sum(self.feature(m).shape[1] for m in modalities)
        self.content = nn.Linear(content_in, d, bias=False)  # V_h: latent (or raw fused) features → field vector
        self.content_linear = nn.Linear(content_in, 1, bias=False)  # w_h
        nn.init.normal_(self.content.weight, std=0.01)
        nn.init.zeros_(self.content_linear.weight)
        self.filter_factors = nn.ParameterDict({m: nn.Parameter(torch.randn(self.feature(m).shape[1], d) * 0.01)
                                                for m in self.filtered})  # V_f
        self.filter_linear = nn.ParameterDict({m: nn.Parameter(torch.zeros(self.feature(m).shape[1]))
                                               for m in self.filtered})  # w_f
        self.attention = ItemAttention(d, attention_size, attention, beta)

    # ------------------------------------------------------------------ item fields
    def _content_input(self) -> torch.Tensor:
        if self.subspace:
            return self.latent
        return torch.cat([getattr(self, f"target_{m}") for m in self.modalities], 1)

    def _field_inputs(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(feature values x [n_items, n], factors V [n, d]) of each content field."""
        return [(self._content_input(), self.content.weight.T)] + \
            [(getattr(self, f"filtered_{m}"), self.filter_factors[m]) for m in self.filtered]

    def item_fields(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Every item's content fields [n_items, F, d] (latent or fused, then each filtered modality) and
        their item-only terms [n_items]: the linear weights, plus eq. 11's pairs within each field."""
        x = self._content_input()
        fields = [self.content(x)]
        linear = self.content_linear(x).squeeze(-1)
        for m in self.filtered:
            f = getattr(self, f"filtered_{m}")
            fields.append(f @ self.filter_factors[m])
            linear = linear + f @ self.filter_linear[m]
        if self.within_field_pairs:
            for (values, factors), field in zip(self._field_inputs(), fields):
                # Σ_{k<l} x_k x_l ⟨V_k, V_l⟩ = ½(‖Σ_k x_k V_k‖² − Σ_k x_k² ‖V_k‖²)
                linear = linear + 0.5 * (field.pow(2).sum(1) - values.pow(2) @ factors.pow(2).sum(1))
        return torch.stack(fields, 1), linear

    # ------------------------------------------------------------------ scores
    def score_rows(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        fields, linear = self.item_fields()
        content = fields.sum(1)  # Σ of the content fields per item [n_items, d]
        hist = self.history.rows(users, items)
        p = self.P[hist.item] + content[hist.item]  # p̂_j  [E, d]
        q = self.Q[items] + content[items]  # q̂_i  [G, T, d]
        pq = p.unsqueeze(1) * q[hist.row]  # [E, T, d]
        w = self.attention.weights(hist, p, q, pq)
        out = segment_sum(w * pq.sum(-1), hist.row, hist.n_rows) + self.item_bias[items]  # ⟨e_hist, q̂_i⟩ + b_i
        if self.predictor == "fm":
            item_fields = torch.cat([self.Q[items].unsqueeze(-2), fields[items]], -2)  # id, content fields
            out = out + fm_pairwise(item_fields) + linear[items] + self.global_bias
        return out

    # ------------------------------------------------------------------ losses
    def reconstruction(self) -> torch.Tensor:
        """eq. 3: Σ_v mean ‖f_v(h_n) − X̃_n^(v)‖² over items and dimensions."""
        return sum(nn.functional.mse_loss(self.decoders[m](self.latent), getattr(self, f"target_{m}"))
                   for m in self.modalities)

    def regularization(self) -> torch.Tensor:
        lam, eta = self.reg
        return lam * (self.P.pow(2).sum() + self.Q.pow(2).sum()) + eta * self.attention.penalty()

    def loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        out = super().loss(batch)
        if self.subspace and self.recon_weight:
            out["recon"] = self.recon_weight * self.reconstruction()
        return out
