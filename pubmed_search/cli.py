"""`pubmed-search`: one click group; each subcommand lives in pubmed_search/commands/<name>.py.

Subcommands are imported lazily, so `pubmed-search --help` stays fast (torch is not imported).

Errors are mapped here, once: every subcommand is a :class:`Command`, which turns the
product's errors (``indexer.errors.PubmedSearchError``) and OS errors into one line on
stderr, ``Error: <message>``, and the error's exit code (table in ``indexer/errors.py``),
never a traceback (``-vv`` logs it). Commands raise; they do not print errors or call
``sys.exit`` themselves.
"""

from __future__ import annotations

import importlib
import logging

import click

from indexer.errors import EXIT_FAILURE, PubmedSearchError

log = logging.getLogger(__name__)

# name -> short help (shown by --help without importing the command's module)
COMMANDS: dict[str, str] = {
    "build": "Build or update an index directory from PubMed XML / JSONL files.",
    "query": "Search an index from the command line.",
    "serve": "Serve the web UI and the retrieval API.",
    "mcp": "Serve the index as Model Context Protocol tools for LLM agents (stdio or HTTP).",
    "eval": "Evaluate retrieval quality (nDCG, MRR, recall, MAP) on queries with judgements.",
    "fetch": "Download PubMed records with NCBI E-utilities into a PubMed XML file.",
    "sync": "Mirror NLM's baseline and update files and apply the new ones to an index.",
    "tune": "Adapt an encoder to your collection with contrastive training (no labels).",
    "info": "Show an index directory's manifest and counts.",
}


def click_error(error: Exception) -> click.ClickException | None:
    """The one-line ClickException (with its exit code) for ``error``; None: not ours to map."""
    if isinstance(error, PubmedSearchError):
        message, code = str(error), error.exit_code
    elif isinstance(error, OSError):
        where = f"{error.filename}: " if error.filename else ""
        message, code = f"{where}{error.strerror or error}", EXIT_FAILURE
    else:
        return None
    mapped = click.ClickException(" ".join(message.split()) or type(error).__name__)
    mapped.exit_code = code
    return mapped


class Command(click.Command):
    """A subcommand whose errors leave through :func:`click_error` (whether it is run through
    the group or invoked on its own, as tests do)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except Exception as e:
            mapped = click_error(e)
            if mapped is None:
                raise
            log.debug("%s failed", self.name, exc_info=True)  # the traceback, with -vv
            raise mapped from e


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return [n for n in COMMANDS if self._module(n) is not None]

    @staticmethod
    def _module(name: str):
        try:
            return importlib.util.find_spec(f"pubmed_search.commands.{name}")
        except ModuleNotFoundError:
            return None

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS or self._module(cmd_name) is None:
            return None
        module = importlib.import_module(f"pubmed_search.commands.{cmd_name}")
        return module.command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(n, COMMANDS[n]) for n in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.version_option(package_name="pubmed-search")
def cli(verbose: int) -> None:
    """Semantic and lexical search over PubMed abstracts (BioLinkBERT + FAISS + BM25)."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
