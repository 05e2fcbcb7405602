"""Shared by test_syntax and test_syntax_props: a synthetic corpus, a real Tantivy index of it,
and a plain-Python evaluation of a parsed expression over the same articles (the reference the
index results are compared with)."""

from __future__ import annotations

import random
from pathlib import Path

from indexer.lexical.analysis import Analysis, normalise, words
from indexer.lexical.reader import LexicalIndex
from indexer.lexical.schema import key, mesh_key
from indexer.lexical.syntax import And, DateRange, Expr, Not, Or, Term
from indexer.lexical.writer import stage, write
from indexer.records import Article, MeshTerm, Section
from indexer.text import STOP_WORDS

VOCAB = [
    "lung",
    "cancer",
    "tumor",
    "therapy",
    "therapies",
    "therapeutic",
    "bacteria",
    "bacterial",
    "covid-19",
    "il-6",
    "the",
    "of",
    "and",
    "in",
    "mice",
    "patients",
    "study",
    "studies",
    "smoking",
    "breast",
    "feeding",
    "asthma",
    "insulin",
    "diabetes",
]
AUTHORS = [
    "Smith JA",
    "Smith J",
    "Smith JB",
    "Smith JAB",
    "Smithson JA",
    "O'Brien K",
    "Li X",
    "van der Berg M",
    "Müller H",
    "Smith",
]
MESH = [
    MeshTerm("Lung Neoplasms", "D008175"),
    MeshTerm("Asthma", "D001249"),
    MeshTerm("Humans", "D006801"),
    MeshTerm("Mice", "D051379"),
    MeshTerm("Diabetes Mellitus", "D003920"),
]
JOURNALS = [
    ("Journal of Biological Chemistry", "J. Biol. Chem."),
    ("Nature", "Nature"),
    ("The Lancet", "Lancet"),
    ("New England Journal of Medicine", "N. Engl. J. Med."),
]
PUBTYPES = ["Journal Article", "Review", "Randomized Controlled Trial", "Case Reports"]
LANGS = ["eng", "eng", "eng", "fre", "ger", "jpn", ""]
ANALYSES = {
    "default": Analysis(),
    "words-nostem-nostop": Analysis(
        token="words", stem=False, index_stopwords=False, title_boost=1
    ),
}


def corpus(n: int = 80, seed: int = 7) -> list[Article]:
    rng = random.Random(seed)
    out = []
    for i in range(1, n + 1):
        journal, iso = rng.choice(JOURNALS)
        mesh = [
            MeshTerm(m.name, m.ui, major=rng.random() < 0.4)
            for m in rng.sample(MESH, rng.randint(0, 3))
        ]
        out.append(
            Article(
                pmid=i,
                title=" ".join(rng.choices(VOCAB, k=rng.randint(0, 6))).capitalize(),
                sections=[Section(" ".join(rng.choices(VOCAB, k=rng.randint(0, 14))))],
                journal=journal,
                journal_iso=iso,
                year=rng.choice([None, *range(2010, 2023)]),
                authors=rng.sample(AUTHORS, rng.randint(0, 3)),
                mesh=mesh,
                publication_types=rng.sample(PUBTYPES, rng.randint(1, 2)),
                languages=[x for x in rng.choice(LANGS).split(",") if x],
            )
        )
    return out


def build(path: Path, articles: list[Article], analysis: Analysis) -> LexicalIndex:
    """A real Tantivy index of ``articles`` (doc id = position + 1) at ``path``."""
    rows = list(enumerate(articles, 1))
    stage(None, path, analysis)
    write(path, analysis, [], 1, lambda after, limit: [r for r in rows if r[0] > after][:limit])
    return LexicalIndex(path, analysis)


# -- the reference evaluation ---------------------------------------------------------------
class Doc:
    """One article as the evaluation sees it: analysed text fields and raw values."""

    def __init__(self, a: Article, analysis: Analysis) -> None:
        self.a = a
        self.analysis = analysis
        self.text = {"title": self._tokens(a.title), "abstract": self._tokens(a.abstract)}

    def _tokens(self, text: str) -> list[str | None]:
        """Index terms by position (None: a stop word the index leaves out)."""
        an = self.analysis
        return [
            None if (not an.index_stopwords and w in STOP_WORDS) else normalise(w, an)
            for w in words(text, an.token)
        ]


def _phrase_at(terms: list[str | None], pattern: list[tuple[int, object]]) -> bool:
    """Whether ``pattern`` ((offset, predicate on a term)) matches somewhere in ``terms``."""
    span = max(o for o, _ in pattern)
    for p in range(len(terms) - span):
        if all(terms[p + o] is not None and pred(terms[p + o]) for o, pred in pattern):
            return True
    return False


