"""`pubmed-search tune`: contrastive adaptation of an encoder to the user's own collection.

No labels: (query, positive) pairs come from the collection (``indexer.tune.data``: title ->
abstract, or a sentence -> the rest of its abstract). A bi-encoder with shared weights
(mean or CLS pooling, L2-normalised) is trained with InfoNCE over in-batch negatives (plus
one BM25 hard negative per pair with ``hard_negatives="bm25"``), a learnable temperature
(init 0.05, clamped to [0.01, 0.5]) unless one is fixed, AdamW with linear warmup and decay,
autocast on CUDA only, optional gradient checkpointing.

Resumable: every ``checkpoint_every`` steps ``OUT/.tune/checkpoint.pt`` (model, temperature,
optimizer, scheduler, grad scaler, RNG states, step, loss curve) is written atomically;
running the same command again continues from it. The pairs and hard negatives are computed
once and kept in ``OUT/.tune/data.json``. The output directory is an ordinary Hugging Face
model directory (``save_pretrained`` model + tokenizer) plus ``pubmed_search_tuning.json``,
so ``build --model OUT`` loads it like any other model (``Encoder.load``).

This module checks the inputs and the output directory and runs the steps: settings, result
and error in ``indexer.tune.settings``, pairs in ``indexer.tune.data``, the model, loss and
evaluation in ``indexer.tune.model``, the resumable training loop in ``indexer.tune.train``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

from indexer import durable
from indexer.tune.data import NotEnoughPairs, prepare_data
from indexer.tune.settings import STATE_DIR, TUNING_FILE, TuneError, TuneResult, TuneSettings
from indexer.tune.train import run


def check_out_dir(out: Path, s: TuneSettings, fingerprint: str) -> None:
    """Refuse a finished, foreign or non-empty ``out``; stamp ``OUT/.tune`` with ``fingerprint``."""
    state = out / STATE_DIR
    if (out / TUNING_FILE).exists() and not state.exists():
        raise TuneError(f"{out} already holds a tuned model: pass another --out")
    if Path(s.model).expanduser().resolve() == out.resolve():
        raise TuneError("--out must differ from the base --model directory")
    stamp = state / "fingerprint"
    if state.exists() and stamp.exists() and stamp.read_text() != fingerprint:
        raise TuneError(
            f"{out} holds an unfinished tuning run with other settings or inputs: rerun it with "
            f"the same command to resume, or delete {state} (or pick another --out) to start over"
        )
    if not state.exists() and out.exists() and any(out.iterdir()):
        raise TuneError(f"{out} is not empty: pass a new or empty --out directory")
    state.mkdir(parents=True, exist_ok=True)
    durable.write_text(stamp, fingerprint)


def tune(inputs: Sequence[str | os.PathLike[str]], out_dir: str | os.PathLike[str],
         settings: TuneSettings) -> TuneResult:  # fmt: skip
    """Tune ``settings.model`` on pairs from ``inputs``; write the model into ``out_dir``."""
    settings.validate()
    paths = [Path(p) for p in inputs]
    for p in paths:
        if not p.is_file():
            raise TuneError(f"input {p} does not exist or is not a file")
    if settings.hard_negatives == "bm25" and settings.index_dir:
        from indexer.manifest import IndexDir

        if IndexDir(settings.index_dir).current_version() is None:
            raise TuneError(f"--index {settings.index_dir} holds no published index")
    out = Path(out_dir)
    check_out_dir(out, settings, settings.fingerprint(paths))
    started = time.monotonic()
    try:
        train, heldout = prepare_data(
            paths,
            out / STATE_DIR / "data.json",
            seed=settings.seed,
            exclude_pmids=settings.exclude_pmids,
            holdout_fraction=settings.holdout_fraction,
            max_pairs=settings.max_pairs,
            min_train=settings.batch_size,
            hard_negatives=settings.hard_negatives,
            index_dir=settings.index_dir,
            pairs_from=settings.pairs,
        )
    except NotEnoughPairs as e:
        raise TuneError(str(e)) from e
    return run(out, train, heldout, settings, started)
