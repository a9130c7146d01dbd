"""``graphrec topics fit|assign|report [overrides]``: one Hydra run of a stage of MTL's topic pipeline
(``conf/topics.yaml``); the config is composed and checked before any run dir exists."""

from __future__ import annotations

import sys
from pathlib import Path

from graphrec.cli.args import fail, one_line
from graphrec.cli.hydra_app import register_resolvers, remove_run_dir
from graphrec.configs import conf_dir
from graphrec.errors import GraphrecError


TOPIC_STAGES = ("fit", "assign", "report")


def main(argv: list[str]) -> None:
    """``graphrec topics <stage> [overrides]``: one Hydra run of a pipeline stage (``graphrec.topics``)."""
    if not argv or argv[0] not in TOPIC_STAGES:
        fail("usage: graphrec topics fit|assign|report [overrides] (see conf/topics.yaml)")
    import hydra
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import DictConfig

    from graphrec.topics import STAGES

    stage, rest = argv[0], argv[1:]
    if any(a.startswith("stage=") for a in rest):
        fail("stage is set by the command (graphrec topics fit|assign|report)")

    @hydra.main(config_path=conf_dir(), config_name="topics", version_base="1.3")
    def task(cfg: DictConfig) -> None:
        run_dir = Path(HydraConfig.get().runtime.output_dir)
        try:
            STAGES[stage](cfg, run_dir)
        except GraphrecError as exc:
            if not (run_dir / "results.json").exists():
                remove_run_dir(run_dir)
            fail(str(exc))
        print(f"run dir: {run_dir}")

    if not any(a in ("-h", "--help", "--hydra-help", "--info", "-i", "--cfg", "-c", "-m", "--multirun") for a in rest):
        from hydra import compose, initialize_config_dir

        from graphrec.topics.settings import check_topics_config

        with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
            try:  # a bad override is one line before any run dir exists
                composed = compose("topics", overrides=[f"stage={stage}", *rest])
            except Exception as exc:
                fail(one_line(exc))
        check_topics_config(composed, stage)  # and so is a bad value or a missing input
    sys.argv = [f"{sys.argv[0]} topics {stage}", f"stage={stage}"] + rest
    register_resolvers()
    task()
