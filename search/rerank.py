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
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from indexer.errors import InvalidParameter
from indexer.models.device import autocast, resolve_device
from indexer.models.encoder import ModelLoadError
from indexer.models.loading import ModelKind, from_pretrained, load_error

DEFAULT_TOP_N = 50


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
        self, name: str, tokenizer: Any, model: Any, max_length: int, batch_size: int
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
        self._lock = threading.Lock()

    @classmethod
    def load(
        cls,
        model_name_or_path: str,
        max_length: int = 512,
        batch_size: int = 16,
        device: str = "auto",
    ) -> CrossEncoderReranker:
        if max_length < 8 or batch_size < 1:
            raise InvalidParameter("max_length >= 8 and batch_size >= 1 required")
        device = resolve_device(
            device, lambda reason: load_error(CROSS_ENCODER, model_name_or_path, reason)
        )
        tokenizer, model, _ = from_pretrained(model_name_or_path, CROSS_ENCODER)
        return cls(model_name_or_path, tokenizer, model.to(device), max_length, batch_size)

    def score(self, query: str, texts: Sequence[str]) -> np.ndarray:
        """float32 relevance of each text for ``query`` (higher = more relevant), in order."""
        import torch

        out = np.zeros(len(texts), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # little padding
        with self._lock, torch.inference_mode(), autocast(self.device):
            for s in range(0, len(order), self.batch_size):
                idx = order[s : s + self.batch_size]
                batch = self.tokenizer(
                    [query] * len(idx),
                    [texts[i] for i in idx],
                    truncation=True,
                    max_length=self.max_length,
                    padding=True,
                    return_tensors="pt",
                ).to(self.device)
                logits = self.model(**batch).logits.float()
                out[idx] = logits[:, self.label].cpu().numpy()
        return out

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
