"""Encoding speed: the BioLinkBERT model-card loop vs the project's Encoder (fp32 and int8).

    make bench-encode                      # or: .venv/bin/python bench/encode.py [--n 48]
    .venv/bin/python bench/encode.py --sweep   # also time a few batch sizes / token budgets

Same texts for every method: the first --n abstracts of ../shared/data/pubmedqa/corpus.jsonl
(sections joined, no titles). Model: random weights with BioLinkBERT-base's exact shape and a
WordPiece vocabulary trained on the corpus (bench/_models.py), loaded through Encoder.load.
(a) the model card: tokenise one text, ``model(**inputs)`` under ``torch.no_grad``, mean-pool,
one at a time, fp32; (b) Encoder fp32; (c) Encoder int8 (dynamic, per-channel).
Methods run interleaved for --rounds rounds; the best round of each counts (shared machine).
Then int8-vs-fp32 mean cosine with the real all-MiniLM-L6-v2 weights (real weights matter).
Targets: (b) >= 1.0x (a), (c) >= 1.5x (a).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _models import biolinkbert_shape_dir, corpus_abstracts

from indexer.encoder import Encoder, EncoderConfig, physical_cores


def model_card_encoder(model_dir: Path) -> Callable[[list[str]], np.ndarray]:
    """(a) The model card's usage, one text at a time, mean pooling, fp32."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir).eval()

    def encode(texts: list[str]) -> np.ndarray:
        out = []
        for text in texts:
            inputs = tokenizer(text, return_tensors="pt", truncation=True, max_length=512)
            with torch.no_grad():
                hidden = model(**inputs).last_hidden_state
            v = hidden.mean(dim=1)[0]
            out.append((v / v.norm()).numpy())
        return np.stack(out)

    return encode


def timed(fn: Callable[[list[str]], np.ndarray], texts: list[str]) -> tuple[float, np.ndarray]:
    t0 = time.perf_counter()
    v = fn(texts)
    return time.perf_counter() - t0, v


def minilm_cosine(texts: list[str]) -> float | None:
    from indexer.samples import SampleNotInstalled, minilm_model_dir

    try:
        path = str(minilm_model_dir())
    except SampleNotInstalled as e:
        print(f"int8 quality: skipped ({e})")
        return None
    fp32 = Encoder.load(EncoderConfig(model=path)).encode(texts)
    int8 = Encoder.load(EncoderConfig(model=path, quantize="int8")).encode(texts)
    return float((fp32 * int8).sum(1).mean())


def sweep(model_dir: str, texts: list[str], threads: int) -> None:
    print("\nsweep (Encoder fp32, one pass each):")
    enc = Encoder.load(EncoderConfig(model=model_dir, threads=threads))
    enc.encode(texts[:2])
    unbounded = [(bs, 10**9) for bs in (1, 2, 4, 8, 16)]
    for bs, budget in [*unbounded, (16, 1024), (16, 2048), (16, 4096)]:
        enc.config = dataclasses.replace(enc.config, token_budget=budget)
        dt, _ = timed(lambda t, bs=bs: enc.encode(t, batch_size=bs), texts)
        print(f"  batch_size {bs:2d}, token budget {budget:>10}: {len(texts) / dt:6.2f} docs/s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=48, help="abstracts to encode (default 48)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=physical_cores())
    ap.add_argument("--sweep", action="store_true", help="also time batch sizes / budgets")
    ap.add_argument("--no-minilm", action="store_true", help="skip the int8 quality check")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    texts = corpus_abstracts(args.n)
    model_dir = str(biolinkbert_shape_dir())
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"torch {torch.__version__}, {args.threads} threads; load avg {os.getloadavg()[0]:.1f}"
    )
    card = model_card_encoder(Path(model_dir))
    fp32 = Encoder.load(EncoderConfig(model=model_dir, threads=args.threads))
    int8 = Encoder.load(EncoderConfig(model=model_dir, threads=args.threads, quantize="int8"))
    n_tok = [len(ids) for ids in fp32.tokenizer(texts, truncation=True, max_length=512).input_ids]
    print(
        f"data: {len(texts)} abstracts, {np.mean(n_tok):.0f} tokens on average "
        f"(min {min(n_tok)}, max {max(n_tok)}); model: {model_dir}"
    )
    methods = {
        "(a) model card loop, fp32": card,
        "(b) Encoder fp32": fp32.encode,
        "(c) Encoder int8": int8.encode,
    }
    for fn in methods.values():  # warm-up
        fn(texts[:2])
    best: dict[str, float] = {}
    vecs: dict[str, np.ndarray] = {}
    for r in range(args.rounds):
        for name, fn in methods.items():
            dt, vecs[name] = timed(fn, texts)
            best[name] = min(best.get(name, float("inf")), dt)
            print(f"  round {r + 1}: {name:28s} {dt:7.2f} s", flush=True)
    base = len(texts) / best["(a) model card loop, fp32"]
    print(f"\n{'method':30s} {'docs/s':>8s} {'vs (a)':>7s}")
    for name, dt in best.items():
        rate = len(texts) / dt
        print(f"{name:30s} {rate:8.2f} {rate / base:6.2f}x")
    a, b, c = vecs.values()
    print(f"\ncosine (b) vs (a): min {(a * b).sum(1).min():.6f} (same vectors expected)")
    print(f"cosine (c) vs (b): mean {(b * c).sum(1).mean():.4f} (random weights; see MiniLM)")
    print(f"load avg now {os.getloadavg()[0]:.1f}")
    if not args.no_minilm:
        cos = minilm_cosine(texts)
        if cos is not None:
            print(f"int8 vs fp32 mean cosine, real all-MiniLM-L6-v2 weights: {cos:.4f}")
    if args.sweep:
        sweep(model_dir, texts, args.threads)


if __name__ == "__main__":
    main()
