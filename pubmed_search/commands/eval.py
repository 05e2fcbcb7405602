"""`pubmed-search eval`: retrieval quality (nDCG@10, MRR@10, Recall@10/100, MAP) per mode."""

from __future__ import annotations

import click

from pubmed_search.cli import Command
from pubmed_search.options import index_model_option, index_option

MODE_CHOICES = ["hybrid", "hybrid-fixed", "dense", "lexical", "all"]


@click.command("eval", cls=Command)
@index_option
@click.option(
    "--queries",
    "queries_path",
    required=True,
    type=click.Path(dir_okay=False, exists=True),
    help='JSONL: known-item {"query", "pmid"} lines, or BEIR queries {"_id", "text"}.',
)
@click.option(
    "--qrels",
    "qrels_path",
    default=None,
    type=click.Path(dir_okay=False, exists=True),
    help="Judgements: BEIR TSV 'query-id corpus-id score' (graded) or TREC qrels.",
)
@click.option(
    "--mode",
    type=click.Choice(MODE_CHOICES),
    default="hybrid",
    show_default=True,
    help="Retrieval mode to evaluate; 'all' runs hybrid (the index's recorded fusion), "
    "hybrid-fixed (the fixed default fusion: RRF, k 60, 1/1), dense and lexical.",
)
@click.option(
    "-k",
    "k",
    type=click.IntRange(1, 1000),
    default=100,
    show_default=True,
    help="Ranking depth per query (pages of 100 beyond 100); MAP is computed over it.",
)
@click.option(
    "--run-out",
    default=None,
    type=click.Path(dir_okay=False),
    help="Write a TREC run file (one per mode with --mode all: RUN.hybrid.trec ...).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--plot",
    default=None,
    type=click.Path(dir_okay=False),
    help="Save mean Recall@k curves (k=1..100) per mode as an image (needs matplotlib).",
)
@index_model_option
def command(
    index_dir: str,
    queries_path: str,
    qrels_path: str | None,
    mode: str,
    k: int,
    run_out: str | None,
    as_json: bool,
    plot: str | None,
    model: str | None,
) -> None:
    """Run judged queries against --index and report nDCG@10, MRR@10, Recall@10,
    Recall@100 and MAP per retrieval mode.

    Queries without any relevant judged document are left out of the means and counted.
    """
    from search.evaluate import (
        ALL_MODES,
        evaluate,
        load_eval_set,
        plot_recall,
        require_matplotlib,
        run_path,
        write_run,
    )

    if plot:
        require_matplotlib()  # before the index is opened and the queries run
    eval_set = load_eval_set(queries_path, qrels_path)

    from search.engine import SearchEngine

    engine = SearchEngine.open(index_dir, model=model)
    modes = list(ALL_MODES) if mode == "all" else [mode]
    try:
        report = evaluate(engine, eval_set, modes, k)
        fusion = engine.state.manifest.hybrid_fusion
    finally:
        engine.close()
    report.info.update(
        index=index_dir,
        queries_file=queries_path,
        qrels_file=qrels_path,
        title=f"Recall@k: {queries_path}",
        fusion=fusion.describe(),
        fusion_record=fusion.to_dict(),
    )
    try:
        if run_out:
            for m in report.modes:
                path = write_run(run_path(run_out, m.mode, len(modes) > 1), m.run, m.mode)
                click.echo(f"run file: {path}", err=True)
        if plot:
            plot_recall(report, plot)
            click.echo(f"plot: {plot}", err=True)
    except OSError as e:
        raise click.ClickException(
            f"cannot write {e.filename or run_out or plot}: {e.strerror or e}"
        ) from e
    click.echo(report.to_json() if as_json else report.table())
