"""What the API and the UI both serve: plain JSON-ready dicts computed from the engine.

The API views ``jsonify`` these dicts and the UI views hand the same dicts to templates, so
the two can never disagree about a result. A page of results has the search layer's one
shape (``search.pages.page_dict``), which ``pubmed-search query --json`` prints too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from search.citation import locator, vancouver
from search.pages import page_dict, pubmed_url
from search.results import NotFound
from web.params import SearchParams

if TYPE_CHECKING:
    from search.engine import SearchEngine

DOI_URL = "https://doi.org/{doi}"
PMC_URL = "https://www.ncbi.nlm.nih.gov/pmc/articles/{pmc}/"
ORCID_URL = "https://orcid.org/{orcid}"


def search_args(params: SearchParams) -> dict[str, Any]:
    """``SearchEngine.search`` keyword arguments of a validated request."""
    return {
        "query": params.q,
        "k": params.k,
        "mode": params.mode,
        "filters": params.filters,
        "page": params.page,
        "rerank": params.rerank,
        "nprobe": params.nprobe,
        "ef_search": params.ef_search,
        "syntax": params.syntax,
        "facets": params.facets,
        "passages": params.passages,
        "prf": params.prf,
    }


def search_page(engine: SearchEngine, params: SearchParams) -> dict[str, Any]:
    """One page of search results (the ``/api/search`` body)."""
    return page_dict(engine.search(**search_args(params)))


def similar_page(engine: SearchEngine, pmid: int, params: SearchParams) -> dict[str, Any]:
    """One page of the articles most similar to ``pmid`` (``NotFound`` if unknown)."""
    response = engine.similar(
        pmid,
        k=params.k,
        filters=params.filters,
        page=params.page,
        nprobe=params.nprobe,
        ef_search=params.ef_search,
        passages=params.passages,
        by=params.by,
    )
    out = page_dict(response)
    out["pmid"] = int(pmid)
    return out


def related_page(
    engine: SearchEngine, relation: str, pmid: int, params: SearchParams
) -> dict[str, Any]:
    """One page of the articles ``pmid`` cites or that cite it (``NotFound`` if unknown)."""
    response = engine.related(relation, pmid, k=params.k, filters=params.filters, page=params.page)
    out = page_dict(response)
    out["pmid"] = int(pmid)
    return out


def add_records(engine: SearchEngine, results: list[dict[str, Any]]) -> None:
    """Give each result dict its full stored ``record`` (``Article.to_dict()``: the exports
    carry the whole citation and the full abstract, not the snippet)."""
    for result in results:
        stored = engine.article(result["pmid"])
        result["record"] = stored.article.to_dict() if stored is not None else {}


def article_dict(engine: SearchEngine, pmid: int) -> dict[str, Any]:
    """The full stored record of ``pmid`` (``Article.to_dict()``, every field of the complete
    citation) with links and display strings; raises ``NotFound``."""
    stored = engine.article(pmid)
    if stored is None:
        raise NotFound(f"pmid: no article with PMID {pmid} in the index")
    a = stored.article
    d = a.to_dict()
    for detail in d["author_details"]:
        orcid = detail["orcid"]
        detail["orcid_url"] = ORCID_URL.format(orcid=quote(orcid, safe="")) if orcid else None
    return {
        "ok": True,
        **d,
        "date": a.pub_date.display() if a.pub_date else (str(a.year) if a.year else None),
        "source": locator(a) or None,
        "url": pubmed_url(a.pmid),
        "doi_url": DOI_URL.format(doi=a.doi) if a.doi else None,
        "pmc_url": PMC_URL.format(pmc=quote(a.pmc, safe="")) if a.pmc else None,
        "citation": vancouver(a),
        **engine.standing(stored),
    }


def reranker_name(engine: SearchEngine) -> str | None:
    """The cross-encoder ``rerank=true`` uses, or None when the server has none."""
    reranker = getattr(engine, "reranker", None)
    return None if reranker is None else str(reranker.name)


def health_dict(engine: SearchEngine) -> dict[str, Any]:
    """What is being served: document and vector counts, model, FAISS type, version."""
    state = engine.state
    manifest = state.manifest
    counts = dict(manifest.counts)
    return {
        "ok": True,
        "documents": int(counts.get("articles", 0)),
        "vectors": int(state.index.ntotal),
        "model": state.model,
        "reranker": reranker_name(engine),
        "fingerprint": (manifest.encoder.fingerprint or "")[:12],
        "dim": int(manifest.encoder.dim),
        "index_type": manifest.faiss_factory,
        "index_version": int(state.version),
        "built_at": manifest.built_at,
        "package_version": manifest.package_version,
    }
