"""The HTTP service of ``graphrec serve`` (FastAPI; the optional extra ``graphrec[serve]``).

- ``GET /recommend?user=<raw id>&k=10&exclude=none|train|train+valid|all`` and ``POST /recommend`` with
  ``{"users": [...], "k": 10, "exclude": "train"}`` (at most ``MAX_BATCH`` users): raw item ids, scores and
  item metadata, best first. A user the export does not know gets the popularity list (the most-interacted
  training items) with ``"fallback": "popularity"`` and no scores;
- ``GET /items/<raw id>``: an item's metadata (404 when unknown); ``GET /health``; ``GET /metrics``: request
  counts by path and status and a latency histogram, in Prometheus' text format.
Bad parameters are 400 (404 for an unknown item) with ``{"error": ..., "field": ...}``. The service reads only
the export it was started with: client input is parsed as ids and numbers, never as paths or code.
(No ``from __future__ import annotations`` here: FastAPI reads the handlers' annotations at definition time,
inside ``create_app``, where the optional fastapi names are in scope.)
"""


import threading
import time
from collections import defaultdict

from graphrec.serving.artefact import EXCLUDE, Artefact
from graphrec.serving.index import ExactIndex

MAX_BATCH = 1000
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class BadRequest(Exception):
    def __init__(self, field: str, message: str, status: int = 400):
        super().__init__(message)
        self.field, self.message, self.status = field, message, status


class Metrics:
    """Request counts and a latency histogram per path (thread-safe), rendered as Prometheus text."""

    def __init__(self):
        self.lock = threading.Lock()
        self.counts: dict[tuple[str, int], int] = defaultdict(int)
        self.hist: dict[str, list[int]] = defaultdict(lambda: [0] * (len(BUCKETS) + 1))
        self.sums: dict[str, float] = defaultdict(float)

    def observe(self, path: str, status: int, seconds: float) -> None:
        with self.lock:
            self.counts[(path, status)] += 1
            bucket = next((i for i, b in enumerate(BUCKETS) if seconds <= b), len(BUCKETS))
            self.hist[path][bucket] += 1
            self.sums[path] += seconds

    def render(self) -> str:
        lines = ["# TYPE graphrec_requests_total counter"]
        with self.lock:
            for (path, status), n in sorted(self.counts.items()):
                lines.append(f'graphrec_requests_total{{path="{path}",status="{status}"}} {n}')
            lines.append("# TYPE graphrec_request_seconds histogram")
            for path, counts in sorted(self.hist.items()):
                total = 0
                for bound, n in zip([*BUCKETS, float("inf")], counts):
                    total += n
                    le = "+Inf" if bound == float("inf") else f"{bound:g}"
                    lines.append(f'graphrec_request_seconds_bucket{{path="{path}",le="{le}"}} {total}')
                lines.append(f'graphrec_request_seconds_sum{{path="{path}"}} {self.sums[path]:.6f}')
                lines.append(f'graphrec_request_seconds_count{{path="{path}"}} {total}')
        return "\n".join(lines) + "\n"


def parse_k(value, limit: int) -> int:
    try:
        k = int(str(value))
    except ValueError:
        raise BadRequest("k", f"k must be an integer, got {str(value)[:40]!r}") from None
    if not 1 <= k <= limit:
        raise BadRequest("k", f"k must be between 1 and {limit}, got {k}")
    return k


def parse_exclude(value) -> str:
    if str(value) not in EXCLUDE:
        raise BadRequest("exclude", f"exclude must be one of {', '.join(EXCLUDE)}, got {str(value)[:40]!r}")
    return str(value)


