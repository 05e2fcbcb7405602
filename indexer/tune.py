"""`pubmed-search tune`: contrastive adaptation of an encoder to the user's own collection.

No labels: (query, positive) pairs come from the collection (``indexer.tune_data``: title ->
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
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from indexer.manifest import atomic_write_bytes
from indexer.tune_data import NotEnoughPairs, Pair, prepare_data

log = logging.getLogger(__name__)

TUNING_FILE = "pubmed_search_tuning.json"
STATE_DIR = ".tune"
TAU_INIT, TAU_MIN, TAU_MAX = 0.05, 0.01, 0.5
EVAL_K = 10


class TuneError(RuntimeError):
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
        if self.pooling not in ("mean", "cls"):
            raise TuneError(f"pooling must be 'mean' or 'cls', not {self.pooling!r}")
        if self.hard_negatives not in ("none", "bm25"):
            raise TuneError(f"hard negatives must be 'none' or 'bm25', not {self.hard_negatives!r}")
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


def _torch():
    import torch

    return torch


def resolve_device(device: str) -> str:
    torch = _torch()
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise TuneError("device 'cuda' was asked for but no GPU is seen; use --device cpu")
    return device


def _autocast(device: str) -> Any:
    torch = _torch()
    if device != "cuda":
        return contextlib.nullcontext()
    half = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast("cuda", dtype=half)


def pool(hidden: Any, mask: Any, pooling: str) -> Any:
    """Pooled, L2-normalised vectors; the same pooling ``indexer.encoder`` applies."""
    torch = _torch()
    hidden = hidden.float()
    if pooling == "cls":
        pooled = hidden[:, 0]
    else:
        m = mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)
    return torch.nn.functional.normalize(pooled, p=2, dim=1)


def encode(model: Any, tokenizer: Any, texts: Sequence[str], max_length: int, pooling: str,
           device: str) -> Any:  # fmt: skip
    """Vectors of ``texts`` with gradients (training)."""
    batch = tokenizer(list(texts), truncation=True, max_length=max_length, padding=True,
                      return_tensors="pt").to(device)  # fmt: skip
    with _autocast(device):
        hidden = model(**batch).last_hidden_state
    return pool(hidden, batch["attention_mask"], pooling)


def embed(model: Any, tokenizer: Any, texts: Sequence[str], max_length: int, pooling: str,
          device: str, batch_size: int = 64) -> np.ndarray:  # fmt: skip
    """float32 vectors of ``texts`` without gradients (evaluation), in input order."""
    torch = _torch()
    was_training = model.training
    model.eval()
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = np.zeros((len(texts), model.config.hidden_size), dtype=np.float32)
    with torch.inference_mode():
        for s in range(0, len(order), batch_size):
            idx = order[s : s + batch_size]
            vecs = encode(model, tokenizer, [texts[i] for i in idx], max_length, pooling, device)
            out[idx] = vecs.float().cpu().numpy()
    model.train(was_training)
    return out


def known_item_scores(q: np.ndarray, d: np.ndarray, k: int = EVAL_K) -> dict[str, float]:
    """MRR@k and Recall@k where query i's only relevant candidate is candidate i."""
    if len(q) == 0:
        return {f"mrr@{k}": 0.0, f"recall@{k}": 0.0, "n": 0}
    sims = q @ d.T
    own = np.diag(sims)[:, None]
    ranks = 1 + (sims > own).sum(axis=1)
    hit = ranks <= k
    return {
        f"mrr@{k}": float(np.where(hit, 1.0 / ranks, 0.0).mean()),
        f"recall@{k}": float(hit.mean()),
        "n": len(q),
    }


def evaluate(model: Any, tokenizer: Any, pairs: Sequence[Pair], s: TuneSettings,
             device: str) -> dict[str, float]:  # fmt: skip
    """Held-out known-item scores: query = title/sentence, candidates = all held-out positives."""
    q = embed(model, tokenizer, [p.query for p in pairs], s.query_max_length, s.pooling, device)
    d = embed(model, tokenizer, [p.positive for p in pairs], s.max_length, s.pooling, device)
    return known_item_scores(q, d)


class Temperature:
    """InfoNCE temperature: learnable as log(tau) (clamped) or fixed."""

    def __init__(self, fixed: float | None, device: str) -> None:
        torch = _torch()
        init = math.log(fixed if fixed is not None else TAU_INIT)
        self.log_tau = torch.nn.Parameter(torch.tensor(init, device=device))
        self.log_tau.requires_grad_(fixed is None)

    def value(self) -> Any:
        return self.log_tau.exp().clamp(TAU_MIN, TAU_MAX)

    def current(self) -> float:
        return float(self.value().detach())


