"""`pubmed-search sync`: mirror NLM's bulk files and keep an index current with them."""

from __future__ import annotations

from pathlib import Path

import click

from pubmed_search.cli import Command


@click.command("sync", cls=Command)
@click.option(
    "--mirror",
    required=True,
    type=click.Path(file_okay=False),
    help="Local mirror directory (baseline/ and updatefiles/ as on NLM's server).",
)
@click.option(
    "--index",
    "index_dir",
    default=None,
    type=click.Path(file_okay=False),
    help="Index to apply the new files to, in NLM's order, each once (created if new).",
)
@click.option("--baseline-only", is_flag=True, help="Only the annual baseline files.")
@click.option("--updates-only", is_flag=True, help="Only the daily update files.")
@click.option(
    "--from",
    "from_number",
    type=click.IntRange(1, 9999),
    default=None,
    metavar="NNNN",
    help="Only files numbered NNNN or later (pubmedYYnNNNN.xml.gz).",
)
@click.option(
    "--jobs",
    type=click.IntRange(1, 16),
    default=3,
    show_default=True,
    help="Downloads at a time (NLM asks for few connections).",
)
@click.option(
    "--model",
    default=None,
    help="Encoder of a new index (default: the index's own, else BioLinkBERT-base); other "
    "build settings come from PUBMED_SEARCH_* variables.",
)
@click.option(
    "--url",
    default=None,
    help="Base URL [env PUBMED_SEARCH_NLM_URL; default https://ftp.ncbi.nlm.nih.gov/pubmed/].",
)
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def command(
    mirror: str,
    index_dir: str | None,
    baseline_only: bool,
    updates_only: bool,
    from_number: int | None,
    jobs: int,
    model: str | None,
    url: str | None,
    no_progress: bool,
) -> None:
    """Download the PubMed baseline and update files NLM publishes that --mirror lacks
    (resuming partial downloads, checking each against its .md5), then, with --index, apply
    every downloaded file the index has not applied yet, in NLM's order. A new annual
    baseline is applied as a new version that replaces the collection, while the old
    version keeps serving. Exit status 5 when a file could not be downloaded or verified.
    """
    from indexer.build import BuildSettings, InputFilesFailed
    from indexer.sync import SyncIncomplete, SyncSettings, sync

    if baseline_only and updates_only:
        raise click.UsageError("--baseline-only and --updates-only exclude each other")
    overrides = {"model": model, "show_progress": False if no_progress else None}
    settings = SyncSettings(
        mirror=Path(mirror),
        index=Path(index_dir) if index_dir else None,
        baseline=not updates_only,
        updates=not baseline_only,
        from_number=from_number,
        jobs=jobs,
        url=url,
        show_progress=not no_progress,
        build=BuildSettings.from_env(overrides).validate(),
    )
    report = sync(settings)
    click.echo(report.line())
    if report.failed:
        names = ", ".join(name for name, _ in report.failed)
        raise SyncIncomplete(f"{len(report.failed)} file(s) not downloaded: {names}")
    if report.build is not None and report.build.failed_files:
        raise InputFilesFailed(report.build.failed_files)
