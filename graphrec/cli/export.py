"""``graphrec export checkpoint=<path> out=<dir> [max_k=100]``: a self-contained, checksummed serving artefact."""

from __future__ import annotations

from graphrec.cli.args import fail, kv_args


def main(argv: list[str]) -> None:
    from graphrec.serving.export import export_run

    args = kv_args(argv, {"checkpoint", "out", "max_k", "device", "overwrite"}, {"checkpoint", "out"})
    max_k = args.get("max_k", 100)
    if not isinstance(max_k, int) or isinstance(max_k, bool):
        fail(f"max_k: expected a positive integer, got '{max_k}'")
    out = export_run(args["checkpoint"], args["out"], max_k, args.get("device"), bool(args.get("overwrite", False)))
    print(f"exported to {out}")
