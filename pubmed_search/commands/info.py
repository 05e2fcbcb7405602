"""`pubmed-search info`: print an index directory's manifest."""

from __future__ import annotations

import click


@click.command("info")
@click.option("--index", "index_dir", required=True, type=click.Path(file_okay=False))
def command(index_dir: str) -> None:
    """Show the published manifest of --index (model, fingerprint, FAISS type, counts)."""
    from indexer.manifest import IndexDir, IndexFormatError

    try:
        manifest = IndexDir(index_dir).read_manifest()
    except IndexFormatError as e:
        raise click.ClickException(str(e)) from e
    click.echo(manifest.to_json())
