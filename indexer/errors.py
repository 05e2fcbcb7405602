"""The product's one error root, and how each error leaves the program.

Every error pubmed-search raises on purpose derives from :class:`PubmedSearchError`. Two class
attributes say what it means outside Python, read in one place each:

``status``
    The HTTP status the web API answers with (``web/errors.py``). Below 500 the message is
    shown to the client; from 500 up it is logged and the client gets a generic message,
    unless the class is ``public`` (``Busy``: a 503 whose message says when to retry).
``exit_code``
    The CLI's exit status (``pubmed_search/cli.py``), which prints ``Error: <message>`` on
    stderr as one line, never a traceback.

A family's own class (``StoreError``, ``BuildError``...) derives from the root, or from one of
the categories below when all of it means one thing; a case of a family that means something
else derives from both (``StoreDamaged(StoreError, DamagedIndex)``).

Exit codes (what a script can tell apart):

- 0 ``EXIT_OK``: success.
- 1 ``EXIT_FAILURE``: the operation failed; the message says why. The default: a bad input
  file with ``build --strict``, a model that cannot be loaded or does not match the index, a
  build or tuning run that cannot proceed, an error answered by NCBI, a directory with no
  published index.
- 2 ``EXIT_USAGE``: a bad option, argument or parameter value (as click's own usage
  errors): fix the command line. Also ``build --index DIR`` on a directory that is
  neither empty nor an index of ours.
- 3 ``EXIT_DAMAGED``: the index directory is damaged or in a format this version cannot
  read (a truncated ``index.faiss``, a manifest that is not JSON, a missing or foreign
  metadata store): restore or rebuild it.
- 4 ``EXIT_UNAVAILABLE``: something the operation needs is not there: a database server
  that cannot be reached, an optional extra that is not installed.
- 5 ``EXIT_BAD_INPUTS``: the build finished and published, but some input files could not be
  read to their end (an entity bomb, invalid UTF-8, a truncated gzip): the error line names
  each file and why; the records before each fault were indexed. ``build --strict`` stops at
  the first such file instead (exit 1, nothing published).
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_DAMAGED = 3
EXIT_UNAVAILABLE = 4
EXIT_BAD_INPUTS = 5


class PubmedSearchError(Exception):
    """An error of pubmed-search: the operation cannot be done; the message says why and,
    where there is one, what to do. HTTP 500 (message not shown to API clients), exit 1."""

    status: int = 500
    exit_code: int = EXIT_FAILURE
    public: bool = False  # from 500 up, True shows the message to API clients anyway


class InvalidParameter(PubmedSearchError, ValueError):
    """A parameter or option value is not acceptable; the message starts with its name.
    HTTP 400, exit 2."""

    status = 400
    exit_code = EXIT_USAGE


class NotFoundError(PubmedSearchError):
    """What was asked for does not exist (an article, a published index). HTTP 404, exit 1."""

    status = 404


class DamagedIndex(PubmedSearchError):
    """The index directory's files are damaged, missing or in a format this version cannot
    read: restore or rebuild the index. HTTP 500, exit 3."""

    exit_code = EXIT_DAMAGED


class Busy(PubmedSearchError):
    """The server is at its limit for this kind of work (the re-ranking queue is full, or the
    request's deadline passed): retry after ``retry_after`` seconds, or ask for less. HTTP 503
    with a ``Retry-After`` header; unlike other 5xx errors the message is shown (it says what
    to do, and holds no internal detail). Exit 4."""

    status = 503
    exit_code = EXIT_UNAVAILABLE
    public = True

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = max(1, int(retry_after))


class Unavailable(PubmedSearchError):
    """Something the operation needs is not there: a server that cannot be reached, or an
    optional extra that is not installed. HTTP 503, exit 4."""

    status = 503
    exit_code = EXIT_UNAVAILABLE
