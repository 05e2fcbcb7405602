"""`pubmed-search info`: print an index directory's manifest."""

from __future__ import annotations

import json
from dataclasses import asdict

import click

from pubmed_search.cli import Command
from pubmed_search.options import index_option


@click.command("info", cls=Command)
@index_option
@click.option(
    "--ledger",
    "full_ledger",
    is_flag=True,
    help="Print every applied input file (name, MD5, bytes, kind, version) as JSON lines.",
)
def command(index_dir: str, full_ledger: bool) -> None:
    """Show the published manifest of --index (model, fingerprint, FAISS type, counts, the
    hybrid fusion and how it was chosen) as JSON; its ledger of applied input files is
    summarised (files applied, the last NLM baseline and update file) unless --ledger prints
    it whole."""
    from indexer.build.ledger import last_of
    from indexer.manifest import IndexDir

    manifest = IndexDir(index_dir).read_manifest()
    if full_ledger:
        for entry in manifest.ledger:
            click.echo(json.dumps(entry, sort_keys=True))
        return
    data = asdict(manifest)
    fusion = manifest.hybrid_fusion  # an index built before fusion was recorded: the default
    data["fusion"] = {**fusion.to_dict(), "summary": fusion.describe()}
    data["ledger"] = {
        "files": len(manifest.ledger),
        "last_baseline": _entry(last_of(manifest.ledger, "baseline")),
        "last_update": _entry(last_of(manifest.ledger, "update")),
    }
    click.echo(json.dumps(data, indent=2, sort_keys=True))


def _entry(entry: object) -> dict | None:
    return None if entry is None else asdict(entry)  # type: ignore[call-overload]
