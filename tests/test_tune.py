"""`pubmed-search tune`: pair mining, BM25 negatives, the loss, and real tuning of a tiny BERT.

The synthetic collection is learnable: each article has three topic words that occur in its
title and throughout its abstract, so a tuned encoder can match titles to abstracts far
better than an untuned random one.
"""

from __future__ import annotations

import json
import math
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from indexer.records import Article, Deletion, Section
from indexer.text import terms
from indexer.tune.data import BM25, collect_pairs, holdout_size, make_pair, select
from tests.fixtures.common import REPO
from tests.fixtures.indexes import write_jsonl
from tests.fixtures.models import build_tiny_bert

KEYS = (
    "alpha beta gamma delta kappa sigma omega theta lambda zeta insulin glucose tumour "
    "carcinoma asthma airway stroke cerebral sepsis antibiotic kidney renal liver hepatic "
    "lung pulmonary vaccine infant pregnancy neonatal surgery biopsy imaging cortex neuron "
    "statin aspirin metformin cisplatin lipid plasma serum cytokine antibody antigen "
    "mutation allele receptor ligand kinase mitochondria apoptosis fibrosis thrombosis "
    "anaemia leukaemia lymphoma melanoma glioma sarcoma migraine epilepsy dementia"
).split()
FILL = "the of and in with was were to for by on at from that patients study results".split()
N_ARTICLES = 300
TUNE_ARGS = dict(epochs=3, batch_size=16, max_length=96, lr=1e-3, checkpoint_every=3)


def learnable_article(pmid: int, rng: random.Random, titled: bool) -> dict:
    keys = rng.sample(KEYS, 3)

    def sentence() -> str:
        n = rng.randint(8, 14)
        words = [rng.choice(keys) if rng.random() < 0.35 else rng.choice(FILL) for _ in range(n)]
        return " ".join(words).capitalize() + "."

    title = f"{keys[0].capitalize()} and {keys[1]} in {keys[2]} {rng.choice(FILL)}"
    return {
        "pmid": pmid,
        "title": title if titled else "",
        "abstract": " ".join(sentence() for _ in range(4)),
    }


@pytest.fixture(scope="module")
def learnable(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[dict]]:
    """(corpus.jsonl, tiny model dir, rows): 1 in 5 articles untitled (inverse cloze pairs)."""
    rng = random.Random(0)
    rows = [learnable_article(5000 + i, rng, titled=i % 5 != 0) for i in range(N_ARTICLES)]
    root = tmp_path_factory.mktemp("tune")
    corpus = write_jsonl(root / "corpus.jsonl", rows)
    texts = [f"{r['title']} {r['abstract']}" for r in rows]
    model = build_tiny_bert(root / "base", seed=0, hidden=32, layers=2, vocab_size=300, texts=texts)
    return corpus, model, rows


@pytest.fixture(scope="module")
def tuned(learnable, tmp_path_factory) -> Path:
    """One uninterrupted in-process tuning run (the reference for the resume test too)."""
    from indexer.tune import TuneSettings, tune

    corpus, model, _ = learnable
    out = tmp_path_factory.mktemp("tuned") / "model"
    s = TuneSettings(model=str(model), show_progress=False, **TUNE_ARGS)
    tune([corpus], out, s)
    return out


# --- pairs ----------------------------------------------------------------------------------


def _article(pmid: int, title: str, text: str, version: int = 1) -> Article:
    return Article(pmid=pmid, version=version, title=title, sections=[Section(text)])


def test_pairs_title_abstract_inverse_cloze_and_revisions() -> None:
    abstract = "First sentence has words here. Second sentence also has words. Third one too here."
    records = [
        _article(1, "A title", abstract),
        _article(2, "", abstract),
        _article(3, "Title only", ""),
        _article(4, "", "Only one sentence in this abstract."),
        _article(5, "Old title", abstract, version=1),
        _article(5, "New title", abstract, version=2),
        _article(6, "Deleted later", abstract),
        Deletion(6),
        _article(7, "[Translated title in brackets].", abstract),
        _article(8, "Excluded", abstract),
    ]
    pairs = {p.pmid: p for p in collect_pairs(records, seed=3, exclude_pmids=[8])}
    assert sorted(pairs) == [1, 2, 5, 7]
    assert (pairs[1].query, pairs[1].positive, pairs[1].kind) == ("A title", abstract, "title")
    assert pairs[5].query == "New title"
    assert pairs[7].query == "Translated title in brackets"
    ict = pairs[2]
    assert ict.kind == "ict" and ict.query in abstract and ict.query not in ict.positive
    rest = [s for s in abstract.replace(". ", ".|").split("|") if s != ict.query]
    assert ict.positive == " ".join(rest)


