"""`pubmed-search query`: search an index from the command line."""

from __future__ import annotations

import json
import re
import textwrap

import click

from indexer.models.device import DEVICES
from pubmed_search.cli import Command
from pubmed_search.options import index_model_option, index_option, search_options
from search.params import MAX_DEPTH, PARAM

# Terminal escape sequences (CSI ... final, OSC/DCS/APC/PM/SOS ... BEL or ST, two-byte ESC x),
# in their 7-bit (ESC) and 8-bit (C1) forms, then any control left but tab and newline.
_ESCAPES = re.compile(
    r"(?:\x1b\[|\x9b)[\x20-\x3f]*[\x40-\x7e]?"
    r"|(?:\x1b[\]PX^_]|[\x9d\x90\x98\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[\x20-\x7e]?"
)
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def terminal_safe(text: object) -> str:
    """``text`` as it may reach a terminal: escape sequences and controls removed.

    Ingest drops controls (:mod:`indexer.ingest.controls`); this is for indexes built before.
    """
    return _CONTROLS.sub("", _ESCAPES.sub("", str(text)))


def _styled(text: str, start: int, highlights: list[tuple[int, int]]) -> str:
    """``text`` (found at offset ``start`` of the snippet) with highlighted spans in bold."""
    out, pos = [], 0
    for a, b in highlights:
        a, b = max(a - start, 0), min(b - start, len(text))
        if a >= b or a < pos:
            continue
        out += [text[pos:a], click.style(text[a:b], bold=True)]
        pos = b
    return "".join([*out, text[pos:]])


def _snippet_lines(snippet, width: int = 92) -> list[str]:
    """The snippet wrapped at ``width``, its matches in bold (click drops styling off a tty)."""
    lines, pos = [], 0
    text = terminal_safe(snippet.text)
    if text != snippet.text:  # offsets no longer match: print it unhighlighted
        return textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False)
    for line in textwrap.wrap(snippet.text, width, break_long_words=False, break_on_hyphens=False):
        start = snippet.text.index(line, pos)
        lines.append(_styled(line, start, snippet.highlights))
        pos = start + len(line)
    return lines


def _print_text(response) -> None:
    total = "?" if response.total is None else f"{response.total:,}"
    click.echo(
        f"{total} matches — {response.mode}, page {response.page}, "
        f"{response.took_ms:.0f} ms, model {terminal_safe(response.model)}"
    )
    if getattr(response, "reranked", False):
        click.echo(f"re-ranked by a cross-encoder in {response.rerank_ms:.0f} ms")
    for hit in response.hits:
        year = hit.year if hit.year is not None else "----"
        journal = terminal_safe(hit.journal)
        marks = "".join(
            f"  [{label}]"
            for label, on in (("RETRACTED", hit.mark.retracted), ("CONCERN", hit.mark.concern))
            if on
        )
        click.echo(f"\n{hit.rank:>3}. {hit.score:.4f}  PMID {hit.pmid}  {year}  {journal}{marks}")
        click.echo(
            textwrap.fill(
                terminal_safe(hit.title) or "(no title)",
                96,
                initial_indent=" " * 5,
                subsequent_indent=" " * 5,
            )
        )
        for line in _snippet_lines(hit.snippet):
            click.echo(" " * 5 + line)
        if hit.passage is not None:
            _print_passage(hit.passage)
    if not response.hits:
        click.echo("no results")
    if response.facets is not None:
        _print_facets(response.facets)


def _print_passage(passage) -> None:
    """The passage (``--passages``): its section, offsets and token count, then its text."""
    label = terminal_safe(passage.section) if passage.section else "abstract"
    click.echo(
        f"     passage [{label}] chars {passage.start}-{passage.end}, {passage.tokens} tokens:"
    )
    text = terminal_safe(passage.text)
    for line in textwrap.wrap(text, 90, break_long_words=False, break_on_hyphens=False):
        click.echo(" " * 7 + line)


FACET_NAMES = (("journal", "journals"), ("mesh", "MeSH"), ("pubtype", "publication types"))
FACET_LINE = 96


