"""`pubmed-search build`: build or incrementally update an index directory."""

from __future__ import annotations

import os

import click

from indexer.models.device import DEVICES, QUANTIZATIONS
from indexer.models.pooling import POOLINGS
from pubmed_search.cli import Command

INDEX_TYPES = "auto|flat|hnsw|ivf|ivfpq|ivfpqM|opqM|sq8|sqfp16|FAISS_FACTORY_STRING"


@click.command("build", cls=Command)
@click.option(
    "--index",
    "index_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Index directory to create or update.",
)
@click.option(
    "--db",
    "db_url",
    default=None,
    help="SQLAlchemy URL of the metadata store (default: SQLite inside --index), "
    "e.g. postgresql+psycopg://user@host/db.",
)
@click.option(
    "--model",
    default=None,
    help="Encoder: a Hugging Face hub id or a local directory "
    "[default: michiyasunaga/BioLinkBERT-base].",
)
@click.option(
    "--query-model",
    default=None,
    help="Separate query encoder of an asymmetric pair (e.g. MedCPT's).",
)
@click.option(
    "--pooling",
    type=click.Choice(POOLINGS),
    default=None,
    help="Pooling of token vectors [default: mean].",
)
@click.option(
    "--max-length",
    type=click.IntRange(8, 8192),
    default=None,
    help="Tokens per article [default: 512].",
)
@click.option(
    "--batch-size",
    type=click.IntRange(1, 4096),
    default=None,
    help="Encoder batch size [default: 16].",
)
@click.option(
    "--index-type", default=None, metavar=INDEX_TYPES, help="FAISS index type [default: auto]."
)
@click.option(
    "--quantize",
    type=click.Choice(QUANTIZATIONS),
    default=None,
    help="Dynamic int8 quantisation of the encoder on CPU [default: none].",
)
@click.option(
    "--device",
    type=click.Choice(DEVICES),
    default=None,
    help="Where the encoder runs [default: auto].",
)
@click.option(
    "--chunk-size",
    type=click.IntRange(1, 1_000_000),
    default=None,
    help="Articles per encoding checkpoint [default: 1024].",
)
@click.option(
    "--ray",
    "ray_address",
    is_flag=False,
    flag_value="local",
    default=None,
    metavar="[ADDRESS]",
    help="Parse, embed and index on a Ray cluster: --ray=ADDRESS (ray://host:10001, or "
    "host:6379), or --ray / --ray=local to start or attach a local one. Input files must "
    "be readable on every worker. Needs pip install 'pubmed-search[distributed]'.",
)
@click.option(
    "--ray-concurrency",
    type=click.IntRange(1, 4096),
    default=None,
    help="Model actors embedding in parallel with --ray [default: one per CPU].",
)
@click.option(
    "--strict",
    is_flag=True,
    help="Stop at the first input file that cannot be read to its end (exit 1, nothing "
    "published). Default: keep its records before the fault, build the other files, name "
    "the bad ones and exit 5.",
)
@click.option(
    "--force",
    is_flag=True,
    default=None,
    help="Apply inputs the index's ledger says were applied already, and NLM files older "
    "than one already applied (default: skip the former, refuse the latter).",
)
@click.option(
    "--replace",
    is_flag=True,
    default=None,
    help="The inputs are the whole collection (a new annual baseline): articles in none of "
    "them are deleted in the new version; unchanged articles keep their vectors.",
)
@click.option(
    "--calibrate/--no-calibrate",
    default=None,
    help="Measure the hybrid fusion on the collection's own title/abstract pairs and record "
    "it in the manifest (on the first build and after the collection doubles; default on). "
    "--no-calibrate keeps the previous fusion, or records the default (RRF, k 60, 1/1).",
)
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(dir_okay=False))
def command(
    index_dir: str,
    inputs: tuple[str, ...],
    no_progress: bool,
    ray_address: str | None,
    ray_concurrency: int | None,
    **options,
) -> None:
    """Build an index from PubMed XML (.xml, .xml.gz; baseline or update files) and JSONL
    (.jsonl, .jsonl.gz) INPUTS, or update the index already in --index with them.

    Re-running after an interruption resumes from the last checkpoint. Inputs the index's
    ledger records as applied (same name and MD5) are skipped, and say so. An input file that
    breaks off (entity bomb, invalid UTF-8, truncated gzip) is named on stderr and the exit
    status is 5 once the other files are built and published; --strict stops at it.
    """
    from indexer.build import InputFilesFailed, build
    from indexer.build.settings import BuildSettings

    overrides = dict(options)
    if not overrides.get("strict"):
        overrides.pop("strict", None)  # not given: PUBMED_SEARCH_STRICT may still say so
    if no_progress:
        overrides["show_progress"] = False
    settings = BuildSettings.from_env(overrides).validate()  # before anything is read or loaded
    if ray_address is not None and os.path.isfile(ray_address):
        # `--ray FILE...`: click took the first input for the optional address
        inputs, ray_address = (ray_address, *inputs), "local"
    if ray_address is not None:
        from indexer.build.distributed import build_distributed

        summary = build_distributed(
            index_dir, list(inputs), settings, address=ray_address, concurrency=ray_concurrency
        )
    else:
        summary = build(index_dir, list(inputs), settings)
    click.echo(summary.line())
    failed = getattr(summary, "failed_files", None)
    if failed:
        raise InputFilesFailed(failed)  # after the summary: exit 5