@given(st.lists(st.integers(1, 10_000), min_size=1, max_size=60, unique=True), st.integers(0, 9))
@settings(max_examples=40, deadline=None)
def test_pairs_do_not_depend_on_record_order(pmids: list[int], seed: int) -> None:
    text = "Alpha beta gamma delta. Epsilon zeta eta theta. Iota kappa lambda mu nu."
    records = [_article(p, "" if p % 2 else f"title {p}", text) for p in pmids]
    shuffled = list(records)
    random.Random(seed).shuffle(shuffled)
    assert collect_pairs(records, seed) == collect_pairs(shuffled, seed)
    assert make_pair(records[0], seed) == make_pair(records[0], seed)


@given(st.integers(0, 20_000), st.floats(0.0, 0.49))
def test_holdout_size(n: int, fraction: float) -> None:
    k = holdout_size(n, fraction)
    assert 0 <= k <= max(0, n - 1)
    assert k <= 2000
    if n >= 250 and math.ceil(fraction * n) <= 2000:
        assert k >= 50 and k >= math.ceil(fraction * n)


@given(st.integers(2, 400), st.integers(0, 5), st.one_of(st.none(), st.integers(1, 300)))
@settings(max_examples=30, deadline=None)
def test_select_is_seeded_and_disjoint(n: int, seed: int, max_pairs: int | None) -> None:
    text = "One two three four. Five six seven eight."
    pairs = collect_pairs([_article(i, f"t{i}", text) for i in range(1, n + 1)], seed)
    train, heldout = select(pairs, seed, 0.02, max_pairs)
    assert (train, heldout) == select(pairs, seed, 0.02, max_pairs)
    assert not {p.pmid for p in train} & {p.pmid for p in heldout}
    assert len(heldout) == holdout_size(n, 0.02)
    assert len(train) == min(n - len(heldout), max_pairs or n)


# --- BM25 -------------------------------------------------------------------------------------


def _bm25_brute(texts: list[str], query: str, k1: float = 1.2, b: float = 0.75) -> np.ndarray:
    docs = [terms(t) for t in texts]
    avgdl = sum(map(len, docs)) / len(docs)
    scores = np.zeros(len(docs))
    for term in set(terms(query)):
        df = sum(term in d for d in docs)
        if not df:
            continue
        idf = math.log(1 + (len(docs) - df + 0.5) / (df + 0.5))
        for i, d in enumerate(docs):
            tf = d.count(term)
            scores[i] += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(d) / avgdl)) if tf else 0
    return scores


@given(
    st.lists(
        st.lists(st.sampled_from(KEYS[:12] + FILL), min_size=0, max_size=15),
        min_size=1,
        max_size=25,
    ),
    st.lists(st.sampled_from(KEYS[:14]), min_size=1, max_size=4),
)
@settings(max_examples=60, deadline=None)
def test_bm25_matches_the_formula(docs: list[list[str]], query: list[str]) -> None:
    texts = [" ".join(d) for d in docs]
    bm25 = BM25(texts)
    expected = _bm25_brute(texts, " ".join(query))
    top = bm25.top(" ".join(query), k=len(texts))
    assert {i for i, _ in top} == {i for i, s in enumerate(expected) if s > 0}
    for i, score in top:
        assert score == pytest.approx(expected[i], rel=1e-4)
    assert [s for _, s in top] == sorted((s for _, s in top), reverse=True)
    assert bm25.top(" ".join(query), k=1) == top[:1]  # no state left behind


def test_in_memory_negatives_are_lexical_and_never_the_positive(learnable) -> None:
    from indexer.ingest.sources import iter_records
    from indexer.tune.data import negatives_in_memory

    corpus, _, _ = learnable
    train = collect_pairs(iter_records(corpus))
    mined = negatives_in_memory(train)
    assert [p.pmid for p in mined] == [p.pmid for p in train]
    with_neg = [p for p in mined if p.negative is not None]
    assert len(with_neg) > 0.9 * len(mined)
    positives = {p.pmid: p.positive for p in train}
    shared = 0
    for p in with_neg:
        assert p.negative_pmid != p.pmid and p.negative == positives[p.negative_pmid]
        shared += bool(set(terms(p.query)) & set(terms(p.negative)))
    assert shared == len(with_neg)


# --- loss and metrics -------------------------------------------------------------------------


