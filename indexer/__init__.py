"""The indexer: reads PubMed, keeps the metadata store, embeds abstracts, owns the index format.

It imports neither ``search`` nor ``web``; the index directory is its contract with readers.
"""
