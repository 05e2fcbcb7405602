"""Query embedding: one serialised encoder call per distinct query (or per batch of queries:
:meth:`QueryEmbedder.embed_many`), an LRU cache in front."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any, Protocol

import numpy as np

from indexer.errors import InvalidParameter

QUERY_CACHE_SIZE = 1024


class TextEncoder(Protocol):
    def encode(self, texts: list[str]) -> np.ndarray: ...

    def encode_one_pass(self, texts: list[str]) -> np.ndarray: ...

    def count_tokens(self, texts: list[str]) -> list[int]: ...

    def token_offsets(self, texts: list[str]) -> list[list[tuple[int, int]]]: ...


class LRUCache:
    """A small thread-safe least-recently-used map with hit/miss counters."""

    def __init__(self, maxsize: int = QUERY_CACHE_SIZE) -> None:
        if maxsize < 1:
            raise InvalidParameter(f"maxsize: must be >= 1, got {maxsize}")
        self.maxsize = maxsize
        self._data: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> Any | None:
        with self._lock:
            try:
                value = self._data[key]
            except KeyError:
                self.misses += 1
                return None
            self._data.move_to_end(key)
            self.hits += 1
            return value

    def put(self, key: Hashable, value: Any) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._data)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


class QueryEmbedder:
    """Turns query text into one read-only float32 vector with ``encoder``.

    ``key`` identifies the encoder's output space (fingerprint + pooling + max length), so one
    cache may be shared by embedders of different index versions. Model calls are serialised
    by a lock: Hugging Face fast tokenizers are not safe to call from several threads at once.
    """

    def __init__(self, encoder: TextEncoder, key: str, cache: LRUCache | None = None) -> None:
        self.encoder = encoder
        self.key = key
        self.cache = cache if cache is not None else LRUCache()
        self._lock = threading.Lock()

    def embed(self, text: str) -> np.ndarray:
        cache_key = (self.key, text)
        vec = self.cache.get(cache_key)
        if vec is not None:
            return vec
        with self._lock:
            vec = self.cache.get(cache_key)  # another thread may have just computed it
            if vec is not None:
                return vec
            out = np.asarray(self.encoder.encode([text]), dtype=np.float32)
            vec = np.ascontiguousarray(out.reshape(-1))
            vec.setflags(write=False)
            self.cache.put(cache_key, vec)
            return vec

    def embed_many(self, texts: list[str]) -> list[np.ndarray]:
        """The vectors of ``texts`` (in order); those not cached are computed together in
        one forward pass of the encoder (``encode_one_pass``) and cached."""
        out: dict[str, np.ndarray] = {}
        for text in texts:
            vec = self.cache.get((self.key, text))
            if vec is not None:
                out[text] = vec
        missing = [t for t in dict.fromkeys(texts) if t not in out]
        if missing:
            with self._lock:
                vectors = np.asarray(self.encoder.encode_one_pass(missing), dtype=np.float32)
            for text, row in zip(missing, vectors, strict=True):
                vec = np.ascontiguousarray(row.reshape(-1))
                vec.setflags(write=False)
                self.cache.put((self.key, text), vec)
                out[text] = vec
        return [out[t] for t in texts]
