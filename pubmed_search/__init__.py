"""pubmed-search: the command-line entry point that wires indexer, search and web together."""
