"""The build's errors (re-exported by :mod:`indexer.build`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from indexer.errors import EXIT_BAD_INPUTS, InvalidParameter, PubmedSearchError


class BuildError(PubmedSearchError, RuntimeError):
    """A build cannot proceed; the message says why and what to do. Nothing published changed."""


class NotAnIndexDirectory(BuildError, InvalidParameter):
    """``--index DIR`` holds files that are not an index of ours (exit 2); nothing was written."""

    def __init__(self, path: Path, why: str) -> None:
        self.path = str(path)
        super().__init__(
            f"--index {path}: {why}; refusing to build there (nothing was written or deleted): "
            "pass an empty or new directory, or an existing pubmed-search index"
        )


class InputFilesFailed(PubmedSearchError):
    """A build finished and published without some input files that could not be read
    (exit 5, ``EXIT_BAD_INPUTS``); ``failed`` holds (path, reason) of each."""

    exit_code = EXIT_BAD_INPUTS

    def __init__(self, failed: Sequence[tuple[str, str]]) -> None:
        self.failed = list(failed)
        names = "; ".join(f"{p}: {r}" for p, r in self.failed)
        super().__init__(
            f"{len(self.failed)} input file(s) failed and were left out (the records read "
            f"before each fault were kept): {names}. Fix or replace them and run the build "
            "again (use --strict to stop at the first bad file)"
        )
