"""The training loop of ``indexer.tune``, resumable from ``OUT/.tune/checkpoint.pt``.

Every ``checkpoint_every`` steps the model, temperature, optimizer, scheduler, grad scaler,
RNG states, step and loss curve are written atomically (``save_checkpoint``); ``run`` continues
from the checkpoint when there is one. Batches are a permutation seeded by (seed, epoch), so a
resumed run sees the same batches as an uninterrupted one.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from indexer import durable
from indexer.models.device import resolve_device
from indexer.tune.data import Pair
from indexer.tune.model import (
    Temperature,
    encode,
    evaluate,
    import_torch,
    info_nce,
    load_base,
    negative_mask,
    write_output,
)
from indexer.tune.settings import STATE_DIR, TuneError, TuneResult, TuneSettings

log = logging.getLogger(__name__)


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """torch.save through ``indexer.durable``: a kill leaves the old checkpoint or the new one."""
    torch = import_torch()
    with durable.replacing(path) as tmp:
        torch.save(state, tmp)
    info = {"step": state["step"], "total_steps": state["total_steps"]}
    durable.write_text(path.with_suffix(".json"), json.dumps(info))


def load_checkpoint(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    return import_torch().load(path, map_location="cpu", weights_only=False)


def _optimizer(model: Any, temp: Temperature, s: TuneSettings, total: int) -> tuple[Any, Any]:
    torch = import_torch()
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
    torch = import_torch()
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch = import_torch()
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
    torch = import_torch()
    q = encode(model, tokenizer, [p.query for p in batch], s.query_max_length, s.pooling, device)
    docs = [p.positive for p in batch]
    mask = None
    if s.hard_negatives != "none":
        docs += [p.negative or "" for p in batch]
        mask = negative_mask(batch, device)
    d = encode(model, tokenizer, docs, s.max_length, s.pooling, device)
    return info_nce(q.float(), d.float(), temp.value(), mask) if len(d) else torch.zeros(())


def run(out: Path, train: list[Pair], heldout: list[Pair], s: TuneSettings,
         started: float) -> TuneResult:  # fmt: skip
    """Train on ``train`` (resuming a checkpoint in ``out``), evaluate on ``heldout``, save."""
    torch = import_torch()
    device = resolve_device(s.device, lambda reason: TuneError(f"{reason}; use --device cpu"))
    tokenizer, model, base_fingerprint = load_base(s, device)
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
            "cites": sum(p.kind == "cites" for p in train),
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
