"""`pubmed-search tune`: its settings (``TuneSettings``), result and error, and the names of
what it writes (``TUNING_FILE`` in the model directory, ``STATE_DIR`` for checkpoints)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from indexer.errors import PubmedSearchError
from indexer.models.pooling import POOLINGS

TUNING_FILE = "pubmed_search_tuning.json"
STATE_DIR = ".tune"
TAU_INIT, TAU_MIN, TAU_MAX = 0.05, 0.01, 0.5
EVAL_K = 10


class TuneError(PubmedSearchError, RuntimeError):
    """Tuning cannot start or continue; the message says why and what to do."""


@dataclass
class TuneSettings:
    model: str
    epochs: int = 1
    batch_size: int = 32
    max_length: int = 256
    query_max_length: int = 64
    lr: float = 2e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    temperature: float | None = None  # None: learnable, starting at TAU_INIT
    pooling: str = "mean"
    hard_negatives: str = "none"  # "none" | "bm25"
    pairs: str = "text"  # "text" | "citations" | "both" (indexer.tune.data)
    index_dir: str | None = None  # bm25 negatives from this index's store
    device: str = "auto"
    max_pairs: int | None = None
    seed: int = 0
    holdout_fraction: float = 0.02
    checkpoint_every: int = 200
    gradient_checkpointing: bool = False
    exclude_pmids: Sequence[int] = ()
    show_progress: bool = True

    def validate(self) -> None:
        if self.pooling not in POOLINGS:
            raise TuneError(f"pooling must be one of {', '.join(POOLINGS)}, not {self.pooling!r}")
        if self.hard_negatives not in ("none", "bm25"):
            raise TuneError(f"hard negatives must be 'none' or 'bm25', not {self.hard_negatives!r}")
        if self.pairs not in ("text", "citations", "both"):
            raise TuneError(f"pairs must be text, citations or both, not {self.pairs!r}")
        if self.batch_size < 2:
            raise TuneError("batch size must be at least 2 (in-batch negatives)")
        if self.temperature is not None and not TAU_MIN <= self.temperature <= 1.0:
            raise TuneError(f"temperature must lie in [{TAU_MIN}, 1.0], not {self.temperature}")
        if self.epochs < 1 or self.lr <= 0 or not 0 <= self.holdout_fraction < 0.5:
            raise TuneError("epochs >= 1, lr > 0 and 0 <= holdout fraction < 0.5 required")

    def fingerprint(self, inputs: Sequence[Path]) -> str:
        """What must match for a re-run to continue a checkpoint (not device or progress)."""
        d = asdict(self)
        for volatile in ("device", "show_progress", "checkpoint_every"):
            d.pop(volatile)
        d["exclude_pmids"] = sorted(int(p) for p in self.exclude_pmids)
        d["inputs"] = [f"{p.resolve()}|{p.stat().st_size}|{p.stat().st_mtime_ns}" for p in inputs]
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()


@dataclass
class TuneResult:
    out_dir: Path
    steps: int
    train_pairs: int
    heldout_pairs: int
    before: dict[str, float]
    after: dict[str, float]
    seconds: float
    resumed_from: list[int] = field(default_factory=list)

    def line(self) -> str:
        b, a = self.before, self.after
        resumed = f" (resumed at step {self.resumed_from[-1]})" if self.resumed_from else ""
        return (
            f"tuned {self.steps} steps on {self.train_pairs} pairs{resumed} in "
            f"{self.seconds:.0f}s; held-out known-item ({self.heldout_pairs} pairs) "
            f"MRR@10 {b['mrr@10']:.3f} -> {a['mrr@10']:.3f}, "
            f"Recall@10 {b['recall@10']:.3f} -> {a['recall@10']:.3f}; model in {self.out_dir}"
        )
