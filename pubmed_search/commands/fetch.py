"""`pubmed-search fetch`: download PubMed records (NCBI E-utilities) into a PubMed XML file."""

from __future__ import annotations

import sys

import click

from pubmed_search.cli import Command


def _date(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    from indexer.ingest.fetch import ncbi_date, parse_date

    try:
        return ncbi_date(parse_date(value, end=param.name == "maxdate"))
    except ValueError as e:
        raise click.BadParameter(str(e)) from e


@click.command("fetch", cls=Command)
@click.option("--query", default=None, help="PubMed search, e.g. 'asthma[mh] AND budesonide'.")
@click.option(
    "--pmids",
    "pmids_file",
    default=None,
    type=click.Path(dir_okay=False),
    help="File with one PMID per line (instead of --query).",
)
@click.option("--max", "max_records", type=click.IntRange(1), default=None, help="At most N.")
@click.option("--mindate", callback=_date, help="YYYY/MM/DD (or YYYY/MM, YYYY).")
@click.option("--maxdate", callback=_date, help="YYYY/MM/DD (or YYYY/MM, YYYY).")
@click.option(
    "--datetype",
    type=click.Choice(["pdat", "edat", "mdat"]),
    default="pdat",
    show_default=True,
    help="Date the range applies to: publication, Entrez or modification date.",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False),
    help="Output PubMed XML file (gzip'd when it ends in .gz).",
)
@click.option("--email", default=None, help="Your e-mail, sent to NCBI [env NCBI_EMAIL].")
@click.option(
    "--base-url",
    default=None,
    help="E-utilities base URL [env PUBMED_SEARCH_EUTILS_URL; "
    "default https://eutils.ncbi.nlm.nih.gov/entrez/eutils/].",
)
@click.option(
    "--batch-size",
    type=click.IntRange(1, 1000),
    default=200,
    show_default=True,
    help="Records per efetch request.",
)
@click.option("--restart", is_flag=True, help="Discard an unfinished download of another request.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def command(
    query: str | None,
    pmids_file: str | None,
    max_records: int | None,
    mindate: str | None,
    maxdate: str | None,
    datetype: str,
    out: str,
    email: str | None,
    base_url: str | None,
    batch_size: int,
    restart: bool,
    no_progress: bool,
) -> None:
    """Download PubMed records matching --query (esearch) or listed in --pmids into --out,
    a PubMed XML file that `pubmed-search build` reads.

    Respects NCBI's rate limits (3 requests/s; 10/s with an API key in env NCBI_API_KEY),
    retries on 429/5xx/dropped connections, and resumes an interrupted download when run
    again with the same arguments (progress is kept in OUT.parts/).
    """
    from indexer.ingest.eutils import EutilsClient
    from indexer.ingest.fetch import fetch, read_pmid_file

    if (query is None) == (pmids_file is None):
        raise click.UsageError("give either --query or --pmids")
    if pmids_file and (mindate or maxdate):
        raise click.UsageError("--mindate/--maxdate apply to --query only")
    if query is not None and not query.strip():
        raise click.UsageError("--query is empty")
    client = EutilsClient.from_env(base_url=base_url, email=email)
    if not client.email:
        click.echo("warning: NCBI asks for an e-mail address: --email or NCBI_EMAIL", err=True)
    bar = None
    if not no_progress:
        from tqdm import tqdm

        bar = tqdm(unit="batch", file=sys.stderr, desc="efetch")

    def progress(done: int, total: int) -> None:
        if bar is not None:
            bar.total = total
            bar.n = done
            bar.refresh()

    try:
        pmids = read_pmid_file(pmids_file) if pmids_file else None
        summary = fetch(
            client,
            out,
            query=query,
            pmids=pmids,
            max_records=max_records,
            mindate=mindate,
            maxdate=maxdate,
            datetype=datetype,
            batch_size=batch_size,
            restart=restart,
            progress=progress,
        )
    except KeyboardInterrupt:
        raise click.ClickException(
            f"interrupted: run the same command again to resume ({out}.parts keeps the progress)"
        ) from None
    finally:
        if bar is not None:
            bar.close()
    click.echo(summary.line())
