"""``graphrec data prepare | list | info``."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from graphrec.data.dataset import validate
from graphrec.data.storage import (data_root, dataset_dir, dataset_lock, list_datasets, read_meta,
                                   remove_stale_temporaries, write_dataset_locked)
from graphrec.data.formats import FORMATS
from graphrec.data.text_features import ENCODERS
from graphrec.errors import DataError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        print(f"graphrec data: error: {message}", file=sys.stderr)
        sys.exit(2)


def _parse_features(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        modality, sep, path = item.partition("=")
        if not sep or not modality or not path:
            raise DataError(f"--feature: expected MODALITY=PATH, got '{item}'")
        out[modality] = path
    return out


def prepare(fmt: str, source: str | Path, name: str, root: str | Path | None = None, overwrite: bool = False,
            features: dict[str, str] | None = None, text_encoder: str | None = None,
            click_threshold: float | None = None) -> Path:
    """Import ``source`` in ``fmt`` layout, validate it, and write it atomically as ``<root>/<name>``.

    ``text_encoder`` (movielens only): how item text becomes the ``textual`` modality (auto | minilm | tfidf).
    ``click_threshold`` (movielens only): the lowest rating whose impression counts as a click (default 4).
    """
    if fmt not in FORMATS:
        raise DataError(f"unknown format '{fmt}' (choose from {', '.join(sorted(FORMATS))})")
    for option, value in (("--text-encoder", text_encoder), ("--click-threshold", click_threshold)):
        if value is not None and fmt != "movielens":
            raise DataError(f"{option} applies to the movielens format only, not '{fmt}'")
    source = Path(source).expanduser()
    if not source.exists():
        raise DataError(f"{source}: source path does not exist")
    if dataset_dir(name, root, "--name").exists() and not overwrite:
        raise DataError(f"dataset '{name}' already exists in {data_root(root)} (pass --overwrite to replace it)")
    for modality, path in (features or {}).items():
        if not Path(path).is_file():
            raise DataError(f"{path}: feature file for '{modality}' not found")
    with dataset_lock(name, root):
        remove_stale_temporaries(root)
        options = {key: value for key, value in (("text_encoder", text_encoder), ("click_threshold", click_threshold))
                   if value is not None}
        ds = FORMATS[fmt](source, name, features, **options)
        ds = validate(ds, str(source))
        return write_dataset_locked(ds, root, overwrite=overwrite)


def main(argv: list[str]) -> None:
    parser = _Parser(prog="graphrec data")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare", help="import a dataset")
    p.add_argument("format", help=f"one of {', '.join(sorted(FORMATS))}")
    p.add_argument("source", help="source folder (or file)")
    p.add_argument("--name", required=True, help="name under the data root")
    p.add_argument("--root", default=None, help="data root (default $GRAPHREC_DATA or ~/.cache/graphrec)")
    p.add_argument("--feature", action="append", default=[], metavar="MODALITY=PATH",
                   help="extra feature file (.npy/.pt), e.g. --feature visual=image_feat.npy")
    p.add_argument("--text-encoder", default=None, choices=ENCODERS,
                   help="movielens: item text encoder for the 'textual' modality (default auto: MiniLM when the "
                        "'text' extra is installed, else TF-IDF + SVD)")
    p.add_argument("--click-threshold", type=float, default=None,
                   help="movielens: the lowest rating that counts as a click of its impression (default 4)")
    p.add_argument("--overwrite", action="store_true")
    ls = sub.add_parser("list", help="prepared datasets")
    ls.add_argument("--root", default=None)
    info = sub.add_parser("info", help="one dataset's metadata")
    info.add_argument("name")
    info.add_argument("--root", default=None)
    info.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.cmd == "prepare":
        start = time.perf_counter()
        path = prepare(args.format, args.source, args.name, args.root, args.overwrite, _parse_features(args.feature),
                       args.text_encoder, args.click_threshold)
        meta = read_meta(args.name, args.root)
        print(f"prepared '{args.name}' in {path} ({time.perf_counter() - start:.1f}s): {_summary(meta)}")
    elif args.cmd == "list":
        metas = list_datasets(args.root)
        if not metas:
            print(f"no prepared datasets in {data_root(args.root)}")
        for meta in metas:
            print(f"{meta['name']:<20} {_summary(meta)}")
    else:
        meta = read_meta(args.name, args.root)
        if args.json:
            print(json.dumps(meta, indent=2))
        else:
            print(f"{meta['name']}: {_summary(meta)}")
            print(f"  source: {json.dumps(meta.get('source', {}))}")
            print(f"  arrays: " + ", ".join(f"{k} {v['dtype']}{v['shape']}" for k, v in meta["arrays"].items()))


def _summary(meta: dict) -> str:
    parts = [f"{meta['n_users']:,} users", f"{meta['n_items']:,} items", f"{meta['n_interactions']:,} interactions"]
    if meta.get("split_counts"):
        c = meta["split_counts"]
        parts.append(f"split {c['train']:,}/{c['valid']:,}/{c['test']:,}")
    if meta.get("modalities"):
        parts.append("features " + ", ".join(f"{k} {v}-d" for k, v in meta["modalities"].items()))
    if meta.get("has_timestamps"):
        parts.append("timestamps")
    if meta.get("n_impressions"):
        parts.append(f"{meta['n_impressions']:,} impressions")
    return ", ".join(parts)
