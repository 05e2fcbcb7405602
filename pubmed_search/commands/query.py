"""`pubmed-search query`: search an index from the command line."""

from __future__ import annotations

import json
import textwrap

import click

MODES = ("hybrid", "dense", "lexical")


def _highlight(snippet) -> str:
    """The snippet with its matches in bold (click drops the styling when not on a terminal)."""
    out, pos = [], 0
    for start, end in snippet.highlights:
        out.append(snippet.text[pos:start])
        out.append(click.style(snippet.text[start:end], bold=True))
        pos = end
    out.append(snippet.text[pos:])
    return "".join(out)


def _print_text(response) -> None:
    total = "?" if response.total is None else f"{response.total:,}"
    click.echo(
        f"{total} matches — {response.mode}, page {response.page}, "
        f"{response.took_ms:.0f} ms, model {response.model}"
    )
    for hit in response.hits:
        year = hit.year if hit.year is not None else "----"
        click.echo(f"\n{hit.rank:>3}. {hit.score:.4f}  PMID {hit.pmid}  {year}  {hit.journal}")
        click.echo(
            textwrap.fill(
                hit.title or "(no title)", 96, initial_indent=" " * 5, subsequent_indent=" " * 5
            )
        )
        if hit.snippet.text:
            click.echo(" " * 5 + _highlight(hit.snippet))
    if not response.hits:
        click.echo("no results")


@click.command("query")
@click.option(
    "--index",
    "index_dir",
    required=True,
    type=click.Path(file_okay=False, exists=True),
    help="Index directory (built by `pubmed-search build`).",
)
@click.option(
    "--mode",
    type=click.Choice(MODES),
    default="hybrid",
    show_default=True,
    help="dense (embeddings), lexical (BM25) or hybrid (both, fused by RRF).",
)
@click.option(
    "-k", "k", type=click.IntRange(1, 100), default=10, show_default=True, help="Results per page."
)
@click.option("--page", type=click.IntRange(1, None), default=1, show_default=True)
@click.option("--year-from", type=click.IntRange(0, 9999), default=None, help="Earliest year.")
@click.option("--year-to", type=click.IntRange(0, 9999), default=None, help="Latest year.")
@click.option("--journal", default=None, help="Journal title or ISO abbreviation.")
@click.option("--mesh", default=None, help="MeSH descriptor name or UI (e.g. D001249).")
@click.option("--pubtype", default=None, help='Publication type, e.g. "Review".')
@click.option(
    "--has-abstract/--no-abstract",
    "has_abstract",
    default=None,
    help="Only articles with (or without) an abstract.",
)
@click.option(
    "--model",
    default=None,
    help="Local copy of the index's model (must have the same fingerprint).",
)
@click.option(
    "--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True
)
@click.option("--json", "as_json", is_flag=True, help="Print the response as JSON.")
@click.argument("text")
def command(
    index_dir: str,
    mode: str,
    k: int,
    page: int,
    year_from: int | None,
    year_to: int | None,
    journal: str | None,
    mesh: str | None,
    pubtype: str | None,
    has_abstract: bool | None,
    model: str | None,
    device: str,
    as_json: bool,
    text: str,
) -> None:
    """Search --index for TEXT and print the ranked articles (rank, score, PMID, year,
    journal, title, snippet)."""
    from indexer.filters import Filters
    from indexer.manifest import IndexFormatError
    from search import ModelMismatchError, SearchEngine

    if not text.strip():
        raise click.BadParameter("the query is empty", param_hint="TEXT")
    if year_from is not None and year_to is not None and year_from > year_to:
        raise click.BadParameter(
            f"--year-from {year_from} is after --year-to {year_to}", param_hint="--year-from"
        )
    filters = Filters(
        year_from=year_from,
        year_to=year_to,
        journal=journal,
        mesh=mesh,
        pubtype=pubtype,
        has_abstract=has_abstract,
    )
    try:
        engine = SearchEngine.open(index_dir, model=model, device=device)
    except ModelMismatchError as e:
        raise click.BadParameter(str(e), param_hint="--model") from e
    except (IndexFormatError, OSError) as e:
        raise click.ClickException(str(e)) from e
    try:
        response = engine.search(text, k=k, mode=mode, filters=filters, page=page)
    except ValueError as e:
        raise click.UsageError(str(e)) from e
    finally:
        engine.close()
    if as_json:
        click.echo(json.dumps(response.to_dict(), indent=2, ensure_ascii=False))
    else:
        _print_text(response)
