"""Importers from published dataset layouts to the canonical dataset. Each module has
``load(source: Path, name: str, features: dict[str, str] | None) -> Dataset``."""

from graphrec.data.formats import diffmm, impressions, kuairec_captions, mmgcn, mmrec, movielens, recbole

FORMATS = {"diffmm": diffmm.load, "mmgcn": mmgcn.load, "mmrec": mmrec.load, "movielens": movielens.load,
           "kuairand": impressions.load_kuairand, "microvideo": impressions.load_microvideo,
           "kuairec-captions": kuairec_captions.load, "recbole": recbole.load}
