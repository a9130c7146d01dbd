"""graphrec: a PyTorch Geometric toolkit for multimodal micro-video recommendation."""

__version__ = "0.1.0"
