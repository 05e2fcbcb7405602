"""Cross-encoder re-ranking with a tiny BertForSequenceClassification built here.

Reranked results are checked against scores computed directly with the model, one pair at a
time, so batching, padding, ordering and the top-N cut are all verified independently.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from indexer.models.encoder import ModelLoadError
from search import SearchEngine
from search.pages import page_dict
from search.rerank import CrossEncoderReranker, RerankerLoadError, rerank_ranked

QUERIES = ["budesonide airway exacerbation", "insulin glucose", "cisplatin tumour biopsy"]


def make_cross_encoder(
    out: Path,
    tokenizer_dir: Path,
    num_labels: int = 1,
    seed: int = 0,
    hidden: int = 32,
    layers: int = 2,
    initializer_range: float = 0.5,  # wide weights: logits that differ clearly between texts
) -> Path:
    """A random cross-encoder saved with save_pretrained (the product loads it back); tiny
    by default, or as large as ``hidden`` x ``layers`` make it (a slow one for time limits)."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    config = BertConfig(
        vocab_size=len(tok),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=2 if hidden < 128 else 4,
        intermediate_size=(2 if hidden < 128 else 4) * hidden,
        max_position_embeddings=512,
        num_labels=num_labels,
        pad_token_id=tok.pad_token_id,
        initializer_range=initializer_range,
    )
    torch.manual_seed(seed)
    model = BertForSequenceClassification(config).eval()
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def cross_dir(tmp_path_factory, tiny_model_dir) -> Path:
    return make_cross_encoder(tmp_path_factory.mktemp("cross") / "ce", tiny_model_dir)


@pytest.fixture(scope="module")
def reranker(cross_dir) -> CrossEncoderReranker:
    return CrossEncoderReranker.load(str(cross_dir), batch_size=4)


