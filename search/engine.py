"""The search engine: dense, lexical and hybrid retrieval over one published index version.

Everything one request needs of an index version (manifest, FAISS index, store, vector file,
query embedder) lives in one immutable :class:`IndexState`. A request reads
``engine.state`` once and uses that object throughout; :meth:`SearchEngine.reload_if_changed`
builds the state of a newer version beside it and swaps the reference, so in-flight requests
finish on the version they started with and the next ones see the new version whole.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from indexer.errors import InvalidParameter
from indexer.filters import Filters
from indexer.fusion import Fusion
from indexer.lexical.facets import Facets, facet_counts
from indexer.manifest import IndexDir
from indexer.vectors.types import is_lossy, rescore_depth
from search import feedback, graph
from search.dense import selected_top
from search.embedding import LRUCache, QueryEmbedder
from search.feedback import DEFAULT_FEEDBACK, Feedback
from search.hits import build_hits
from search.loading import load_state_parts
from search.params import (
    check_choice,
    check_filters,
    check_knobs,
    check_page,
    check_query,
    check_syntax,
    check_weights,
)
from search.rerank import DEFAULT_TOP_N, CrossEncoderReranker, rerank_ranked
from search.results import MODES, SearchResponse
from search.similar import similar_to
from search.state import IndexState, Selection, expression_text, guarded

if TYPE_CHECKING:
    from indexer.store import StoredArticle

log = logging.getLogger(__name__)


class SearchEngine:
    """Open with :meth:`open`; thread-safe; see the module docstring for versioning."""

    def __init__(
        self,
        index_dir: str | os.PathLike[str],
        *,
        model: str | None = None,
        query_model: str | None = None,
        device: str = "auto",
        rescore: bool | None = None,
        cache_size: int = 1024,
        reranker: str | CrossEncoderReranker | None = None,
        rerank_top_n: int = DEFAULT_TOP_N,
    ) -> None:
        self.index_dir = IndexDir(index_dir)
        # Cross-encoder re-ranking (search/rerank.py), independent of the index version.
        if rerank_top_n < 1:
            raise InvalidParameter(f"rerank_top_n: must be >= 1, got {rerank_top_n}")
        if isinstance(reranker, str):
            reranker = CrossEncoderReranker.load(reranker, device=device)
        self.reranker: CrossEncoderReranker | None = reranker
        self.rerank_top_n = rerank_top_n
        self._model_override = model
        self._query_model_override = query_model
        self._device = device
        self._rescore = rescore
        self.query_cache = LRUCache(cache_size)
        self._embedders: dict[str, QueryEmbedder] = {}
        self._reload_lock = threading.Lock()
        self._state: IndexState | None = None

    @classmethod
    def open(
        cls,
        index_dir: str | os.PathLike[str],
        model: str | None = None,
        query_model: str | None = None,
        device: str = "auto",
        rescore: bool | None = None,
        cache_size: int = 1024,
        reranker: str | CrossEncoderReranker | None = None,
        rerank_top_n: int = DEFAULT_TOP_N,
    ) -> SearchEngine:
        """Open the published version of ``index_dir``.

        ``model`` / ``query_model``: local copies of the index's models (their fingerprints
        must equal the manifest's, else :class:`ModelMismatchError`). ``rescore``: re-score
        approximate dense candidates exactly with the stored vectors, as many as the index
        records (None: only for lossy PQ/SQ indexes); not to be confused with ``reranker``:
        a cross-encoder (hub id, directory or loaded
        :class:`~search.rerank.CrossEncoderReranker`) that ``search(..., rerank=True)`` uses
        to re-rank the top ``rerank_top_n`` candidates.
        """
        engine = cls(
            index_dir,
            model=model,
            query_model=query_model,
            device=device,
            rescore=rescore,
            cache_size=cache_size,
            reranker=reranker,
            rerank_top_n=rerank_top_n,
        )
        engine._state = engine._open_state(None)
        return engine

    # versions ----------------------------------------------------------------
    @property
    def state(self) -> IndexState:
        state = self._state
        if state is None:
            raise RuntimeError("the engine is closed")
        return state

    @property
    def version(self) -> int:
        return self.state.version

    def _open_state(self, version: int | None) -> IndexState:
        manifest = self.index_dir.read_manifest(version)
        parts = load_state_parts(
            self.index_dir,
            manifest,
            model=self._model_override,
            query_model=self._query_model_override,
            device=self._device,
            embedders=self._embedders,
            cache=self.query_cache,
        )
        rescore = is_lossy(manifest.faiss_factory) if self._rescore is None else self._rescore
        return IndexState(
            version=manifest.version,
            manifest=manifest,
            rescore=rescore,
            rescore_depth=rescore_depth(manifest.faiss_params),
            **parts,
        )

    def reload_if_changed(self) -> bool:
        """Open and swap in the version CURRENT names if it is not the one being served.

        Returns True when a new version was swapped in. On failure (e.g. the new version was
        built with another model) the exception propagates and the old version keeps serving.
        """
        current = self.index_dir.current_version()
        if current is None or current == self.state.version:
            return False
        with self._reload_lock:
            if current == self.state.version:
                return False
            new = self._open_state(current)
            old, self._state = self._state, new
            log.info("index %s: now serving version %d", self.index_dir.root, new.version)
            del old  # closed by garbage collection once no in-flight request holds it
            return True

    def close(self) -> None:
        state, self._state = self._state, None
        if state is not None:
            state.close()

    def __enter__(self) -> SearchEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # retrieval ---------------------------------------------------------------
    def embed_query(self, query: str) -> np.ndarray:
        """The query's vector (cached per model and text)."""
        return self.state.embedder.embed(check_query(query))

    def _match_query(self, state: IndexState, query: str, selection: Selection | None):
        """The Tantivy query of a request's whole match set (what facets count)."""
        if selection is not None and selection.expression is not None:
            return state.select(selection, embeddable=False)
        text = state.lexical.text_query(query)
        if text is None or selection is None:
            return text
        return state.select(selection, embeddable=False, base=text)

    def _rank(
        self,
        state: IndexState,
        mode: str,
        query: str,
        dense_query: str,
        selection: Selection | None,
        depth: tuple[int, int, int],
        fusion: Fusion,
        knobs: dict[str, int | None],
        prf: Feedback | None = None,
    ) -> tuple[list[tuple[int, float]], int]:
        """Ranks [first, first + count) of ``mode`` and its total; ``depth`` = (first, count,
        the candidates each side of hybrid ``fusion`` contributes); ``prf``: a second pass
        from the first one's top articles (``search.feedback``)."""
        first, count, n = depth
        match = self._match_query(state, query, selection) if mode != "dense" else None
        if mode == "lexical":
            if match is None:
                return [], 0
            if prf is not None:
                top, _ = state.lexical.run(match, prf.docs, 0)
                match = feedback.expand_lexical(state, match, dense_query, top, prf)
            return state.lexical.run(match, count, first)
        q = state.embedder.embed(dense_query)
        if mode == "dense":
            if prf is not None:
                top, _ = selected_top(state, q, prf.docs, selection, knobs=knobs)
                q = feedback.rocchio(state, q, top, prf)
            ranked, total = selected_top(state, q, first + count, selection, knobs=knobs)
            return ranked[first:], total
        fuse = fusion.for_query(query).fuse
        dense, _ = selected_top(state, q, n, selection, knobs=knobs)
        lexical, total = state.lexical.run(match, n, 0) if match is not None else ([], 0)
        fused = fuse(dense, lexical)
        if prf is not None:  # both sides fed back by the fused top
            top = fused[: prf.docs]
            q = feedback.rocchio(state, q, top, prf)
            dense, _ = selected_top(state, q, n, selection, knobs=knobs)
            if match is not None:
                expanded = feedback.expand_lexical(state, match, dense_query, top, prf)
                lexical, total = state.lexical.run(expanded, n, 0)
            fused = fuse(dense, lexical)
        return fused[first : first + count], total

    @staticmethod
    def fusion_of(
        state: IndexState, weights: tuple[float, float] | None, fusion: Fusion | None = None
    ) -> Fusion:
        """``fusion`` or the index's recorded one, with a request's ``weights`` if given."""
        chosen = fusion if fusion is not None else state.manifest.hybrid_fusion
        return chosen if weights is None else chosen.with_weights(*weights)

    def _facets(self, state: IndexState, query: str, selection: Selection | None) -> Facets:
        match = self._match_query(state, query, selection)
        return facet_counts(state.lexical.searcher, match) if match is not None else Facets()

    def search(
        self,
        query: str,
        k: int = 10,
        mode: str = "hybrid",
        filters: Filters | None = None,
        page: int = 1,
        weights: Sequence[float] | Mapping[str, float] | None = None,
        rerank: bool = False,
        nprobe: int | None = None,
        ef_search: int | None = None,
        syntax: str = "plain",
        facets: bool = False,
        passages: bool = False,
        fusion: Fusion | None = None,
        prf: bool | Feedback = False,
    ) -> SearchResponse:
        """Page ``page`` (ranks ``(page-1)*k+1 .. page*k``) of the articles best matching
        ``query``, restricted to ``filters``.

        ``mode``: "dense" (embedding inner product), "lexical" (BM25) or "hybrid" (both,
        fused as the index's manifest records, :class:`indexer.fusion.Fusion`: weighted RRF
        or a convex combination of normalised scores, with the weights calibrated when the
        index was built; an index built before fusion was recorded: RRF, k = 60, weights
        1/1; score = the fused score). ``weights`` (dense, lexical) override the recorded
        weights (the method, k and depth stay); ``fusion`` (Python callers, e.g. ``eval``'s
        fixed-fusion row): this fusion instead of the recorded one (``weights`` still
        override its weights). ``total``: see :class:`SearchResponse`.
        ``syntax``: "plain" (the query is words, never syntax) or "pubmed" (the query is a
        PubMed-style expression, ``indexer.lexical.syntax``: in lexical mode it is the query;
        in dense and hybrid modes it selects the candidate set exactly, ranked by meaning
        (and by BM25 of its text terms in hybrid)).
        ``facets``: also count years, journals, MeSH and publication types over the whole
        match set (``SearchResponse.facets``).
        ``rerank``: re-rank the mode's top ``rerank_top_n`` candidates with the engine's
        cross-encoder (their scores become its logits; ``reranked``/``rerank_ms`` in the
        response); needs an engine opened with ``reranker``.
        ``nprobe`` / ``ef_search``: IVF lists probed / HNSW search breadth for this query
        (None: the index's own, recorded in the manifest's ``faiss_params``).
        ``passages``: give each hit its best passage (``search.passages``).
        ``prf``: pseudo-relevance feedback (``search.feedback``): search again with the query
        expanded by the first pass's top articles (lexical: RM3 terms that re-rank the
        query's own matches; dense: Rocchio's vector; hybrid: both, fed by the fused top);
        True: :data:`~search.feedback.DEFAULT_FEEDBACK`, or a
        :class:`~search.feedback.Feedback`. Totals and facets stay those of the query.
        """
        started = time.perf_counter()
        query = check_query(query)
        check_page(k, page)
        knobs = check_knobs(nprobe, ef_search)
        if mode not in MODES:
            raise InvalidParameter(f"mode: must be one of {', '.join(MODES)}, got {mode!r}")
        expression = check_syntax(syntax, query)
        request_weights = check_weights(weights)
        filters = check_filters(filters)
        if rerank and self.reranker is None:
            raise InvalidParameter(
                "rerank: this engine has no cross-encoder (open it with reranker=)"
            )
        state = self.state
        if fusion is not None and not isinstance(fusion, Fusion):
            raise InvalidParameter(f"fusion: expected indexer.fusion.Fusion, got {fusion!r}")
        fusion = self.fusion_of(state, request_weights, fusion)
        if not isinstance(prf, (bool, Feedback)):
            raise InvalidParameter(f"prf: expected a bool or search.feedback.Feedback, got {prf!r}")
        fed = DEFAULT_FEEDBACK if prf is True else (prf or None)
        selection = Selection(filters, expression) if filters or expression else None
        if selection is not None:
            state.select(selection, embeddable=False)  # a bad expression: 400 now
        first = (page - 1) * k
        # With re-ranking, fetch candidates from rank 1 (at least the top N), then page.
        fetch_first, fetch_n = (0, max(first + k, self.rerank_top_n)) if rerank else (first, k)
        dense_query = expression_text(expression) if expression is not None else query
        n = max(fusion.depth, 2 * k * page, fetch_n)
        with guarded(expression):
            depth = (fetch_first, fetch_n, n)
            ranked, total = self._rank(
                state, mode, query, dense_query, selection, depth, fusion, knobs, fed
            )
            counted = self._facets(state, query, selection) if facets else None
        model = "bm25" if mode == "lexical" else state.model
        rerank_ms = None
        if rerank:
            ranked, rerank_ms = self._cross_rerank(state, query, ranked)
            ranked = ranked[first:]
        finder = state.passage_finder() if passages else None
        hits = build_hits(state, ranked[:k], dense_query, first + 1, finder)
        return SearchResponse(
            query=query,
            mode=mode,
            k=k,
            page=page,
            total=int(total),
            took_ms=(time.perf_counter() - started) * 1000,
            model=model,
            hits=hits,
            version=state.version,
            filters=filters.as_dict() if filters else {},
            reranked=bool(rerank),
            rerank_ms=rerank_ms,
            syntax=syntax,
            facets=counted,
            prf=fed is not None,
        )

    def _cross_rerank(
        self, state: IndexState, query: str, ranked: list[tuple[int, float]]
    ) -> tuple[list[tuple[int, float]], float]:
        """Cross-encoder re-ranking of the top ``rerank_top_n`` (see search/rerank.py)."""

        def texts(doc_ids: Sequence[int]) -> dict[int, str]:
            docs = state.store.get_docs(doc_ids)
            return {d: doc.article.embed_text() for d, doc in docs.items()}

        assert self.reranker is not None
        return rerank_ranked(self.reranker, query, ranked, texts, self.rerank_top_n)

    def similar(
        self,
        pmid: int,
        k: int = 10,
        filters: Filters | None = None,
        page: int = 1,
        nprobe: int | None = None,
        ef_search: int | None = None,
        passages: bool = False,
        by: str = "text",
    ) -> SearchResponse:
        """The articles nearest to article ``pmid``, itself excluded: ``by="text"``: by its
        own vector; ``"citations"``: by citation links and shared references
        (``search.graph``); ``"both"``: the two fused by reciprocal rank (with
        ``passages``: each hit's passage best matching the article's title)."""
        started = time.perf_counter()
        check_page(k, page)
        knobs = check_knobs(nprobe, ef_search)
        filters = check_filters(filters)
        by = check_choice("by", by)
        return similar_to(self.state, pmid, k, filters, page, knobs, passages, by, started)

    def related(
        self,
        relation: str,
        pmid: int,
        k: int = 10,
        filters: Filters | None = None,
        page: int = 1,
    ) -> SearchResponse:
        """Page ``page`` of the articles ``pmid`` cites (``relation="references"``, in its
        reference order) or that cite it (``"cited_by"``, newest first), among this version's
        articles passing ``filters`` (``search.graph``)."""
        if relation not in graph.RELATIONS:
            raise InvalidParameter(f"relation: one of {graph.RELATIONS}, got {relation!r}")
        check_page(k, page)
        filters = check_filters(filters)
        selection = Selection(filters) if filters is not None else None
        return graph.page(self.state, relation, pmid, k, page, selection, filters)

    def standing(self, doc: StoredArticle) -> dict:
        """Retraction marks and citation counts of ``doc`` (as :meth:`article` returns it)
        at this version (``search.graph.standing``)."""
        return graph.standing(self.state, doc)

    def article(self, pmid: int):
        """The full stored record (``StoredArticle``) of ``pmid``, or None."""
        state = self.state
        return state.store.doc_for_pmid(int(pmid), state.version)