def info_nce(q: Any, d: Any, tau: Any, mask: Any | None = None) -> Any:
    """Cross-entropy of query i against candidate i among all ``d`` rows (in-batch negatives)."""
    torch = _torch()
    logits = (q @ d.T) / tau
    if mask is not None:
        logits = logits.masked_fill(mask, float("-inf"))
    labels = torch.arange(len(q), device=q.device)
    return torch.nn.functional.cross_entropy(logits, labels)


def _negative_mask(batch: Sequence[Pair], device: str) -> Any:
    """True where a hard negative column is in fact the positive of that row's query."""
    torch = _torch()
    n = len(batch)
    mask = torch.zeros((n, 2 * n), dtype=torch.bool, device=device)
    pos = [p.pmid for p in batch]
    for j, p in enumerate(batch):
        if p.negative is None:  # no negative found: a padding column nobody may pick
            mask[:, n + j] = True
            continue
        for i, pm in enumerate(pos):
            if pm == p.negative_pmid:
                mask[i, n + j] = True
    return mask


# --- data, checkpoints ------------------------------------------------------------------------


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """torch.save to a temporary file, fsync, rename: a kill leaves the old or the new one."""
    torch = _torch()
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as f:
        torch.save(state, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    info = {"step": state["step"], "total_steps": state["total_steps"]}
    atomic_write_bytes(path.with_suffix(".json"), json.dumps(info).encode())


def load_checkpoint(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    return _torch().load(path, map_location="cpu", weights_only=False)


def check_out_dir(out: Path, s: TuneSettings, fingerprint: str) -> None:
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
    stamp.write_text(fingerprint)


def _checkpointing(model: Any, enable: bool) -> None:
    """Activation (gradient) checkpointing on or off, by this transformers' name for it."""
    verb = "enable" if enable else "disable"
    fn = getattr(model, f"activation_checkpointing_{verb}", None)
    (fn or getattr(model, f"gradient_checkpointing_{verb}"))()


def write_output(out: Path, model: Any, tokenizer: Any, report: dict[str, Any]) -> None:
    """The model directory; the tuning report is written last and marks it complete."""
    from transformers.utils import logging as hf_logging

    if report["settings"]["gradient_checkpointing"]:
        _checkpointing(model, enable=False)
    hf_logging.disable_progress_bar()
    try:
        model.save_pretrained(out)
        tokenizer.save_pretrained(out)
    finally:
        hf_logging.enable_progress_bar()
    report["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    atomic_write_bytes(out / TUNING_FILE, json.dumps(report, indent=2).encode())
    shutil.rmtree(out / STATE_DIR, ignore_errors=True)


def _load_base(s: TuneSettings, device: str) -> tuple[Any, Any, str]:
    """(tokenizer, model, fingerprint) of the base model, loaded as ``build`` loads models."""
    from indexer.encoder import Encoder, EncoderConfig, ModelLoadError

    try:
        enc = Encoder.load(EncoderConfig(model=s.model, pooling=s.pooling, device=device))
    except ModelLoadError as e:
        raise TuneError(str(e)) from e
    if s.gradient_checkpointing:
        _checkpointing(enc.model, enable=True)
    return enc.tokenizer, enc.model, enc.fingerprint


def _optimizer(model: Any, temp: Temperature, s: TuneSettings, total: int) -> tuple[Any, Any]:
    torch = _torch()
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.ndim < 2 or "LayerNorm" in name else decay).append(p)
    groups = [
        {"params": decay, "weight_decay": s.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    if temp.log_tau.requires_grad:  # the temperature learns faster than the weights
        groups.append({"params": [temp.log_tau], "weight_decay": 0.0, "lr": max(s.lr, 1e-3)})
    opt = torch.optim.AdamW(groups, lr=s.lr)
    warmup = max(1, int(s.warmup_ratio * total))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(1, total - warmup))

    return opt, torch.optim.lr_scheduler.LambdaLR(opt, factor)


def _rng_state() -> dict[str, Any]:
    torch = _torch()
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch = _torch()
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _batches(n: int, batch_size: int, seed: int, epoch: int) -> list[np.ndarray]:
    """The epoch's batches: a permutation seeded by (seed, epoch); a last batch of 1 dropped."""
    perm = np.random.default_rng([seed, epoch]).permutation(n)
    out = [perm[i : i + batch_size] for i in range(0, n, batch_size)]
    return [b for b in out if len(b) >= 2]


def _step_loss(model: Any, tokenizer: Any, batch: list[Pair], temp: Temperature,
               s: TuneSettings, device: str) -> Any:  # fmt: skip
    torch = _torch()
    q = encode(model, tokenizer, [p.query for p in batch], s.query_max_length, s.pooling, device)
    docs = [p.positive for p in batch]
    mask = None
    if s.hard_negatives != "none":
        docs += [p.negative or "" for p in batch]
        mask = _negative_mask(batch, device)
    d = encode(model, tokenizer, docs, s.max_length, s.pooling, device)
    return info_nce(q.float(), d.float(), temp.value(), mask) if len(d) else torch.zeros(())


def _run(out: Path, train: list[Pair], heldout: list[Pair], s: TuneSettings,
         started: float) -> TuneResult:  # fmt: skip
    torch = _torch()
    device = resolve_device(s.device)
    tokenizer, model, base_fingerprint = _load_base(s, device)
    temp = Temperature(s.temperature, device)
    per_epoch = len(_batches(len(train), s.batch_size, s.seed, 0))
    total = per_epoch * s.epochs
    opt, sched = _optimizer(model, temp, s, total)
    scaler = torch.amp.GradScaler("cuda", enabled=device == "cuda" and not
                                  torch.cuda.is_bf16_supported())  # fmt: skip
    ckpt_path = out / STATE_DIR / "checkpoint.pt"
    ckpt = load_checkpoint(ckpt_path)
    if ckpt is None:
        torch.manual_seed(s.seed)
        before = evaluate(model, tokenizer, heldout, s, device)
        step, curve, resumed = 0, [], []
    else:
        model.load_state_dict(ckpt["model"])
        temp.log_tau.data.fill_(float(ckpt["log_tau"]))
        opt.load_state_dict(ckpt["optimizer"])
        sched.load_state_dict(ckpt["scheduler"])
        scaler.load_state_dict(ckpt["scaler"])
        _set_rng_state(ckpt["rng"])
        step, curve, before = ckpt["step"], ckpt["curve"], ckpt["before"]
        resumed = [*ckpt["resumed"], step]
        log.info("resuming tuning from step %d of %d", step, total)
        print(f"resuming from step {step} of {total}", flush=True)

    def checkpoint() -> None:
        state = {"model": model.state_dict(), "log_tau": float(temp.log_tau.detach()), "step": step,
                 "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                 "scaler": scaler.state_dict(), "rng": _rng_state(), "curve": curve,
                 "before": before, "resumed": resumed, "total_steps": total}  # fmt: skip
        save_checkpoint(ckpt_path, state)

    log_every = max(1, total // 200)
    sleep = float(os.environ.get("PUBMED_SEARCH_TUNE_STEP_SLEEP") or 0)  # test hook
    from tqdm.auto import tqdm

    bar = tqdm(total=total, initial=step, unit="step", desc="tuning", dynamic_ncols=True,
               disable=not s.show_progress)  # fmt: skip
    model.train()
    running: list[float] = []
    try:
        while step < total:
            epoch, index = divmod(step, per_epoch)
            idx = _batches(len(train), s.batch_size, s.seed, epoch)[index]
            loss = _step_loss(model, tokenizer, [train[i] for i in idx], temp, s, device)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            scaler.step(opt)
            scaler.update()
            sched.step()
            step += 1
            last = float(loss.detach())
            running.append(last)
            if step % log_every == 0 or step == total:
                curve.append([step, float(np.mean(running)), temp.current()])
                running = []
            bar.set_postfix(loss=f"{last:.4f}", tau=f"{temp.current():.4f}")
            bar.update(1)
            if step % s.checkpoint_every == 0 or step == total:
                checkpoint()
            if sleep:
                time.sleep(sleep)
    finally:
        bar.close()
    after = evaluate(model, tokenizer, heldout, s, device)
    seconds = time.monotonic() - started
    report = {
        "format": 1,
        "base_model": s.model,
        "base_fingerprint": base_fingerprint,
        "pooling": s.pooling,
        "max_length": s.max_length,
        "query_max_length": s.query_max_length,
        "settings": {**asdict(s), "exclude_pmids": len(s.exclude_pmids)},
        "pairs": {
            "train": len(train),
            "heldout": len(heldout),
            "title": sum(p.kind == "title" for p in train),
            "ict": sum(p.kind == "ict" for p in train),
            "with_negative": sum(p.negative is not None for p in train),
        },
        "steps": total,
        "steps_per_epoch": per_epoch,
        "resumed_from_steps": resumed,
        "temperature": temp.current(),
        "loss_curve": curve,
        "heldout": {"before": before, "after": after},
        "heldout_pmids": sorted(p.pmid for p in heldout),
        "device": device,
        "seconds_this_run": round(seconds, 1),
    }
    write_output(out, model, tokenizer, report)
    return TuneResult(out, total, len(train), len(heldout), before, after, seconds, resumed)


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
        )
    except NotEnoughPairs as e:
        raise TuneError(str(e)) from e
    return _run(out, train, heldout, settings, started)
