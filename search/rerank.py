"""Cross-encoder re-ranking: reorder the top candidates of a search by a (query, article) model.

(Not the exact fp16 *re-scoring* of approximate dense candidates: that is ``rescore`` in
``search.dense``.)

A cross-encoder reads the query and the article together (e.g. NCBI's MedCPT-Cross-Encoder)
and gives one relevance logit; it is far slower than a bi-encoder, so only the top N
candidates (default 50) of the chosen retrieval mode are scored by it and reordered.

``CrossEncoderReranker.load(name_or_path)`` uses ``AutoModelForSequenceClassification``: with
one label its logit is the score; with two labels the positive class's logit (index 1).
Loading follows ``indexer.models.loading`` (a directory, or a hub id from the cache or the
hub); scoring is batched under ``torch.inference_mode`` (half-precision autocast on CUDA only).

A cross-encoder is the one expensive thing a request can ask for, so a served one carries
:class:`RerankLimits`: a token budget per request (top N x pair length), a small queue
(one request scores at a time; at most ``queue`` more wait) and a deadline from arrival to
the last batch. A request that finds the queue full, or outlives its deadline, fails at once
with :class:`~indexer.errors.Busy` (HTTP 503 + ``Retry-After``, estimated from recent
scoring times), so waiting requests never pile up on the server's threads.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from indexer.errors import Busy, InvalidParameter
from indexer.models.device import autocast, resolve_device
from indexer.models.encoder import ModelLoadError
from indexer.models.loading import ModelKind, from_pretrained, load_error

DEFAULT_TOP_N = 50


@dataclass(frozen=True)
class RerankLimits:
    """Bounds on the cross-encoder work of one request (None: unbounded, the library default).

    ``max_tokens``: tokens scored per request in all; each (query, article) pair is cut to
    ``max_tokens // candidates`` tokens (and never beyond the model's own maximum).
    ``queue``: requests that may wait while one is being scored; one more is refused.
    ``timeout``: seconds from a request's arrival to its last batch; checked while waiting and
    between batches, so one batch's time is the granularity.
    """

    max_tokens: int | None = None
    queue: int | None = None
    timeout: float | None = None

    def validate(self, top_n: int) -> RerankLimits:
        """These limits, or :class:`InvalidParameter` naming the option that is out of range."""
        if self.queue is not None and self.queue < 0:
            raise InvalidParameter(f"--rerank-queue: must be >= 0, got {self.queue}")
        if self.timeout is not None and not self.timeout > 0:
            raise InvalidParameter(f"--rerank-timeout: must be > 0 seconds, got {self.timeout}")
        if self.max_tokens is not None and self.max_tokens // top_n < MIN_PAIR_TOKENS:
            raise InvalidParameter(
                f"--rerank-max-tokens: {self.max_tokens} tokens over {top_n} candidates leave "
                f"fewer than {MIN_PAIR_TOKENS} per (query, article) pair; lower --rerank-top-n "
                f"or raise --rerank-max-tokens to at least {MIN_PAIR_TOKENS * top_n}"
            )
        return self


MIN_PAIR_TOKENS = 32


class RerankerLoadError(ModelLoadError):
    """The cross-encoder could not be loaded; the message names the model and the fix."""


CROSS_ENCODER = ModelKind(
    auto_class="AutoModelForSequenceClassification",
    error=RerankerLoadError,
    noun="cross-encoder",
    purpose=" for re-ranking",
    option="--rerank",
    holding="a sequence-classification model",
    example="; e.g. ncbi/MedCPT-Cross-Encoder saved with save_pretrained",
)


class CrossEncoderReranker:
    """A loaded cross-encoder; ``score`` is safe to call from several threads (serialised)."""

    def __init__(
        self,
        name: str,
        tokenizer: Any,
        model: Any,
        max_length: int,
        batch_size: int,
        limits: RerankLimits | None = None,
    ) -> None:
        import torch

        labels = int(getattr(model.config, "num_labels", 1))
        if labels not in (1, 2):
            raise load_error(
                CROSS_ENCODER, name, f"it has {labels} output labels; a relevance model has 1 or 2"
            )
        self.name = name
        self.tokenizer = tokenizer
        self.model = model.eval()
        self.label = 0 if labels == 1 else 1
        positions = getattr(model.config, "max_position_embeddings", None) or max_length
        self.max_length = min(int(max_length), int(positions))
        self.batch_size = int(batch_size)
        self.device = next(model.parameters(), torch.empty(0)).device
        self.limits = limits or RerankLimits()
        self._lock = threading.Lock()  # one request scores at a time
        self._count_lock = threading.Lock()
        self._in_flight = 0  # requests scoring or waiting to
        self._seconds = 1.0  # running mean of one request's scoring time (for Retry-After)

    @classmethod
    def load(
        cls,
        model_name_or_path: str,
        max_length: int = 512,
        batch_size: int = 16,
        device: str = "auto",
        limits: RerankLimits | None = None,
    ) -> CrossEncoderReranker:
        if max_length < 8 or batch_size < 1:
            raise InvalidParameter("max_length >= 8 and batch_size >= 1 required")
        device = resolve_device(
            device, lambda reason: load_error(CROSS_ENCODER, model_name_or_path, reason)
        )
        tokenizer, model, _ = from_pretrained(model_name_or_path, CROSS_ENCODER)
        return cls(model_name_or_path, tokenizer, model.to(device), max_length, batch_size, limits)

    def pair_length(self, candidates: int) -> int:
        """Tokens each (query, article) pair is cut to when ``candidates`` are scored."""
        budget = self.limits.max_tokens
        if budget is None or candidates < 1:
            return self.max_length
        return max(8, min(self.max_length, budget // candidates))

    def score(self, query: str, texts: Sequence[str]) -> np.ndarray:
        """float32 relevance of each text for ``query`` (higher = more relevant), in order.

        Raises :class:`~indexer.errors.Busy` when the queue is full or the deadline passes."""
        import torch

        arrived = time.monotonic()
        timeout = self.limits.timeout
        deadline = math.inf if timeout is None else arrived + timeout
        out = np.zeros(len(texts), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # little padding
        length = self.pair_length(len(texts))
        with self._turn(deadline):
            started = time.monotonic()
            with torch.inference_mode(), autocast(self.device):
                for s in range(0, len(order), self.batch_size):
                    if time.monotonic() > deadline:
                        raise self._busy(f"it did not finish within {timeout:g} s")
                    idx = order[s : s + self.batch_size]
                    batch = self.tokenizer(
                        [query] * len(idx),
                        [texts[i] for i in idx],
                        truncation=True,
                        max_length=length,
                        padding=True,
                        return_tensors="pt",
                    ).to(self.device)
                    logits = self.model(**batch).logits.float()
                    out[idx] = logits[:, self.label].cpu().numpy()
            self._seconds = 0.7 * self._seconds + 0.3 * (time.monotonic() - started)
        return out

    @contextmanager
    def _turn(self, deadline: float) -> Iterator[None]:
        """Hold the model for one request: admitted only if the queue has room, and only
        until ``deadline`` while waiting."""
        queue = self.limits.queue
        with self._count_lock:
            if queue is not None and self._in_flight > queue:
                raise self._busy(f"{self._in_flight} re-ranking requests are ahead of it")
            self._in_flight += 1
        try:
            wait = -1 if deadline == math.inf else max(0.0, deadline - time.monotonic())
            if not self._lock.acquire(timeout=wait):
                raise self._busy(f"it waited {self.limits.timeout:g} s for its turn")
            try:
                yield
            finally:
                self._lock.release()
        finally:
            with self._count_lock:
                self._in_flight -= 1

    def _busy(self, why: str) -> Busy:
        retry = math.ceil(self._seconds * max(1, self._in_flight))
        return Busy(
            f"rerank: the server is busy re-ranking other searches ({why}); retry after "
            f"{max(1, retry)} s, or search without rerank",
            retry_after=retry,
        )

    def rerank(
        self, query: str, hits_texts: Sequence[str], top_n: int = DEFAULT_TOP_N
    ) -> np.ndarray:
        """Scores of the first ``top_n`` of ``hits_texts`` (the candidates, best first)."""
        if top_n < 1:
            raise InvalidParameter(f"top_n: must be >= 1, got {top_n}")
        return self.score(query, list(hits_texts[:top_n]))


def rerank_ranked(
    reranker: CrossEncoderReranker,
    query: str,
    ranked: Sequence[tuple[int, float]],
    text_of: Callable[[Sequence[int]], dict[int, str]],
    top_n: int = DEFAULT_TOP_N,
) -> tuple[list[tuple[int, float]], float]:
    """(re-ranked list, milliseconds): the first ``top_n`` of ``ranked`` reordered by the
    cross-encoder's scores (which become their scores; ties keep the original order), the
    rest after them unchanged. ``text_of(doc_ids)`` gives each candidate's title + abstract."""
    started = time.perf_counter()
    head = list(ranked[:top_n])
    texts = text_of([d for d, _ in head])
    scores = reranker.rerank(query, [texts.get(d, "") for d, _ in head], top_n)
    order = sorted(range(len(head)), key=lambda i: (-float(scores[i]), i))
    out = [(head[i][0], float(scores[i])) for i in order] + list(ranked[top_n:])
    return out, (time.perf_counter() - started) * 1000