def _facet_line(label: str, items: list[str]) -> str:
    """``label: a 3, b 2, ...`` cut to one terminal line."""
    line = f"{label}: " + (", ".join(items) if items else "-")
    return line if len(line) <= FACET_LINE else line[: FACET_LINE - 1] + "…"


def _print_facets(facets) -> None:
    """The facet counts, one line each: years (ranges of consecutive years collapsed into
    ``first-last``), then the top journals, MeSH descriptors and publication types."""
    click.echo("\nfacets (whole match set):")
    years = [f"{y} {n}" for y, n in facets.years]
    if len(years) > 12:
        first, last = facets.years[0][0], facets.years[-1][0]
        peak = max(facets.years, key=lambda x: (x[1], x[0]))
        years = [f"{first}-{last}, {len(facets.years)} years, most in {peak[0]} ({peak[1]})"]
    click.echo("  " + _facet_line("years", years))
    for name, label in FACET_NAMES:
        items = [f"{terminal_safe(v)} {n}" for v, n in getattr(facets, name)]
        click.echo("  " + _facet_line(label, items))


@click.command("query", cls=Command)
@index_option
@search_options
@index_model_option
@click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True)
@click.option(
    "--rerank",
    "rerank_model",
    default=None,
    metavar="MODEL",
    help="Re-rank the top candidates with this cross-encoder (hub id or directory), "
    "e.g. ncbi/MedCPT-Cross-Encoder.",
)
@click.option(
    "--rerank-top-n",
    type=click.IntRange(1, 1000),
    default=50,
    show_default=True,
    help="Candidates the cross-encoder re-ranks.",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the page as JSON: the same object /api/search returns.",
)
@click.argument("text")
def command(
    index_dir: str,
    mode: str,
    syntax: str,
    facets: bool,
    k: int,
    page: int,
    year_from: int | None,
    year_to: int | None,
    journal: str | None,
    mesh: str | None,
    pubtype: str | None,
    has_abstract: bool | None,
    exclude_retracted: bool | None,
    model: str | None,
    device: str,
    as_json: bool,
    text: str,
    rerank_model: str | None = None,
    rerank_top_n: int = 50,
    nprobe: int | None = None,
    ef_search: int | None = None,
    passages: bool = False,
    prf: bool = False,
) -> None:
    """Search --index for TEXT and print the ranked articles (rank, score, PMID, year,
    journal, title, snippet); with --passages, each one's best-matching passage (section,
    character offsets into the abstract); with --facets, the counts by year, journal, MeSH
    descriptor and publication type after them. With --syntax pubmed, TEXT is a PubMed-style
    expression, e.g. 'asthma[ti] AND 2015:2024[dp]'."""
    from indexer.filters import Filters
    from search import ModelMismatchError, SearchEngine
    from search.pages import page_dict
    from search.rerank import RerankerLoadError

    if not text.strip():
        raise click.BadParameter("the query is empty", param_hint="TEXT")
    limit = PARAM["q"].max_chars
    if len(text) > limit:  # type: ignore[operator]
        raise click.BadParameter(f"at most {limit} characters, got {len(text)}", param_hint="TEXT")
    if k * page > MAX_DEPTH:
        raise click.BadParameter(
            f"page * k must be at most {MAX_DEPTH} (got {page} * {k})", param_hint="--page"
        )
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
        exclude_retracted=exclude_retracted,
    )
    try:
        engine = SearchEngine.open(
            index_dir,
            model=model,
            device=device,
            reranker=rerank_model,
            rerank_top_n=rerank_top_n,
        )
    except RerankerLoadError as e:
        raise click.BadParameter(str(e), param_hint="--rerank") from e
    except ModelMismatchError as e:
        raise click.BadParameter(str(e), param_hint="--model") from e
    try:
        response = engine.search(
            text,
            k=k,
            mode=mode,
            filters=filters,
            page=page,
            rerank=bool(rerank_model),
            nprobe=nprobe,
            ef_search=ef_search,
            syntax=syntax,
            facets=facets,
            passages=passages,
            prf=prf,
        )
    finally:
        engine.close()
    if as_json:
        click.echo(json.dumps(page_dict(response), indent=2, ensure_ascii=False))
    else:
        _print_text(response)