def _text_match(t: Term, d: Doc) -> bool:
    an = d.analysis
    fields = {"tiab": ("title", "abstract"), "ti": ("title",), "ab": ("abstract",)}[t.field]
    toks = words(t.text, an.token)
    kept = [(i, w) for i, w in enumerate(toks) if an.index_stopwords or w not in STOP_WORDS]
    if t.truncated:
        stem = toks[-1]
        own = normalise(stem, an)
        head = [(i, (lambda x, n=normalise(w, an): x == n)) for i, w in kept if i < len(toks) - 1]
        pattern = [*head, (len(toks) - 1, lambda x: x.startswith(stem) or x == own)]
    elif len(toks) == 1 and not t.quoted:
        w = toks[0]
        if w not in dict(kept).values():
            return False
        alts = (
            {normalise(w, an), normalise(w.replace("-", ""), an)}
            if "-" in w
            else {normalise(w, an)}
        )
        pattern = [(0, lambda x: x in alts)]
    else:
        if not kept:
            return False
        first = kept[0][0]
        pattern = [(i - first, (lambda x, n=normalise(w, an): x == n)) for i, w in kept]
        if not pattern:
            return False
    if pattern and min(o for o, _ in pattern) > 0:
        first = min(o for o, _ in pattern)
        pattern = [(o - first, p) for o, p in pattern]
    return any(_phrase_at(d.text[f], pattern) for f in fields)


def _author_match(t: Term, d: Doc) -> bool:
    name = " ".join(t.text.lower().split())
    names = [key(a) for a in d.a.authors]
    if t.truncated:
        return any(n.startswith(name) for n in names)
    if t.quoted:
        return name in names
    parts = name.split(" ")
    if len(parts) >= 2 and len(parts[-1]) <= 3 and parts[-1].isalpha():
        # initials given: the same last name, stored initials starting with the given ones
        return any(
            n.rsplit(" ", 1)[0] == " ".join(parts[:-1])
            and n.rsplit(" ", 1)[-1].startswith(parts[-1])
            for n in names
            if " " in n
        )
    return any(n == name or n.startswith(name + " ") for n in names)


LANGUAGE_NAMES = {"english": "eng", "french": "fre", "german": "ger", "japanese": "jpn"}


def _raw_match(t: Term, d: Doc) -> bool:
    a = d.a
    value = " ".join(t.text.split())
    if t.field == "au":
        return _author_match(t, d)
    if t.field in ("mh", "majr"):
        ms = [m for m in a.mesh if t.field == "mh" or m.major]
        vals = {mesh_key(m.name) for m in ms} | {m.ui for m in ms}
        v = mesh_key(value)
    elif t.field == "ta":
        vals = {key(j).replace(".", "") for j in (a.journal, a.journal_iso)}
        v = " ".join(key(value).replace(".", " ").split())
    elif t.field == "pt":
        vals, v = {key(p) for p in a.publication_types}, key(value)
    else:
        vals = {key(x) for x in a.languages if x.strip()}
        v = LANGUAGE_NAMES.get(key(value), key(value))
    if t.truncated:
        return any(x.startswith(v) for x in vals)
    return v in vals


def ignored(e: Expr, an: Analysis) -> bool:
    """A term of stop words only on an index without them, or a node of ignored items only
    (a NOT: whose base is ignored): left out of the expression."""
    if isinstance(e, (And, Or)):
        return all(ignored(x, an) for x in e.items)
    if isinstance(e, Not):
        return ignored(e.base, an)
    if isinstance(e, DateRange) or e.field not in ("tiab", "ti", "ab") or an.index_stopwords:
        return False
    toks = words(e.text, an.token)
    return not e.truncated and bool(toks) and all(w in STOP_WORDS for w in toks)


def matches(e: Expr, d: Doc) -> bool:
    """Whether ``e`` selects ``d`` (an ignored ``e`` selects nothing)."""
    an = d.analysis
    if ignored(e, an):
        return False
    if isinstance(e, And):
        return all(matches(x, d) for x in e.items if not ignored(x, an))
    if isinstance(e, Or):
        return any(matches(x, d) for x in e.items)
    if isinstance(e, Not):
        return matches(e.base, d) and not any(matches(x, d) for x in e.excluded)
    if isinstance(e, DateRange):
        y = d.a.year
        return y is not None and (e.start is None or y >= e.start) and (e.end is None or y <= e.end)
    if e.field in ("tiab", "ti", "ab"):
        return _text_match(e, d)
    return _raw_match(e, d)


def expected(e: Expr, docs: list[Doc]) -> list[int]:
    """Doc ids (position + 1) of the articles ``e`` selects, by the reference evaluation."""
    return [i for i, d in enumerate(docs, 1) if matches(e, d)]
