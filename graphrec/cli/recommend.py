"""``graphrec recommend checkpoint=<path> users=[..] k=<k>``: top-k lists of a ranking run."""

from __future__ import annotations

import json

from graphrec.cli.args import fail, kv_args


def main(argv: list[str]) -> None:
    from graphrec.inference import load_run, recommend

    args = kv_args(argv, {"checkpoint", "users", "k", "format", "exclude", "device"}, {"checkpoint", "users"})
    users = args["users"] if isinstance(args["users"], list) else [args["users"]]
    if not all(isinstance(u, int) for u in users):
        fail("users: expected a list of integer user ids, e.g. users=[0,5]")
    k = args.get("k", 10)
    if not isinstance(k, int) or isinstance(k, bool):
        fail(f"k: expected a positive integer, got '{k}'")
    fmt = args.get("format", "text")
    if fmt not in ("text", "json"):
        fail(f"format: expected 'text' or 'json', got '{fmt}'")
    exp = load_run(args["checkpoint"], args.get("device"))
    recs = recommend(exp, users, k, args.get("exclude", "train"))
    if fmt == "json":
        print(json.dumps(recs))
    else:
        for r in recs:  # raw ids beside the toolkit's where the dataset has them
            user = f"user {r['user']}" + (f" [raw {r['raw_user']}]" if "raw_user" in r else "")
            items = [f"{i} [raw {raw}]" for i, raw in zip(r["items"], r["raw_items"])] if "raw_items" in r \
                else [str(i) for i in r["items"]]
            print(f"{user}: " + ", ".join(items))
