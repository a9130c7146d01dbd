"""Serving a trained model: ``export`` (a self-contained, checksummed artefact), ``artefact`` (loading and
verifying it), ``index`` (exact and faiss top-K with exclusion) and ``app`` (the HTTP service)."""
