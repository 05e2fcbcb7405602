"""Shared click options: the search parameters (generated from their one declaration), and the
options every reader of an index takes (`--index`, `--model`).

``@search_options`` adds the ``pubmed-search query`` options of every parameter declared with
a ``cli`` flag in ``search.params.PARAMS`` (bounds as ``IntRange``, choices as ``Choice``,
default and help from the declaration); the command receives them under the parameters'
names (``year_from``, ``has_abstract``, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from search.params import PARAMS, Param

F = TypeVar("F", bound=Callable[..., Any])


def _option(param: Param) -> Callable[[F], F]:
    assert param.cli is not None
    kwargs: dict[str, Any] = {"default": param.default, "help": param.help}
    if param.kind == "int":
        kwargs["type"] = click.IntRange(param.minimum, param.maximum)
    elif param.kind == "choice":
        kwargs["type"] = click.Choice(param.choices)
    elif param.kind == "bool":
        assert "/" in param.cli, f"{param.name}: a boolean option is an on/off flag pair"
    if param.default is not None:
        kwargs["show_default"] = True
    return click.option(*param.cli.split(), param.name, **kwargs)


def search_options(command: F) -> F:
    """Add the declared search parameters' options to ``command`` (in declaration order)."""
    for param in reversed([p for p in PARAMS if p.cli]):
        command = _option(param)(command)
    return command


def index_option(command: F) -> F:
    """``--index DIR``: an existing index directory to read (query, serve, eval, info)."""
    return click.option(
        "--index",
        "index_dir",
        required=True,
        type=click.Path(file_okay=False, exists=True),
        help="Index directory (built by `pubmed-search build`).",
    )(command)


def reload_interval_option(zero: str) -> Callable[[F], F]:
    """``--reload-interval SECONDS`` of the long-running readers (serve, mcp); ``zero`` says
    what 0 means for that command."""
    return click.option(
        "--reload-interval",
        type=click.FloatRange(0),
        default=5.0,
        show_default=True,
        help=f"Seconds between checks for a newly published index version (0: {zero}).",
    )


def index_model_option(command: F) -> F:
    """``--model``: a local copy of the model an index was built with (readers only)."""
    return click.option(
        "--model",
        default=None,
        help="Local copy of the model the index was built with; its weight fingerprint must "
        "match the manifest's (default: the model the manifest names).",
    )(command)
