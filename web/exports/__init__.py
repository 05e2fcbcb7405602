"""Exports of a page of results: RIS, BibTeX, CSV and PubMed's MEDLINE format.

Pure functions over result dicts (see :mod:`web.exports.fields` for what they read);
:func:`export` picks the format, content type and file name.
"""

from web.exports.bibtex import bibtex_escape, to_bibtex
from web.exports.formats import EXPORTS, export, slug
from web.exports.medline import to_medline
from web.exports.ris import to_ris
from web.exports.table import CSV_COLUMNS, LIST_SEPARATOR, csv_cell, to_csv

__all__ = [
    "CSV_COLUMNS",
    "EXPORTS",
    "LIST_SEPARATOR",
    "bibtex_escape",
    "csv_cell",
    "export",
    "slug",
    "to_bibtex",
    "to_csv",
    "to_medline",
    "to_ris",
]
