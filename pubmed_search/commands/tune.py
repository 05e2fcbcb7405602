"""`pubmed-search tune`: adapt an encoder to your own collection (contrastive, no labels)."""

from __future__ import annotations

import re
from pathlib import Path

import click

from indexer.models.device import DEVICES
from indexer.models.pooling import POOLINGS
from indexer.tune.data import PAIR_SOURCES
from pubmed_search.cli import Command


def _read_pmids(path: str) -> list[int]:
    """PMIDs from a file: one per line, or JSONL with a "pmid" field (e.g. evaluation queries)."""
    pmids = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        m = re.search(r'"pmid"\s*:\s*"?(\d+)', line) or re.fullmatch(r"\s*(\d+)\s*", line)
        if m:
            pmids.append(int(m.group(1)))
    return pmids


@click.command("tune", cls=Command)
@click.option("--model", required=True, help="Base encoder: a hub id or a local directory.")
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="New directory for the tuned model (rerun the same command to resume).",
)
@click.option("--epochs", type=click.IntRange(1, 1000), default=1, show_default=True)
@click.option("--batch-size", type=click.IntRange(2, 65536), default=32, show_default=True)
@click.option(
    "--max-length",
    type=click.IntRange(8, 8192),
    default=256,
    show_default=True,
    help="Tokens per abstract (positives and negatives).",
)
@click.option(
    "--query-max-length",
    type=click.IntRange(4, 8192),
    default=64,
    show_default=True,
    help="Tokens per query (title or sentence).",
)
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=2e-5, show_default=True)
@click.option("--warmup-ratio", type=click.FloatRange(0, 1), default=0.1, show_default=True)
@click.option(
    "--temperature",
    type=click.FloatRange(0.01, 1.0),
    default=None,
    help="Fixed InfoNCE temperature [default: learnable, starting at 0.05].",
)
@click.option("--pooling", type=click.Choice(POOLINGS), default="mean", show_default=True)
@click.option(
    "--hard-negatives",
    type=click.Choice(["none", "bm25"]),
    default="none",
    show_default=True,
    help="bm25: add each query's best lexical non-positive match as a hard negative.",
)
@click.option(
    "--index",
    "index_dir",
    default=None,
    type=click.Path(file_okay=False, exists=True),
    help="Index whose store gives the bm25 negatives [default: BM25 over the tuning pairs].",
)
@click.option(
    "--pairs",
    type=click.Choice(PAIR_SOURCES),
    default="text",
    show_default=True,
    help="text: title -> abstract (or sentence -> rest); citations: citing title -> cited "
    "article, both in the inputs; both: the two kinds.",
)
@click.option("--device", type=click.Choice(DEVICES), default="auto")
@click.option(
    "--max-pairs", type=click.IntRange(1), default=None, help="Cap on training pairs (seeded)."
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--holdout-fraction",
    type=click.FloatRange(0, 0.5, max_open=True),
    default=0.02,
    show_default=True,
    help="Pairs held out for the before/after known-item check (at least 50 when possible).",
)
@click.option(
    "--checkpoint-every", type=click.IntRange(1), default=200, show_default=True, help="Steps."
)
@click.option("--gradient-checkpointing", is_flag=True, help="Trade compute for memory.")
@click.option(
    "--exclude-pmids",
    type=click.Path(dir_okay=False, exists=True),
    default=None,
    help="Never train on these PMIDs (file: one per line, or JSONL with a pmid field), "
    "e.g. the articles of your evaluation queries.",
)
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(dir_okay=False, exists=True))
def command(
    inputs: tuple[str, ...],
    out_dir: str,
    exclude_pmids: str | None,
    no_progress: bool,
    **options,
) -> None:
    """Tune --model on (title -> abstract) pairs, or (sentence -> rest of abstract) where there
    is no title, from PubMed XML / JSONL INPUTS, and write a model directory to --out that
    `pubmed-search build --model OUT` uses like any other model.
    """
    from indexer.tune import TuneSettings, tune

    settings = TuneSettings(
        **options,
        exclude_pmids=_read_pmids(exclude_pmids) if exclude_pmids else (),
        show_progress=not no_progress,
    )
    if settings.index_dir and settings.hard_negatives != "bm25":
        click.echo("note: --index is used only with --hard-negatives bm25", err=True)
    click.echo(tune(list(inputs), out_dir, settings).line())