def test_info_nce_matches_manual_softmax_and_masks() -> None:
    import torch

    from indexer.tune.model import info_nce

    g = torch.Generator().manual_seed(0)
    q = torch.nn.functional.normalize(torch.randn(4, 8, generator=g), dim=1)
    d = torch.nn.functional.normalize(torch.randn(8, 8, generator=g), dim=1)
    tau = torch.tensor(0.05)
    logits = (q @ d.T / tau).numpy().astype(np.float64)
    manual = np.mean([-(logits[i, i] - np.log(np.exp(logits[i]).sum())) for i in range(4)])
    assert float(info_nce(q, d, tau)) == pytest.approx(manual, rel=1e-4)
    mask = torch.zeros(4, 8, dtype=torch.bool)
    mask[:, 4:] = True
    assert float(info_nce(q, d, tau, mask)) == pytest.approx(float(info_nce(q, d[:4], tau)))


def test_known_item_scores() -> None:
    from indexer.tune.model import known_item_scores

    d = np.eye(12, dtype=np.float32)
    q = d.copy()
    q[0] = d[11] + 0.5 * d[0]  # candidate 0 ranks 2nd for query 0
    q[1] = d[2] + d[3] + d[4] + d[5] + d[6] + d[7] + d[8] + d[9] + d[10] + d[11] + 0.1 * d[1]
    scores = known_item_scores(q, d)
    assert scores["n"] == 12
    assert scores["recall@10"] == pytest.approx(11 / 12)  # query 1's item ranks 11th
    assert scores["mrr@10"] == pytest.approx((10 + 0.5) / 12)


# --- real tuning on a tiny BERT ---------------------------------------------------------------


def test_tuning_beats_untuned_on_held_out_pairs(tuned: Path, learnable) -> None:
    from indexer.models.encoder import Encoder, EncoderConfig
    from indexer.tune import TUNING_FILE
    from indexer.tune.model import known_item_scores

    report = json.loads((tuned / TUNING_FILE).read_text())
    before, after = report["heldout"]["before"], report["heldout"]["after"]
    assert before["n"] == after["n"] == 50
    assert after["mrr@10"] >= before["mrr@10"] + 0.15, (before, after)
    assert after["recall@10"] >= before["recall@10"]
    curve = report["loss_curve"]
    assert curve[-1][1] < curve[0][1] * 0.7
    assert report["pairs"]["train"] + report["pairs"]["heldout"] == N_ARTICLES
    assert report["pairs"]["ict"] > 0 and report["pairs"]["title"] > 0
    assert report["pooling"] == "mean" and not (tuned / ".tune").exists()
    # The output is an ordinary model directory: the product's loader reproduces the report.
    from indexer.ingest.sources import iter_records

    corpus, base, _ = learnable
    held_pmids = set(report["heldout_pmids"])
    held = [p for p in collect_pairs(iter_records(corpus), seed=0) if p.pmid in held_pmids]
    assert len(held) == 50

    def score(model: Path) -> dict[str, float]:
        enc = Encoder.load(EncoderConfig(model=str(model), max_length=96))
        return known_item_scores(
            enc.encode([p.query for p in held]), enc.encode([p.positive for p in held])
        )

    tuned_scores, base_scores = score(tuned), score(base)
    assert tuned_scores["mrr@10"] == pytest.approx(after["mrr@10"], abs=0.02)
    assert base_scores["mrr@10"] == pytest.approx(before["mrr@10"], abs=0.02)
    assert Encoder.load(EncoderConfig(model=str(tuned))).fingerprint != report["base_fingerprint"]


def test_bm25_hard_negatives_in_memory(learnable, tmp_path: Path) -> None:
    from indexer.tune import TUNING_FILE, TuneSettings, tune

    corpus, model, _ = learnable
    s = TuneSettings(
        model=str(model),
        epochs=1,
        batch_size=16,
        max_length=64,
        lr=1e-3,
        hard_negatives="bm25",
        temperature=0.1,
        gradient_checkpointing=True,
        show_progress=False,
    )
    result = tune([corpus], tmp_path / "out", s)
    report = json.loads((tmp_path / "out" / TUNING_FILE).read_text())
    assert report["pairs"]["with_negative"] > 0.9 * report["pairs"]["train"]
    assert report["temperature"] == pytest.approx(0.1)  # fixed: not learned
    config = json.loads((tmp_path / "out" / "config.json").read_text())
    assert not config.get("gradient_checkpointing")  # a plain model directory
    assert result.after["mrr@10"] > result.before["mrr@10"]


