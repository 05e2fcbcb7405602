"""`pubmed-search info`: print an index directory's manifest."""

from __future__ import annotations

import click

from pubmed_search.cli import Command
from pubmed_search.options import index_option


@click.command("info", cls=Command)
@index_option
def command(index_dir: str) -> None:
    """Show the published manifest of --index (model, fingerprint, FAISS type, counts)."""
    from indexer.manifest import IndexDir

    click.echo(IndexDir(index_dir).read_manifest().to_json())
