"""The ``graphrec`` command: one module per verb (``graphrec.cli.<module>.main(argv)``), listed in ``VERBS``.

The overview (``graphrec --help``) and each verb's ``--help`` are generated from that table. ``train`` and
``topics`` are Hydra apps; the other verbs take ``key=value`` arguments (``data`` its own options). User errors
print one line and exit with status 2.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import textwrap
import warnings
from dataclasses import dataclass

from graphrec.cli.args import fail
from graphrec.errors import GraphrecError


@dataclass(frozen=True)
class Verb:
    """A command: its module, the lines of the overview (``(arguments, what it does)``) and its own ``--help``
    (``None``: the verb answers ``--help`` itself, as Hydra and argparse do)."""

    module: str
    synopsis: tuple[tuple[str, str], ...]
    help: str | None = None
    chatty: bool = False  # logs each stage at INFO (the other verbs print their answer and warnings only)


def graph_kinds() -> str:
    """The graph builders' names, from their registry (the one list every usage text shows)."""
    from graphrec.graphs.store import BUILDERS

    return ", ".join(BUILDERS)


def dataset_formats() -> str:
    """The importers' names, from their registry."""
    from graphrec.data.formats import FORMATS

    return ", ".join(FORMATS)


VERBS: dict[str, Verb] = {
    "train": Verb("train", (
        ("[overrides]", "train a model (Hydra: model=, dataset=, trainer.*, eval.*, logger=, -m)"),), chatty=True),
    "evaluate": Verb("evaluate", (
        ("checkpoint=<path> [format=json]", "re-evaluate a saved run on its dataset and split"),),
        "usage: graphrec evaluate checkpoint=<run dir or .pt> [device=cpu|cuda] [format=text|json]\n"
        "re-evaluates a saved run on its dataset, split and graphs (the dataset must be the one it was trained on); "
        "under torchrun -m graphrec evaluate the user blocks are sharded over the ranks"),
    "recommend": Verb("recommend", (
        ("checkpoint=<path> users=[..] k=<k> [format=json] [exclude=none|train|train+valid|all]", "top-k lists"),),
        "usage: graphrec recommend checkpoint=<run dir or .pt> users=[0,5] [k=10] [format=text|json] "
        "[exclude=none|train|train+valid|all] [device=cpu|cuda]"),
    "data": Verb("data", (
        ("prepare <format> <source> --name <name>", "import a dataset (formats: {formats})"),
        ("list | data info <name>", "prepared datasets in $GRAPHREC_DATA"))),
    "viz": Verb("viz", (
        ("intents checkpoint=<path>", "items drawn by learned intents (PCA, top-level colours) -> PNG"),
        ("scores checkpoint=<path> users=[..]", "per-user score distributions with learned boundaries -> PNG"),
        ("groups checkpoint=<path> [users=[..]]", "MTIN interest-group attention over time + mask decay -> PNG"),
        ("curves checkpoint=<path>", "learning curves (loss terms, validation metrics, best epoch) -> PNG")),
        "usage: graphrec viz intents|scores|groups|curves checkpoint=<run dir or .pt> [users=[0,1]] [out=<png>]"),
    "report": Verb("report", (
        ("<multirun or outputs dir> [out=<dir>]", "one table of the runs (seeds aggregated, valid-best ★), PNG"),),
        "usage: graphrec report <multirun or outputs dir> [out=<dir>]"),
    "export": Verb("export", (
        ("checkpoint=<path> out=<dir> [max_k=100]", "a self-contained, checksummed artefact for serving"),),
        "usage: graphrec export checkpoint=<run dir or .pt> out=<dir> [max_k=100] [overwrite=true] [device=cpu]"),
    "serve": Verb("serve", (
        ("export=<dir> [host=127.0.0.1] [port=8000] [index=exact|flat|hnsw]", "HTTP top-K service ([serve] extra)"),),
        "usage: graphrec serve export=<dir> [host=127.0.0.1] [port=8000] [index=exact|flat|hnsw] [ef_search=128]"),
    "topics": Verb("topics", (
        ("fit|assign|report [overrides]", "MTL topic pipeline: MMoE + tag DeepWalk + k-means -> topic ids, topic "
                                          "queues, representation / ranker tables (Hydra, conf/topics.yaml)"),),
        "usage: graphrec topics fit|assign|report [overrides]\nMTL's topic pipeline (conf/topics.yaml): fit "
        "dataset=<name>; assign fit_dir=<fit run> [tau3=auto|<distance>] [dataset_name=<new dataset>]; "
        "report fit_dir=<fit run> [assign_dir=<assign run>] [rankers=[<train runs>]]", chatty=True),
    "graphs": Verb("graphs", (
        ("info dataset=<name> graph=<kind> [graph.<param>=<v>]", "build one graph, print its statistics "
                                                                  "(kinds: {kinds})"),),
        "usage: graphrec graphs info dataset=<name> graph=<kind> [graph.<param>=<value> ...] "
        "[eval.split=...] [graph_cache=false]\nkinds: {kinds}"),
}


def _filled(text: str) -> str:
    return text.format(kinds=graph_kinds(), formats=dataset_formats()) if "{" in text else text


def usage(column: int = 40, width: int = 118) -> str:
    """The overview: each form of each verb, its description beside it from ``column`` on (below it when the
    form is longer), wrapped at ``width``."""
    lines = ["usage: graphrec <command> [args]", "", "commands:"]
    for name, verb in VERBS.items():
        for form, what in verb.synopsis:
            head = f"  {name} {form}"
            if len(head) >= column:
                lines.append(head)
                head = ""
            lines.append(textwrap.fill(_filled(what), width, initial_indent=f"{head:<{column}} ",
                                       subsequent_indent=" " * (column + 1), break_on_hyphens=False))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        _main(argv)
        sys.stdout.flush()  # here, so a closed pipe (graphrec --help | head) is caught below
    except BrokenPipeError:  # the reader stopped reading: nothing more to say, no traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _main(argv: list[str]) -> None:
    if not argv:
        print(usage(), file=sys.stderr)
        sys.exit(2)
    if argv[0] in ("-h", "--help", "help"):
        print(usage())
        return
    name, rest = argv[0], argv[1:]
    verb = VERBS.get(name)
    if verb is None:
        fail(f"unknown command '{name}' (choose from {', '.join(VERBS)})")
    if verb.help is not None and any(a in ("-h", "--help") for a in rest):
        print(_filled(verb.help))
        return
    logging.basicConfig(level=logging.INFO if verb.chatty else logging.WARNING, format="%(message)s")
    warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
    warnings.filterwarnings("ignore", message="Sparse invariant checks are implicitly disabled")
    try:
        importlib.import_module(f"graphrec.cli.{verb.module}").main(rest)
    except GraphrecError as exc:
        fail(str(exc))


if __name__ == "__main__":
    main()
