"""``graphrec topics fit``: MTL's topic learning (§III-A), from a dataset to topic centres, in four steps.

1. MMoE (``graphrec.topics.mmoe``) on the primary-class, secondary-class and tag tasks (eq. 1–2), trained on
   the items outside a held-out share (``heldout_share``, never seen by it; the representation study scores
   them), with ``valid_share`` of the rest for early stopping on the validation loss of eq. 2;
2. the tag co-occurrence graph (eq. 3, the graph layer's ``tag_cooccurrence``, cached), weighted DeepWalk
   walks (``graphrec.graphs.walks``) and skip-gram (``graphrec.topics.skipgram``); a video's tag vector is
   the mean of its tags' vectors (eq. 4), over the tags on some walk (a tag sharing no video with another has
   no co-occurrence edge, so no walk and no trained vector). A video without such tags (the paper's all have some; 43% of KuaiRec's
   have none) gets, with ``untagged: predicted``, the mean of the vectors of the ``predicted_tags`` tags the
   MMoE's tag tower ranks highest for it (``zero``: ē = 0, which splits the topic space into tagged and
   untagged videos: measured on the synthetic world with half the tags dropped, secondary-class NMI of
   [z ‖ ē] fell from 0.93 to 0.55);
3. the topic representation a = ℓ2([ℓ2(z) ‖ ℓ2(ē)]) (each part normalised first, so both "contribute the same
   amount for the distance metric", then the whole);
4. k-means of a over all items into K topics (``graphrec.topics.kmeans``, on the configured device).
Writes into the run dir: ``representations.npz`` (every representation, held-out mask, classes),
``centres.npy``, ``tag_embeddings.npy``, ``mmoe.pt`` (state dict, loadable with ``weights_only=True``) and
``results.json`` — the declared inputs of ``assign`` and ``report``.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from graphrec.atomic import atomic_write
from graphrec.data.storage import data_root, fingerprint
from graphrec.errors import ConfigError, DataError
from graphrec.experiment import load_configured_dataset, resolve_device
from graphrec.graphs.store import GraphSpec, GraphStore, TrainingGraphInput
from graphrec.graphs.walks import weighted_random_walks
from graphrec.topics.inputs import class_labels, content_inputs, usable_tags
from graphrec.topics.kmeans import kmeans
from graphrec.topics.mmoe import MMoE, task_loss
from graphrec.topics.skipgram import skipgram
from graphrec.checkpoints import save_checkpoint, write_json

log = logging.getLogger("graphrec")


def save_arrays(path: Path, **arrays: np.ndarray) -> None:
    """An ``.npz`` of plain arrays, written atomically."""
    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
    atomic_write(path, write)


class TaskTargets:
    """The 0/1 label matrices y^k of eq. 2 for a batch of items: two class tasks and the multi-label tags."""

    def __init__(self, primary: np.ndarray, secondary: np.ndarray, tag_item: np.ndarray, tag: np.ndarray,
                 n_items: int, n_tags: int):
        self.classes = [torch.from_numpy(primary), torch.from_numpy(secondary)]
        self.sizes = [int(max(primary.max(), 0)) + 1, int(max(secondary.max(), 0)) + 1, max(n_tags, 1)]
        order = np.lexsort((tag, tag_item))
        counts = np.bincount(tag_item, minlength=n_items)
        self.indptr = torch.from_numpy(np.concatenate([[0], np.cumsum(counts)]))
        self.tags = torch.from_numpy(tag[order])

    def __call__(self, idx: torch.Tensor) -> list[torch.Tensor]:
        out = []
        for labels, size in zip(self.classes, self.sizes[:2]):
            y = labels[idx]
            hot = torch.zeros(idx.numel(), size)
            known = y >= 0
            hot[known.nonzero(as_tuple=True)[0], y[known]] = 1.0
            out.append(hot)
        start, count = self.indptr[idx], self.indptr[idx + 1] - self.indptr[idx]
        rows = torch.repeat_interleave(torch.arange(idx.numel()), count)
        offsets = torch.arange(int(count.sum())) - torch.repeat_interleave(torch.cumsum(count, 0) - count, count)
        hot = torch.zeros(idx.numel(), self.sizes[2])
        hot[rows, self.tags[torch.repeat_interleave(start, count) + offsets]] = 1.0
        out.append(hot)
        return out


def _mmoe_loss(model: MMoE, inputs: dict[str, torch.Tensor], targets: TaskTargets, idx: torch.Tensor,
               device: torch.device) -> torch.Tensor:
    logits = model({m: x[idx].to(device) for m, x in inputs.items()})
    return sum(task_loss(lg, y.to(device)) for lg, y in zip(logits, targets(idx)))


def train_mmoe(inputs: dict[str, torch.Tensor], targets: TaskTargets, train: np.ndarray, valid: np.ndarray,
               mcfg: DictConfig, device: torch.device, seed: int) -> tuple[MMoE, dict]:
    """Adam on eq. 2 over ``train`` items, the epoch of least validation loss kept (patience ``patience``)."""
    torch.manual_seed(seed)
    model = MMoE({m: x.shape[1] for m, x in inputs.items()}, targets.sizes, int(mcfg.experts),
                 int(mcfg.adapter_dim), int(mcfg.expert_dim), int(mcfg.expert_hidden), int(mcfg.tower_hidden),
                 float(mcfg.dropout)).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=float(mcfg.lr))
    generator = torch.Generator().manual_seed(seed)
    train_t, valid_t = torch.from_numpy(train), torch.from_numpy(valid)
    best, best_state, best_epoch, curve, start = float("inf"), None, 0, [], time.perf_counter()
    for epoch in range(1, int(mcfg.epochs) + 1):
        model.train()
        order = train_t[torch.randperm(train_t.numel(), generator=generator)]
        total = 0.0
        for s in range(0, order.numel(), int(mcfg.batch_size)):
            loss = _mmoe_loss(model, inputs, targets, order[s:s + int(mcfg.batch_size)], device)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * min(int(mcfg.batch_size), order.numel() - s)
        model.eval()
        with torch.no_grad():
            v = float(np.mean([float(_mmoe_loss(model, inputs, targets, valid_t[s:s + 4096], device))
                               for s in range(0, valid_t.numel(), 4096)])) if valid_t.numel() else total
        curve.append({"epoch": epoch, "train_loss": total / max(order.numel(), 1), "valid_loss": v})
        log.info(f"mmoe epoch {epoch}: train loss {curve[-1]['train_loss']:.4f}, valid loss {v:.4f}")
        if v < best - 1e-4:
            best, best_epoch = v, epoch
            best_state = {k: t.detach().clone() for k, t in model.state_dict().items()}
        elif epoch - best_epoch >= int(mcfg.patience):
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return model, {"best_epoch": best_epoch, "epochs_run": len(curve), "valid_loss": best,
                   "train_s": time.perf_counter() - start, "curve": curve}


def tag_vectors(tag_emb: torch.Tensor, tag_item: np.ndarray, tag: np.ndarray, n_items: int,
                known: torch.Tensor) -> tuple[torch.Tensor, np.ndarray]:
    """(ē of eq. 4 per item — the mean of its ``known`` tags' vectors, 0 without any —, which items have one)."""
    keep = known.cpu().numpy()[tag]
    item_t, tag_t = torch.from_numpy(tag_item[keep]), torch.from_numpy(tag[keep])
    sums = torch.zeros(n_items, tag_emb.shape[1]).index_add_(0, item_t, tag_emb.cpu()[tag_t])
    counts = torch.bincount(item_t, minlength=n_items)
    return sums / counts.clamp_min(1)[:, None], (counts > 0).numpy()


def predicted_tag_vectors(mmoe: MMoE, inputs: dict[str, torch.Tensor], tag_emb: torch.Tensor, items: np.ndarray,
                          top: int, known: torch.Tensor, device: torch.device) -> torch.Tensor:
    """ē of ``items`` from the tag tower: the mean vector of each item's ``top`` highest-scored known tags."""
    out = []
    with torch.no_grad():
        for s in range(0, items.size, 4096):
            idx = torch.from_numpy(items[s:s + 4096])
            logits = mmoe({m: x[idx].to(device) for m, x in inputs.items()})[2].masked_fill(~known.to(device),
                                                                                           float("-inf"))
            best = logits.topk(min(top, logits.shape[1]), dim=1).indices.cpu()
            out.append(tag_emb.cpu()[best].mean(1))
    return torch.cat(out) if out else tag_emb.new_zeros(0, tag_emb.shape[1])


def topic_representation(z: torch.Tensor, e_bar: torch.Tensor) -> torch.Tensor:
    """a = ℓ2([ℓ2(z) ‖ ℓ2(ē)]) (module doc, step 3)."""
    normalize = torch.nn.functional.normalize
    return normalize(torch.cat([normalize(z, dim=1), normalize(e_bar, dim=1)], 1), dim=1)


def _item_split(n_items: int, heldout_share: float, valid_share: float, seed: int):
    if not (0.0 < heldout_share < 1.0 and 0.0 <= valid_share < 1.0):
        raise DataError(f"heldout_share / valid_share: need 0 < {heldout_share} < 1 and 0 ≤ {valid_share} < 1")
    perm = np.random.default_rng(seed).permutation(n_items)
    n_held = max(1, int(round(n_items * heldout_share)))
    rest = perm[n_held:]
    n_valid = int(round(rest.size * valid_share))
    return np.sort(perm[:n_held]), np.sort(rest[n_valid:]), np.sort(rest[:n_valid])


def fit_topics(cfg: DictConfig, run_dir: Path) -> dict:
    """Steps 1–4 of the module doc; returns (and writes) ``results.json``."""
    start = time.perf_counter()
    device = resolve_device(cfg.device)
    seed = int(cfg.seed)
    ds = load_configured_dataset(cfg.dataset, cfg.get("data_root"))
    log.info(f"dataset {ds.name}: {ds.n_items:,} items, {ds.tags['item'].size if ds.tags else 0:,} tag uses")
    icfg = cfg.inputs
    inputs, described = content_inputs(ds, list(icfg.text_fields or []), list(icfg.feature_modalities or []),
                                       str(icfg.text_encoder), int(icfg.text_dim))
    primary = class_labels(ds, cfg.classes.primary, "primary")
    secondary = class_labels(ds, cfg.classes.secondary, "secondary")
    tag_item, tag, n_tags, tag_rule = usable_tags(ds, str(cfg.tags), cfg.eval)
    log.info(f"inputs: {', '.join(f'{m} ({described[m]}, {x.shape[1]}-d)' for m, x in inputs.items())}; "
             f"tags: {tag_item.size:,} of {ds.tags['item'].size:,} uses ({tag_rule})")
    heldout, train, valid = _item_split(ds.n_items, float(cfg.heldout_share), float(cfg.mmoe.valid_share), seed)

    targets = TaskTargets(primary, secondary, tag_item, tag, ds.n_items, n_tags)
    mmoe, mmoe_info = train_mmoe(inputs, targets, train, valid, cfg.mmoe, device, seed)
    with torch.no_grad():
        z = torch.cat([mmoe.representation({m: x[s:s + 4096].to(device) for m, x in inputs.items()}).cpu()
                       for s in range(0, ds.n_items, 4096)])

    wcfg = cfg.deepwalk
    t0 = time.perf_counter()
    empty = torch.zeros(0, dtype=torch.long)
    graph_input = TrainingGraphInput(empty, empty, ds.n_users, ds.n_items, {}, torch.from_numpy(tag_item),
                                     torch.from_numpy(tag), n_tags)
    store = GraphStore(graph_input, data_root(cfg.get("data_root")) / ".graphs" if cfg.get("graph_cache", True)
                       else None)
    graph = store.get(GraphSpec("tag_cooccurrence")).to(device)
    degree = graph.crow[1:] - graph.crow[:-1]
    starts = torch.nonzero(degree > 0).squeeze(1).repeat(int(wcfg.walks_per_node))
    generator = torch.Generator().manual_seed(seed)
    walks = weighted_random_walks(graph, starts, int(wcfg.walk_length), generator)
    tag_emb = skipgram(walks, n_tags, int(wcfg.dim), int(wcfg.window), int(wcfg.negatives), int(wcfg.epochs),
                       float(wcfg.lr), int(wcfg.walks_per_batch), seed=seed, progress=bool(cfg.get("progress", False))).cpu()
    known = (degree > 0).cpu()  # a tag sharing no video with another is on no walk: its vector means nothing
    e_bar, has_tags = tag_vectors(tag_emb, tag_item, tag, ds.n_items, known)
    if str(cfg.untagged) == "predicted" and known.any():
        untagged = np.flatnonzero(~has_tags)
        e_bar[untagged] = predicted_tag_vectors(mmoe, inputs, tag_emb, untagged, int(cfg.predicted_tags), known,
                                                device)
    elif str(cfg.untagged) != "zero":
        raise ConfigError(f"untagged: expected 'predicted' or 'zero', got '{cfg.untagged}'")
    deepwalk_s = time.perf_counter() - t0
    log.info(f"deepwalk: {graph.nnz // 2:,} tag pairs, {starts.numel():,} walks of {int(wcfg.walk_length)}, "
             f"skip-gram {deepwalk_s:.1f} s")

    a = topic_representation(z, e_bar)
    t0 = time.perf_counter()
    k = int(cfg.kmeans.k)
    result = kmeans(a.to(device), k, int(cfg.kmeans.n_init), int(cfg.kmeans.iterations), seed)
    log.info(f"k-means: K {k}, inertia {result.inertia:.2f}, {result.iterations} iterations "
             f"({time.perf_counter() - t0:.1f} s)")

    heldout_mask = np.zeros(ds.n_items, bool)
    heldout_mask[heldout] = True
    save_arrays(run_dir / "representations.npz", z=z.numpy(), tag_vector=e_bar.numpy(), topic_vector=a.numpy(),
                heldout=heldout_mask, has_tags=has_tags, primary=primary, secondary=secondary,
                nearest_topic=result.labels.cpu().numpy(),
                **{f"input_{m}": x.numpy() for m, x in inputs.items()})
    save_arrays(run_dir / "centres.npz", centres=result.centres.cpu().numpy())
    save_arrays(run_dir / "tag_embeddings.npz", tag_embeddings=tag_emb.numpy())
    save_checkpoint({"model": mmoe.state_dict(), "sizes": targets.sizes}, run_dir / "mmoe.pt")
    results = {
        "stage": "fit", "dataset": ds.name, "dataset_fingerprint": fingerprint(ds), "seed": seed,
        "device": str(device), "n_items": ds.n_items, "inputs": described,
        "items": {"heldout": int(heldout.size), "train": int(train.size), "valid": int(valid.size)},
        "tags": {"rule": tag_rule, "untagged": str(cfg.untagged), "uses": int(tag_item.size), "n_tags": n_tags,
                 "items_with_tags": int(has_tags.sum()),
                 "tags_on_walks": int(known.sum())},
        "mmoe": {k_: v for k_, v in mmoe_info.items()},
        "deepwalk": {"tag_pairs": graph.nnz // 2, "walks": int(starts.numel()), "seconds": deepwalk_s},
        "kmeans": {"k": k, "inertia": result.inertia, "iterations": result.iterations},
        "total_s": time.perf_counter() - start,
        "config": OmegaConf.to_container(cfg, resolve=True),
    }
    write_json(results, run_dir / "results.json")
    return results
