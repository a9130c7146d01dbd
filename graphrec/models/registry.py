"""The models the toolkit has: each ``conf/model/<name>.yaml`` (``graphrec.configs.model_configs``), its class,
the family it belongs to (``ranking``, ``item_based``, ``ctr``: the sub-package of ``graphrec.models``) and the task
it serves (``Recommender.task``).

``resolve_model_class`` also reads ``_target_`` paths of the flat layout before models were grouped by family
(``graphrec.models.lightgcn.LightGCN``), so checkpoints and configs saved before the move still build.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from functools import cache

from hydra.utils import get_class

from graphrec.configs import ModelConfig, model_configs
from graphrec.errors import ConfigError

FAMILIES = ("ranking", "item_based", "ctr")

# module of the flat layout (until 2026-12-07) -> its module now, under graphrec.models
MOVED = {
    "a2bm2gl": "ranking.a2bm2gl", "a2bm2gl_layers": "ranking.a2bm2gl_layers", "freedom": "ranking.freedom",
    "grcn": "ranking.grcn", "huign": "ranking.huign", "lattice": "ranking.lattice", "lightgcn": "ranking.lightgcn",
    "mf": "ranking.mf", "mmgcn": "ranking.mmgcn", "ncf": "ranking.ncf", "ngcf": "ranking.ngcf",
    "ultragcn": "ranking.ultragcn", "vbpr": "ranking.vbpr",
    "fism": "item_based.fism", "nais": "item_based.nais", "iris": "item_based.iris",
    "item_based": "item_based.recommender",
    "alpine": "ctr.alpine", "atrank": "ctr.atrank", "ctr_cf": "ctr.ctr_cf", "ctr_common": "ctr.common",
    "din": "ctr.din", "field_ctr": "ctr.field_ctr", "mtin": "ctr.mtin", "mtin_layers": "ctr.mtin_layers",
    "sequence_ctr": "ctr.sequence_ctr", "thacil": "ctr.thacil",
    "fm": "layers.fm", "history": "layers.history", "item_attention": "layers.item_attention",
    "itemgraph": "layers.itemgraph", "l2norm": "layers.l2norm",
}
_PREFIX = "graphrec.models."


def current_target(target: str) -> str:
    """``target`` with a module of the flat layout replaced by its module now (other paths unchanged)."""
    if target.startswith(_PREFIX):
        module, _, cls = target[len(_PREFIX):].rpartition(".")
        if module in MOVED:
            return f"{_PREFIX}{MOVED[module]}.{cls}"
    return target


def resolve_model_class(target: str) -> type:
    """The class a model config's ``_target_`` names; a ConfigError naming the field when it cannot be imported."""
    try:
        return get_class(current_target(target))
    except Exception:
        raise ConfigError(f"model._target_: cannot import '{target}'") from None


@dataclass(frozen=True)
class RegisteredModel:
    config: ModelConfig
    cls: type
    family: str   # ranking | item_based | ctr
    task: str     # the task it serves: ranking | ctr

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def uses_features(self) -> bool:
        """Whether it reads item features (a ``features`` parameter)."""
        return "features" in inspect.signature(self.cls.__init__).parameters


def family_of(cls: type) -> str:
    parts = cls.__module__.split(".")
    family = parts[2] if len(parts) > 3 and parts[:2] == ["graphrec", "models"] else ""
    return family if family in FAMILIES else "other"


@cache
def registered_models() -> dict[str, RegisteredModel]:
    """Every ``conf/model/*.yaml`` with its class, family and task, by ``model=`` name."""
    out = {}
    for name, config in model_configs().items():
        cls = resolve_model_class(config.target)
        out[name] = RegisteredModel(config, cls, family_of(cls), str(getattr(cls, "task", "ranking")))
    return out


def models_under(eval_preset: str) -> list[str]:
    """The models whose config selects ``eval=<eval_preset>`` (``default``: full ranking; ``iris``: leave-one-out;
    ``ctr``: click-through), in name order."""
    return [n for n, m in registered_models().items() if m.config.eval_preset == eval_preset]


def full_ranking_models() -> list[str]:
    """The user–item ranking models that train under the default protocol (full ranking): the model table's."""
    return [n for n in models_under("default") if registered_models()[n].family == "ranking"]
