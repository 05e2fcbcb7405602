"""A Model Context Protocol server over one index: the tools ``search``, ``get_article`` and
``similar`` for LLM agents (``pubmed-search mcp``).

Dependencies flow one way: ``pubmed_search`` (CLI) -> ``mcp_server`` -> ``web`` (the API's
parameter parser and service functions) -> ``search`` -> ``indexer``; nothing below imports
this package. It is not named ``mcp``: that is the SDK's own package, which it uses (the
``mcp`` extra: ``pip install pubmed-search[mcp]``).
"""
