"""Retractions and expressions of concern at one index version.

PubMed says an article is retracted in two places: the article's own record (a
CommentsCorrections ``RetractionIn`` link to the notice, and the publication type "Retracted
Publication"), and the retraction notice's record (``RetractionOf`` the article). A daily
update may bring the notice without re-sending the article, so both are read. Expressions of
concern likewise (``ExpressionOfConcernIn`` / ``ExpressionOfConcernFor``).

When the two disagree, the newer record speaks: NLM reverses a retraction by revising the
records (the article loses its ``RetractionIn`` link and publication type, the notice is
revised or deleted). A notice marks an article only if the notice's revision is newer than
the article's (a larger doc id: doc ids grow with every build), or the article's own record
says the same; deleted or revised-away notices no longer count because the version no
longer holds them.

:func:`marks` reads the version's lexical index (which articles carry such links: the
``links`` field and the publication type) and those articles' stored records; the engine
keeps the result for the version (``IndexState.marks``).
"""

from __future__ import annotations

import functools
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from indexer.lexical.query import with_links
from indexer.lexical.schema import STATUS_LINKS

if TYPE_CHECKING:
    from indexer.lexical import LexicalIndex
    from indexer.records import Article
    from indexer.store import Store

RETRACTED_TYPE = "Retracted Publication"
RETRACTION_IN = ("RetractionIn", "RetractedandRepublishedIn")
RETRACTION_OF = ("RetractionOf", "RetractedandRepublishedFrom")
CONCERN_IN = ("ExpressionOfConcernIn",)
CONCERN_FOR = ("ExpressionOfConcernFor",)


@dataclass(frozen=True, slots=True)
class Mark:
    """An article's standing: retracted / under an expression of concern, with the PMIDs of
    the notices (empty when only the publication type says so)."""

    retracted: bool = False
    retraction_notices: tuple[int, ...] = ()
    concern: bool = False
    concern_notices: tuple[int, ...] = ()

    def to_dict(self) -> dict:
        return {
            "retracted": self.retracted,
            "retraction_notices": list(self.retraction_notices),
            "expression_of_concern": self.concern,
            "concern_notices": list(self.concern_notices),
        }


UNMARKED = Mark()


@dataclass(frozen=True)
class Marks:
    """The marked articles of one version, by doc id."""

    by_doc: dict[int, Mark] = field(default_factory=dict)

    def of(self, doc_id: int) -> Mark:
        return self.by_doc.get(int(doc_id), UNMARKED)

    @functools.cached_property
    def retracted_ids(self) -> np.ndarray:
        """Sorted doc ids of the retracted articles (what ``exclude_retracted`` leaves out);
        computed once per version."""
        ids = np.array(sorted(d for d, m in self.by_doc.items() if m.retracted), dtype=np.int64)
        ids.setflags(write=False)
        return ids


def _own(a: Article, kinds: tuple[str, ...]) -> list[int]:
    return [c.pmid for c in a.comments_corrections if c.ref_type in kinds and c.pmid]


def _says(a: Article, kinds: tuple[str, ...], retraction: bool) -> bool:
    own = any(c.ref_type in kinds for c in a.comments_corrections)
    return own or (retraction and RETRACTED_TYPE in a.publication_types)


def marks(lexical: LexicalIndex, store: Store) -> Marks:
    """The retraction and concern marks of the version ``lexical`` and ``store`` serve."""
    q = with_links(lexical.schema, STATUS_LINKS, RETRACTED_TYPE)
    linked = lexical.ids(q)
    if not len(linked):
        return Marks()
    records = {d: s.article for d, s in store.get_docs(linked.tolist()).items()}
    # notices: target pmid -> [(notice doc id, notice pmid)] per kind
    notices: dict[str, dict[int, list[tuple[int, int]]]] = {
        "retraction": defaultdict(list),
        "concern": defaultdict(list),
    }
    for doc_id, a in records.items():
        for target in _own(a, RETRACTION_OF):
            notices["retraction"][target].append((doc_id, a.pmid))
        for target in _own(a, CONCERN_FOR):
            notices["concern"][target].append((doc_id, a.pmid))
    targets = set(notices["retraction"]) | set(notices["concern"])
    target_docs = lexical.doc_ids_of(targets)
    missing = [d for d in target_docs.values() if d not in records]
    records.update({d: s.article for d, s in store.get_docs(missing).items()})

    out: dict[int, Mark] = {}
    for doc_id, a in records.items():
        standing: dict[str, tuple[bool, list[int]]] = {}
        for kind, own_in, retraction in (
            ("retraction", RETRACTION_IN, True),
            ("concern", CONCERN_IN, False),
        ):
            says = _says(a, own_in, retraction)
            pmids = _own(a, own_in)
            for notice_doc, notice_pmid in notices[kind].get(a.pmid, []):
                if notice_doc > doc_id or says:  # the newer record speaks
                    says = True
                    pmids.append(notice_pmid)
            standing[kind] = (says, sorted(set(pmids)))
        (ret, ret_pmids), (con, con_pmids) = standing["retraction"], standing["concern"]
        if ret or con:
            out[doc_id] = Mark(ret, tuple(ret_pmids), con, tuple(con_pmids))
    return Marks(out)
