"""MTL's multimodal topic learning (Pu et al.), as a pipeline of three stages with run dirs of their own.

``fit`` (``graphrec.topics.fit``): MMoE representation z, tag DeepWalk vector ē, k-means topic centres;
``assign`` (``graphrec.topics.assign``): τ₃ multi-assignment, topic ids as an item field of a dataset;
``report`` (``graphrec.topics.report``): the representation study, topic-queue recall, ranker table, figure.
Each stage reads the previous one's run dir as a declared input (``fit_dir``, ``assign_dir``).
"""

from pathlib import Path

from omegaconf import DictConfig

from graphrec.topics.assign import assign_topics
from graphrec.topics.fit import fit_topics
from graphrec.topics.report import report_topics
from graphrec.topics.settings import check_topics_config


def _checked(stage: str, run):
    """``run`` after ``check_topics_config`` (so library callers get the start-up checks too)."""

    def checked(cfg: DictConfig, run_dir: Path) -> dict:
        check_topics_config(cfg, stage)
        return run(cfg, run_dir)

    return checked


STAGES = {stage: _checked(stage, run) for stage, run in
          (("fit", fit_topics), ("assign", assign_topics), ("report", report_topics))}

__all__ = ["STAGES", "assign_topics", "fit_topics", "report_topics"]