class Recommender:
    """The service's logic, independent of the web framework: raw ids in, lists of raw ids out."""

    def __init__(self, art: Artefact, index: ExactIndex, index_name: str):
        self.art, self.index, self.index_name = art, index, index_name

    def _item(self, item: int, score: float | None) -> dict:
        return {"id": str(self.art.arrays["raw_item_id"][item]),
                "score": None if score is None else round(float(score), 6),
                **{k: v for k, v in self.art.item_metadata(item).items() if k != "raw_id"}}

    def recommend(self, raw_users: list[str], k, exclude) -> list[dict]:
        k, exclude = parse_k(k, self.index.max_k()), parse_exclude(exclude)
        known = [(r, self.art.user_index.get(str(r))) for r in raw_users]
        users = [u for _, u in known if u is not None]
        answers = iter(self.index.query(users, k, exclude)) if users else iter(())
        out = []
        for raw, user in known:
            if user is None:
                items = self.art.arrays["popularity"][:k]
                out.append({"user": str(raw), "fallback": "popularity",
                            "items": [self._item(int(i), None) for i in items]})
            else:
                items, scores = next(answers)
                out.append({"user": str(raw), "fallback": None,
                            "items": [self._item(int(i), s) for i, s in zip(items, scores)]})
        return out

    def item(self, raw_item: str) -> dict:
        item = self.art.item_index.get(str(raw_item))
        if item is None:
            raise BadRequest("item", f"unknown item id {str(raw_item)[:40]!r}", 404)
        return self.art.item_metadata(item)

    def health(self) -> dict:
        m = self.art.manifest
        return {"status": "ok", "model": m.get("model"), "dataset": m.get("dataset"), "kind": m["kind"],
                "index": self.index_name, "n_users": m["n_users"], "n_items": m["n_items"]}


def create_app(service: Recommender):
    """The FastAPI application over ``service``."""
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, PlainTextResponse

    app = FastAPI(title="graphrec", docs_url=None, redoc_url=None, openapi_url=None)
    metrics = Metrics()

    @app.middleware("http")
    async def observe(request: Request, call_next):
        start = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        metrics.observe(getattr(route, "path", "unmatched"), response.status_code, time.perf_counter() - start)
        return response

    @app.exception_handler(BadRequest)
    async def bad_request(_: Request, exc: BadRequest):
        return JSONResponse({"error": exc.message, "field": exc.field}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        loc = [str(x) for x in first.get("loc", []) if x not in ("body", "query")]
        return JSONResponse({"error": first.get("msg", "invalid request"), "field": ".".join(loc) or None},
                            status_code=400)

    @app.get("/recommend")
    def recommend_one(user: str | None = None, k: str = "10", exclude: str = "train"):
        if user is None or user == "":
            raise BadRequest("user", "user is required (a raw user id)")
        return service.recommend([user], k, exclude)[0]

    @app.post("/recommend")
    async def recommend_many(request: Request):
        try:
            body = await request.json()
        except ValueError:
            raise BadRequest("body", "expected a JSON object {\"users\": [...], \"k\": 10, \"exclude\": \"train\"}") \
                from None
        if not isinstance(body, dict) or not isinstance(body.get("users"), list) or not body["users"]:
            raise BadRequest("users", "users must be a non-empty list of raw user ids")
        if len(body["users"]) > MAX_BATCH:
            raise BadRequest("users", f"at most {MAX_BATCH} users per request, got {len(body['users'])}")
        if not all(isinstance(u, (str, int)) and not isinstance(u, bool) for u in body["users"]):
            raise BadRequest("users", "users must be strings or integers")
        return {"results": service.recommend([str(u) for u in body["users"]], body.get("k", 10),
                                             body.get("exclude", "train"))}

    @app.get("/items/{raw_id}")
    def item(raw_id: str):
        return service.item(raw_id)

    @app.get("/health")
    def health():
        return service.health()

    @app.get("/metrics")
    def prometheus():
        return PlainTextResponse(metrics.render())

    return app


def service_from_export(path, index: str = "exact", ef_search: int = 128) -> Recommender:
    """Load and verify an export and build its index."""
    from graphrec.serving.index import build_index

    art = Artefact.load(path)
    return Recommender(art, build_index(art, index, ef_search), index)
