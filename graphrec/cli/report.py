"""``graphrec report <multirun or outputs dir> [out=<dir>]``: one table of the runs."""

from __future__ import annotations

from graphrec.cli.args import fail, kv_args


def main(argv: list[str]) -> None:
    from graphrec.report import write_report

    if not argv or "=" in argv[0]:
        fail("report: expected a multirun or outputs dir first (graphrec report --help)")
    args = kv_args(argv[1:], {"out"}, set())
    write_report(argv[0], args.get("out"))
