"""The cross-encoder's limits (``search.rerank.RerankLimits``): token budget, queue, deadline.

The tiny cross-encoder of tests/test_rerank.py is slowed down where needed by a forward
pre-hook that sleeps (a stand-in for a large model on a CPU): the limits are about time, and
the real model's time is what the hook adds to.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from indexer.errors import Busy, InvalidParameter
from search.rerank import MIN_PAIR_TOKENS, CrossEncoderReranker, RerankLimits
from tests.test_rerank import make_cross_encoder

QUERY = "budesonide airway exacerbation " * 20  # long: pairs are cut by the length limits


@pytest.fixture(scope="module")
def cross_dir(tmp_path_factory, tiny_model_dir) -> Path:
    return make_cross_encoder(tmp_path_factory.mktemp("limits") / "ce", tiny_model_dir)


@pytest.fixture(scope="module")
def texts(tiny_corpus) -> list[str]:
    _, rows = tiny_corpus
    return [f"{r['title']} " + " ".join(s["text"] for s in r["sections"]) for r in rows[:12]]


def slowed(reranker: CrossEncoderReranker, seconds: float) -> CrossEncoderReranker:
    reranker.model.register_forward_pre_hook(lambda *_: time.sleep(seconds))
    return reranker


def test_the_token_budget_cuts_each_pair(cross_dir, texts):
    per_pair = 40
    budgeted = CrossEncoderReranker.load(
        str(cross_dir), limits=RerankLimits(max_tokens=per_pair * len(texts))
    )
    assert budgeted.pair_length(len(texts)) == per_pair
    assert budgeted.pair_length(1) == per_pair * len(texts)  # the whole budget for one pair
    generous = CrossEncoderReranker.load(str(cross_dir), limits=RerankLimits(max_tokens=10**6))
    assert generous.pair_length(2) == generous.max_length == 512  # never beyond the model's
    short = CrossEncoderReranker.load(str(cross_dir), max_length=per_pair)
    full = CrossEncoderReranker.load(str(cross_dir))
    got = budgeted.score(QUERY, texts)
    np.testing.assert_allclose(got, short.score(QUERY, texts), rtol=1e-5, atol=5e-5)
    assert not np.allclose(got, full.score(QUERY, texts), atol=1e-3)  # the cut changed them


def test_limits_are_validated_with_the_option_names():
    assert RerankLimits(max_tokens=50 * MIN_PAIR_TOKENS).validate(50).max_tokens == 1600
    with pytest.raises(InvalidParameter, match=r"--rerank-max-tokens.*at least 3200"):
        RerankLimits(max_tokens=3199).validate(100)
    with pytest.raises(InvalidParameter, match="--rerank-queue"):
        RerankLimits(queue=-1).validate(10)
    with pytest.raises(InvalidParameter, match="--rerank-timeout"):
        RerankLimits(timeout=0).validate(10)


def run_concurrently(reranker, texts, n: int) -> tuple[list[np.ndarray], list[Busy]]:
    done: list[np.ndarray] = []
    refused: list[Busy] = []
    lock = threading.Lock()

    def one() -> None:
        try:
            scores = reranker.score(QUERY, texts)
            with lock:
                done.append(scores)
        except Busy as e:
            with lock:
                refused.append(e)

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
        time.sleep(0.02)  # arrive in order
    for t in threads:
        t.join(timeout=60)
    return done, refused


def test_a_full_queue_refuses_at_once_with_retry_after(cross_dir, texts):
    reranker = slowed(
        CrossEncoderReranker.load(
            str(cross_dir), batch_size=4, limits=RerankLimits(queue=1, timeout=30)
        ),
        0.15,
    )
    started = time.monotonic()
    done, refused = run_concurrently(reranker, texts, 5)
    assert len(done) == 2 and len(refused) == 3  # one scored, one waited, three refused
    for e in refused:
        assert e.status == 503 and e.public and e.retry_after >= 1
        assert "busy" in str(e) and "without rerank" in str(e)
    assert time.monotonic() - started < 10
    reference = CrossEncoderReranker.load(str(cross_dir)).score(QUERY, texts)
    for scores in done:
        # admitted work is whole (batches of other sizes round differently: ~1e-5)
        np.testing.assert_allclose(scores, reference, rtol=1e-5, atol=5e-5)
    assert reranker.score(QUERY, texts[:2]).shape == (2,)  # the queue empties again


def test_the_deadline_covers_waiting_and_scoring(cross_dir, texts):
    reranker = slowed(
        CrossEncoderReranker.load(
            str(cross_dir), batch_size=2, limits=RerankLimits(queue=4, timeout=0.5)
        ),
        0.2,
    )
    started = time.monotonic()
    with pytest.raises(Busy, match=r"did not finish within 0\.5 s"):
        reranker.score(QUERY, texts)  # 6 batches of 0.2 s each
    assert time.monotonic() - started < 1.5  # stopped between batches, near the deadline
    done, refused = run_concurrently(reranker, texts[:2], 4)  # one batch each, 0.2 s
    assert len(done) >= 2 and refused  # the later ones waited past 0.5 s
    assert any("waited 0.5 s" in str(e) for e in refused)


def test_without_limits_nothing_is_refused(cross_dir, texts):
    reranker = slowed(CrossEncoderReranker.load(str(cross_dir), batch_size=12), 0.05)
    done, refused = run_concurrently(reranker, texts, 4)
    assert len(done) == 4 and not refused
