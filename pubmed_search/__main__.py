"""``python -m pubmed_search``: the ``pubmed-search`` command."""

from pubmed_search.cli import main

main()