def direct_scores(model_dir: Path, query: str, texts: list[str], label: int = 0) -> np.ndarray:
    """One (query, text) pair per forward pass, no padding: the reference scores."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    out = []
    with torch.no_grad():
        for t in texts:
            enc = tok(query, t, truncation=True, max_length=512, return_tensors="pt")
            out.append(float(model(**enc).logits[0, label]))
    return np.array(out)


def test_batched_scores_equal_direct_scores(reranker, cross_dir, tiny_corpus) -> None:
    _, rows = tiny_corpus
    texts = [f"{r['title']} " + " ".join(s["text"] for s in r["sections"]) for r in rows[:13]]
    for q in QUERIES:
        got = reranker.score(q, texts)
        np.testing.assert_allclose(got, direct_scores(cross_dir, q, texts), atol=1e-3)
        assert np.std(got) > 0.1
        np.testing.assert_allclose(reranker.rerank(q, texts, top_n=5), got[:5], atol=1e-3)
    assert reranker.score("anything", []).shape == (0,)
    with pytest.raises(ValueError, match="top_n"):
        reranker.rerank("q", texts, top_n=0)


def test_two_label_models_use_the_positive_logit(tmp_path, tiny_model_dir) -> None:
    d = make_cross_encoder(tmp_path / "two", tiny_model_dir, num_labels=2, seed=3)
    rr = CrossEncoderReranker.load(str(d))
    texts = ["asthma inhaled budesonide", "insulin metformin glucose islet", "stroke"]
    np.testing.assert_allclose(
        rr.score(QUERIES[0], texts), direct_scores(d, QUERIES[0], texts, label=1), atol=1e-3
    )
    three = make_cross_encoder(tmp_path / "three", tiny_model_dir, num_labels=3)
    with pytest.raises(RerankerLoadError, match="3 output labels"):
        CrossEncoderReranker.load(str(three))


def test_load_errors_name_the_model_and_the_fix(tmp_path, tiny_model_dir) -> None:
    missing = tmp_path / "no-such-model"
    with pytest.raises(ModelLoadError) as err:
        CrossEncoderReranker.load(str(missing))
    msg = str(err.value)
    assert str(missing) in msg and "--rerank PATH" in msg and "HF_HUB_OFFLINE" in msg
    (tmp_path / "empty").mkdir()
    with pytest.raises(RerankerLoadError, match=r"no config\.json"):
        CrossEncoderReranker.load(str(tmp_path / "empty"))


def test_rerank_ranked_reorders_the_head_only() -> None:
    class Fixed:
        def rerank(self, query, texts, top_n):
            return np.array([float(len(t)) for t in texts[:top_n]])

    ranked = [(i, 1.0 / (i + 1)) for i in range(8)]
    texts = {i: "x" * ((i * 5) % 7 + 1) for i in range(8)}
    out, ms = rerank_ranked(Fixed(), "q", ranked, lambda ids: {i: texts[i] for i in ids}, 4)
    head = sorted(range(4), key=lambda i: (-len(texts[i]), i))
    assert [d for d, _ in out[:4]] == head
    assert [s for _, s in out[:4]] == [float(len(texts[i])) for i in head]
    assert out[4:] == ranked[4:] and ms >= 0


@pytest.fixture(scope="module")
def engines(tiny_index, reranker):
    plain = SearchEngine.open(tiny_index)
    reranking = SearchEngine.open(tiny_index, reranker=reranker, rerank_top_n=12)
    yield plain, reranking
    plain.close()
    reranking.close()


def _texts(engine: SearchEngine, pmids: list[int]) -> list[str]:
    state = engine.state
    return [state.store.doc_for_pmid(p, state.version).article.embed_text() for p in pmids]


@pytest.mark.parametrize("mode", ["hybrid", "dense", "lexical"])
def test_engine_reranks_top_n_by_the_cross_encoder(engines, cross_dir, mode) -> None:
    plain, reranking = engines
    for q in QUERIES:
        base = plain.search(q, k=20, mode=mode)
        got = reranking.search(q, k=20, mode=mode, rerank=True)
        assert got.reranked and not base.reranked and base.rerank_ms is None
        assert 0 < got.rerank_ms <= got.took_ms
        assert got.total == base.total
        head = [h.pmid for h in base.hits[:12]]
        scores = direct_scores(cross_dir, q, _texts(plain, head))
        order = sorted(range(len(head)), key=lambda i: (-scores[i], i))
        assert [h.pmid for h in got.hits[:12]] == [head[i] for i in order]
        np.testing.assert_allclose([h.score for h in got.hits[:12]], scores[order], atol=1e-3)
        # Past the top N the mode's own order and scores are kept.
        assert [(h.pmid, h.score) for h in got.hits[12:]] == [
            (h.pmid, h.score) for h in base.hits[12:]
        ]
        assert [h.rank for h in got.hits] == list(range(1, len(got.hits) + 1))
        # Not asked for: the same engine answers exactly like an engine without a reranker.
        same = reranking.search(q, k=20, mode=mode)
        assert [(h.pmid, h.score) for h in same.hits] == [(h.pmid, h.score) for h in base.hits]


def test_reranked_pages_are_slices_of_one_reranked_list(engines) -> None:
    _, reranking = engines
    whole = reranking.search(QUERIES[0], k=20, mode="hybrid", rerank=True)
    pages = [
        reranking.search(QUERIES[0], k=5, page=p, mode="hybrid", rerank=True) for p in (1, 2, 3, 4)
    ]
    assert [h.pmid for p in pages for h in p.hits] == [h.pmid for h in whole.hits]
    assert [h.rank for h in pages[2].hits] == list(range(11, 16))


def test_rerank_needs_a_reranker_and_shows_in_json(engines) -> None:
    plain, reranking = engines
    with pytest.raises(ValueError, match="rerank"):
        plain.search(QUERIES[0], rerank=True)
    d = page_dict(reranking.search(QUERIES[0], k=3, rerank=True))
    assert d["reranked"] is True and d["rerank_ms"] > 0
    assert json.loads(json.dumps(d))["reranked"] is True
    with pytest.raises(ValueError, match="rerank_top_n"):
        SearchEngine.open(plain.index_dir.root, reranker=None, rerank_top_n=0)


def test_cli_query_rerank(tiny_index, cross_dir, tmp_path) -> None:
    from pubmed_search.cli import cli

    args = ["query", "--index", str(tiny_index), "--json", "-k", "5", QUERIES[1]]
    result = CliRunner().invoke(cli, [*args[:-1], "--rerank", str(cross_dir), args[-1]])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["reranked"] is True and data["rerank_ms"] > 0 and len(data["results"]) == 5
    bad = CliRunner().invoke(cli, [*args[:-1], "--rerank", str(tmp_path / "nope"), args[-1]])
    assert bad.exit_code != 0 and "cannot load cross-encoder" in bad.output
