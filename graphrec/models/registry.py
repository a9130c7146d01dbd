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
from omegaconf import OmegaConf

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


def construct(cls: type, params: dict, n_users: int, n_items: int, features: dict | None = None,
              where: str = "model", extra: dict | None = None):
    """``cls(n_users, n_items, **params)``, with ``features`` passed when the constructor takes them; an unknown
    parameter is a ConfigError naming ``<where>.<param>``. ``extra`` holds arguments the caller computed (not
    checked against the config)."""
    signature = inspect.signature(cls.__init__).parameters
    unknown = [k for k in params if k not in signature]
    if unknown:
        own = [p for p in signature if p not in ("self", "n_users", "n_items", "features", "item_field_data")]
        raise ConfigError(f"{where}.{unknown[0]}: not a parameter of {cls.__name__} (parameters: {', '.join(own)})")
    kwargs = {**params, **(extra or {})}
    if "features" in signature:
        kwargs["features"] = features or {}
    return cls(n_users=n_users, n_items=n_items, **kwargs)


def build_registered(name: str, n_users: int, n_items: int, features: dict | None = None,
                     overrides: dict | None = None, where: str = "model"):
    """The registered model ``name`` with its ``conf/model/<name>.yaml`` defaults and ``overrides`` on top (for
    models that wrap another, e.g. DA-MRS's backbone)."""
    models = registered_models()
    if name not in models:
        raise ConfigError(f"{where}: unknown model '{name}' (choose from {', '.join(models)})")
    raw = OmegaConf.to_container(OmegaConf.load(models[name].config.path), resolve=True)
    body = raw.get("model", raw) if isinstance(raw, dict) else {}
    params = {k: v for k, v in body.items() if k not in ("_target_", "name", "defaults")}
    params.update(overrides or {})
    return construct(models[name].cls, params, n_users, n_items, features, where=f"{where}_args")


def models_under(eval_preset: str) -> list[str]:
    """The models whose config selects ``eval=<eval_preset>`` (``default``: full ranking; ``iris``: leave-one-out;
    ``ctr``: click-through), in name order."""
    return [n for n, m in registered_models().items() if m.config.eval_preset == eval_preset]


def full_ranking_models() -> list[str]:
    """The user–item ranking models that train under the default protocol (full ranking): the model table's."""
    return [n for n in models_under("default") if registered_models()[n].family == "ranking"]