def test_refuses_non_empty_done_or_changed_output(learnable, tuned: Path, tmp_path: Path) -> None:
    from indexer.tune import TuneError, TuneSettings, tune

    corpus, model, _ = learnable
    s = TuneSettings(model=str(model), show_progress=False, **TUNE_ARGS)
    with pytest.raises(TuneError, match="already holds a tuned model"):
        tune([corpus], tuned, s)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "file.txt").write_text("x")
    with pytest.raises(TuneError, match="not empty"):
        tune([corpus], tmp_path / "busy", s)
    unfinished = tmp_path / "unfinished"
    (unfinished / ".tune").mkdir(parents=True)
    (unfinished / ".tune" / "fingerprint").write_text("another run")
    with pytest.raises(TuneError, match="other settings"):
        tune([corpus], unfinished, s)
    with pytest.raises(TuneError, match="cannot load model"):
        tune([corpus], tmp_path / "x", TuneSettings(model=str(tmp_path / "nope")))


@pytest.mark.slow
def test_resume_after_sigkill_continues_from_the_checkpoint(
    learnable, tuned: Path, tmp_path: Path
) -> None:
    import torch
    from safetensors.torch import load_file

    from indexer.tune import TUNING_FILE

    corpus, model, _ = learnable
    out = tmp_path / "resumed"
    args = ["tune", "--model", str(model),
            "--out", str(out), "--epochs", "3", "--batch-size", "16", "--max-length", "96",
            "--lr", "1e-3", "--checkpoint-every", "3", "--no-progress", str(corpus)]  # fmt: skip
    # Each step 0.4 s slower (tests/fixtures/hooks.py), so the kill lands mid-training.
    slow = [sys.executable, "-m", "tests.fixtures.hooks", "--step-sleep", "0.4", *args]
    cmd = [sys.executable, "-m", "pubmed_search.cli", *args]
    proc = subprocess.Popen(slow, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    sidecar = out / ".tune" / "checkpoint.json"
    deadline = time.monotonic() + 300
    while not sidecar.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.05)
    time.sleep(0.5)  # a step or so past the checkpoint: the kill lands mid-training
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    checkpoint = json.loads(sidecar.read_text())
    assert 0 < checkpoint["step"] < checkpoint["total_steps"]
    assert not (out / TUNING_FILE).exists()

    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert f"resuming from step {checkpoint['step']} of {checkpoint['total_steps']}" in done.stdout
    report = json.loads((out / TUNING_FILE).read_text())
    assert report["resumed_from_steps"] == [checkpoint["step"]]
    assert report["steps"] == checkpoint["total_steps"]
    assert [row[0] for row in report["loss_curve"]] == list(range(1, report["steps"] + 1))
    # Resumed training is the same training: weights match the uninterrupted run's.
    a, b = load_file(tuned / "model.safetensors"), load_file(out / "model.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], atol=1e-4, rtol=1e-3)
    reference = json.loads((tuned / TUNING_FILE).read_text())
    assert report["heldout"]["after"]["mrr@10"] == pytest.approx(
        reference["heldout"]["after"]["mrr@10"], abs=1e-6
    )


def test_bm25_negatives_from_an_index_store(tiny_index, tiny_corpus, tiny_model_dir, tmp_path):
    from indexer.ingest.sources import iter_records
    from indexer.tune import TUNING_FILE
    from indexer.tune.data import negatives_from_index
    from pubmed_search.cli import cli

    corpus, rows = tiny_corpus
    by_pmid = {r["pmid"]: r for r in rows}
    train = collect_pairs(iter_records(corpus))
    avoid = {p.pmid for p in train[:20]}
    mined = negatives_from_index(train, tiny_index, avoid)
    with_neg = [p for p in mined if p.negative is not None]
    assert len(with_neg) > 0.9 * len(mined)
    for p in with_neg:
        assert p.negative_pmid != p.pmid and p.negative_pmid not in avoid
        row = by_pmid[p.negative_pmid]
        assert p.negative == " ".join(s["text"] for s in row["sections"])
        assert set(terms(p.query)) & set(terms(row["title"] + " " + p.negative))
    # The same through the CLI: negatives from --index's store, tuned model written.
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli,
        [
            "tune",
            "--model",
            str(tiny_model_dir),
            "--out",
            str(out),
            "--batch-size",
            "16",
            "--max-length",
            "64",
            "--hard-negatives",
            "bm25",
            "--index",
            str(tiny_index),
            "--no-progress",
            str(corpus),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "held-out known-item" in result.stdout
    report = json.loads((out / TUNING_FILE).read_text())
    assert report["pairs"]["with_negative"] > 0.9 * report["pairs"]["train"]
    assert report["settings"]["index_dir"] == str(tiny_index)


def test_cli_exclude_pmids_and_errors(learnable, tmp_path) -> None:
    from pubmed_search.cli import cli

    corpus, model, rows = learnable
    excluded = tmp_path / "eval.jsonl"
    excluded.write_text("".join(json.dumps({"query": "q", "pmid": str(r["pmid"])}) + "\n"
                                for r in rows[:100]))  # fmt: skip
    out = tmp_path / "few"
    args = ["tune", "--model", str(model), "--out", str(out), "--no-progress",
            "--exclude-pmids", str(excluded), "--batch-size", "256", str(corpus)]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert "only 160 training pairs" in result.output and "--batch-size" in result.output


# --- citation pairs -------------------------------------------------------------------------


def test_citation_pairs_link_citing_titles_to_cited_articles() -> None:
    from indexer.tune.data import CITES_PER_ARTICLE, citation_pairs

    text = "Alpha beta gamma delta. Epsilon zeta eta theta."
    arts = {
        1: Article(pmid=1, title="Citing title", references=[2, 3, 4, 1, 2, 99]),
        2: _article(2, "Cited two", text),
        3: _article(3, "No abstract", ""),
        4: _article(4, "Cited four", text),
        5: Article(pmid=5, title="", references=[2]),  # untitled: no query
        6: Article(pmid=6, title="Many", references=list(range(10, 20))),
        **{i: _article(i, f"T{i}", text) for i in range(10, 20)},
    }
    pairs = citation_pairs(arts, seed=1)
    by_query = {}
    for p in pairs:
        by_query.setdefault(p.query_pmid, []).append(p)
        assert p.kind == "cites" and p.positive == arts[p.pmid].embed_text()
    assert [p.pmid for p in by_query[1]] == [2, 4]  # 3 has no abstract; 99 not held; no self
    assert by_query[1][0].query == "Citing title"
    assert 5 not in by_query
    assert len(by_query[6]) == CITES_PER_ARTICLE  # capped, seeded
    assert [p.pmid for p in citation_pairs(arts, seed=1)] == [p.pmid for p in pairs]
    avoided = citation_pairs(arts, seed=1, avoid=[4, 6])
    assert [p.pmid for p in avoided if p.query_pmid == 1] == [2] and 6 not in {
        p.query_pmid for p in avoided
    }


def _citing_rows(rows: list[dict]) -> list[dict]:
    """Each titled article cites up to three others on its first key topic (a learnable link)."""
    by_key: dict[str, list[int]] = {}
    for r in rows:
        if r["title"]:
            by_key.setdefault(r["title"].split()[0].lower(), []).append(r["pmid"])
    out = []
    for r in rows:
        topic = by_key.get(r["title"].split()[0].lower(), []) if r["title"] else []
        out.append({**r, "references": [p for p in topic if p != r["pmid"]][:3]})
    return out


@pytest.mark.slow
def test_tune_on_citation_pairs(learnable, tmp_path: Path) -> None:
    from indexer.tune import TUNING_FILE, TuneSettings, tune

    _, model, rows = learnable
    corpus = write_jsonl(tmp_path / "citing.jsonl", _citing_rows(rows))
    s = TuneSettings(model=str(model), pairs="citations", show_progress=False, **TUNE_ARGS)
    result = tune([corpus], tmp_path / "out", s)
    report = json.loads((tmp_path / "out" / TUNING_FILE).read_text())
    assert report["pairs"]["cites"] == report["pairs"]["train"] > 0
    assert report["pairs"]["title"] == 0
    # the held-out known-item pairs never appear in a citation pair (as citing or cited)
    from indexer.ingest.sources import iter_records
    from indexer.tune.data import citation_pairs, latest_articles, make_pair, select

    articles = latest_articles(iter_records(corpus))
    texts = [p for a in articles.values() if (p := make_pair(a, s.seed)) is not None]
    held = {p.pmid for p in select(texts, s.seed, s.holdout_fraction)[1]}
    cites = citation_pairs(articles, s.seed, avoid=held)
    assert held and len(cites) == report["pairs"]["train"]
    assert not held & ({p.pmid for p in cites} | {p.query_pmid for p in cites})
    assert result.after["mrr@10"] > result.before["mrr@10"]


def test_cli_pairs_citations_without_citations_is_one_line(learnable, tmp_path) -> None:
    from pubmed_search.commands.tune import command

    corpus, model, _ = learnable  # no references at all
    args = ["--model", str(model), "--out", str(tmp_path / "o"), "--pairs", "citations"]
    result = CliRunner().invoke(command, [*args, "--no-progress", str(corpus)])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "0 citation pairs" in result.output and "--pairs both" in result.output
