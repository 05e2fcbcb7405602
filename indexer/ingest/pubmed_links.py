"""Lists of a PubMed record: grants, chemicals, comments/corrections, and ``<PubmedData>``
(publication status, DOI and PMC ids, the cited PMIDs of ReferenceList)."""

from __future__ import annotations

from typing import Any

from indexer.ingest.base import parse_pmid
from indexer.ingest.prefilter import CITED_TAG
from indexer.ingest.xml_text import attr, child_text, opt_text, text
from indexer.records import Article, Chemical, CommentCorrection, Grant

_CITED = CITED_TAG.decode()


def grants(grant_list: Any) -> list[Grant]:
    out = []
    for g in grant_list.iterchildren("Grant"):
        grant = Grant(
            child_text(g, "GrantID"),
            child_text(g, "Acronym"),
            child_text(g, "Agency"),
            child_text(g, "Country"),
        )
        if grant != Grant():
            out.append(grant)
    return out


def chemicals(chemical_list: Any) -> list[Chemical]:
    out = []
    for c in chemical_list.iterchildren("Chemical"):
        name_el = next(c.iterchildren("NameOfSubstance"), None)
        name = opt_text(name_el)
        if name:
            out.append(Chemical(name, attr(name_el, "UI"), child_text(c, "RegistryNumber")))
    return out


def comments_corrections(cc_list: Any) -> list[CommentCorrection]:
    out = []
    for cc in cc_list.iterchildren("CommentsCorrections"):
        ref_type = attr(cc, "RefType")
        if ref_type:
            pm = next(cc.iterchildren("PMID"), None)
            pmid = parse_pmid(pm.text) if pm is not None else None
            out.append(CommentCorrection(ref_type, pmid, child_text(cc, "RefSource") or ""))
    return out


def pubmed_data(a: Article, elem: Any, doi: str | None) -> str | None:
    """Fill status, PMC id and references from ``<PubmedData>``; returns the DOI: ``doi``
    (the Article's ELocationID), else PubmedData's ArticleId (never a reference's)."""
    cited: list[int | None] = []
    for data in elem.iterchildren("PubmedData"):
        for child in data:
            tag = child.tag
            if tag == "ArticleIdList":
                for aid in child.iterchildren("ArticleId"):
                    kind = aid.get("IdType")
                    if kind == "doi" and doi is None:
                        doi = text(aid) or None
                    elif kind == "pmc" and a.pmc is None:
                        a.pmc = text(aid) or None
            elif tag == "PublicationStatus":
                a.publication_status = text(child) or None
            elif tag == _CITED:  # the pre-filter's compact ReferenceList: PMIDs, space-separated
                cited.extend(map(parse_pmid, (child.text or "").split()))
            elif tag == "ReferenceList":  # one the pre-filter left (an oversized segment)
                cited.extend(
                    parse_pmid(aid.text)
                    for aid in child.iter("ArticleId")
                    if aid.get("IdType") == "pubmed"
                )
    if cited:  # older records carry one ReferenceList per reference: all of them count
        a.references = list(dict.fromkeys(p for p in cited if p is not None))
    return doi
