"""MTL's multimodal topic learning (Pu et al.), as a pipeline of three stages with run dirs of their own.

``fit`` (``graphrec.topics.fit``): MMoE representation z, tag DeepWalk vector ē, k-means topic centres;
``assign`` (``graphrec.topics.assign``): τ₃ multi-assignment, topic ids as an item field of a dataset;
``report`` (``graphrec.topics.report``): the representation study, topic-queue recall, ranker table, figure.
Each stage reads the previous one's run dir as a declared input (``fit_dir``, ``assign_dir``).
"""

from graphrec.topics.assign import assign_topics
from graphrec.topics.fit import fit_topics
from graphrec.topics.report import report_topics

STAGES = {"fit": fit_topics, "assign": assign_topics, "report": report_topics}

__all__ = ["STAGES", "assign_topics", "fit_topics", "report_topics"]
