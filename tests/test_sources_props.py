"""Property tests for indexer.ingest.sources: generated articles survive a trip through PubMed XML
(written by a small writer here) and through JSONL; arbitrary input never raises anything
but SourceError."""

from __future__ import annotations

import gzip
import json
import os
import random
from dataclasses import astuple, dataclass, replace
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from indexer.ingest.sources import SourceError, SourceStats, iter_records
from indexer.records import (
    Article,
    AuthorDetail,
    Chemical,
    CommentCorrection,
    Deletion,
    Grant,
    MeshQualifier,
    MeshTerm,
    PubDate,
    Section,
)

SETTINGS = settings(
    max_examples=int(os.environ.get("SOURCES_PROP_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def norm(s: str) -> str:
    return " ".join(s.split())


# Characters XML 1.0 allows (no C0 controls but tab/LF/CR, no surrogates, no U+FFFE/U+FFFF),
# with markup-significant ones and whitespace of every kind made likely.
XML_CHARS = st.one_of(
    st.characters(
        blacklist_categories=("Cs", "Cc"),
        blacklist_characters="\ufffe\uffff",
    ),
    st.sampled_from(list("<>&\"' \t\n\r\u00a0\u2009\u3000é\u03b2\u00b5\U0001f600]]>")),
)
TEXT = st.text(XML_CHARS, max_size=40)
WORD = TEXT.filter(lambda s: norm(s) != "")


@dataclass(frozen=True)
class Author:
    last: str = ""
    initials: str = ""
    fore: str = ""
    collective: str = ""
    affiliations: tuple[str, ...] = ()
    orcid: str | None = None  # bare; written as given in ORCID_FORMS

    def display(self) -> str:
        """What the reader makes of it (the documented rule)."""
        last = norm(self.last)
        if last:
            given = norm(self.initials) or norm(self.fore)
            return f"{last} {given}" if given else last
        return norm(self.collective) or norm(self.fore)

    def detail(self) -> AuthorDetail:
        affs = tuple(t for t in map(norm, self.affiliations) if t)
        return AuthorDetail(
            norm(self.last), norm(self.fore), norm(self.initials), norm(self.collective), affs,
            self.orcid,
        )  # fmt: skip


ORCID = st.from_regex(r"[0-9]{4}-[0-9]{4}-[0-9]{4}-[0-9]{3}[0-9X]", fullmatch=True)
ORCID_FORMS = ("{}", "https://orcid.org/{}", "http://orcid.org/{}")
AFFILIATIONS = st.lists(TEXT, max_size=2).map(tuple)
AUTHORS = st.one_of(
    st.builds(
        Author, last=WORD, initials=TEXT, fore=TEXT, affiliations=AFFILIATIONS,
        orcid=st.none() | ORCID,
    ),
    st.builds(Author, collective=WORD, affiliations=AFFILIATIONS),
)  # fmt: skip
OPT_WORD = st.none() | WORD
MESH_UI = st.none() | st.from_regex(r"D[0-9]{6,9}", fullmatch=True)
QUALIFIERS = st.lists(
    st.builds(
        MeshQualifier, WORD, st.none() | st.from_regex(r"Q[0-9]{6}", fullmatch=True), st.booleans()
    ),
    max_size=2,
).map(tuple)
REF_TYPES = ("RetractionIn", "ErratumFor", "CommentOn", "CommentIn", "ExpressionOfConcernIn")
ISO = st.dates().map(lambda d: d.isoformat()) | st.integers(1000, 2999).map(str)


@st.composite
def mesh_terms(draw: st.DrawFn) -> MeshTerm:
    own, quals = draw(st.booleans()), draw(QUALIFIERS)
    return MeshTerm(draw(WORD), draw(MESH_UI), own or any(q.major for q in quals), quals, own)


@st.composite
def pub_dates(draw: st.DrawFn) -> tuple[int | None, PubDate | None]:
    """(year, PubDate) as the reader derives them."""
    kind = draw(st.sampled_from(["none", "ymd", "season", "medline"]))
    y = draw(st.integers(1000, 2999))
    if kind == "none":
        return None, None
    if kind == "medline":
        return y, PubDate(medline_date=f"{y} Dec-{y + 1} Jan")
    if kind == "season":
        return y, PubDate(y, season=draw(st.sampled_from(["Spring", "Winter"])))
    month = draw(st.none() | st.integers(1, 12))
    day = draw(st.none() | st.integers(1, 28)) if month else None
    return y, PubDate(y, month, day)


@st.composite
def generated(draw: st.DrawFn) -> tuple[Article, list[Author]]:
    authors = draw(st.lists(AUTHORS, max_size=4))
    doi = draw(st.one_of(st.none(), WORD))
    year, pub_date = draw(pub_dates())
    article_date = draw(st.none() | ISO)
    if year is None and article_date is not None:
        year = int(article_date[:4])
    sections = [
        Section(t, label, cat)
        for t, label, cat in draw(
            st.lists(  # a label-only section (blank text) is kept
                st.one_of(
                    st.tuples(WORD, OPT_WORD, OPT_WORD), st.tuples(st.just(" "), WORD, OPT_WORD)
                ),
                max_size=4,
            )
        )
    ]
    other = not sections and draw(st.booleans())  # an English OtherAbstract stands in
    if other:
        sections = [Section(draw(WORD), draw(OPT_WORD))]
    issn = draw(st.none() | st.from_regex(r"[0-9]{4}-[0-9]{3}[0-9X]", fullmatch=True))
    art = Article(
        pmid=draw(st.integers(1, 2**40)),
        version=draw(st.integers(1, 9)),
        title=draw(TEXT),
        sections=sections,
        journal=draw(TEXT),
        journal_iso=draw(TEXT),
        year=year,
        authors=[a.display() for a in authors],
        mesh=draw(st.lists(mesh_terms(), max_size=4)),
        publication_types=draw(st.lists(WORD, max_size=3)),
        keywords=draw(st.lists(WORD, max_size=3)),
        languages=draw(st.lists(st.sampled_from(["eng", "fre", "chi"]), max_size=2)),
        doi=doi,
        vernacular_title=draw(OPT_WORD),
        abstract_source="other_abstract" if other else "abstract",
        author_details=[a.detail() for a in authors],
        issn=issn,
        issn_type=None if issn is None else draw(st.sampled_from(["Print", "Electronic"])),
        issn_linking=draw(st.none() | st.just("1234-5678")),
        nlm_unique_id=draw(st.none() | st.from_regex(r"[0-9]{7}R?", fullmatch=True)),
        volume=draw(OPT_WORD),
        issue=draw(OPT_WORD),
        pages=draw(OPT_WORD),
        pub_date=pub_date,
        article_date=article_date,
        date_revised=draw(st.none() | ISO),
        publication_status=draw(st.sampled_from([None, "ppublish", "epublish", "aheadofprint"])),
        medline_status=draw(st.sampled_from(["MEDLINE", "PubMed-not-MEDLINE", "In-Process"])),
        grants=draw(st.lists(st.builds(Grant, OPT_WORD, OPT_WORD, WORD, OPT_WORD), max_size=2)),
        chemicals=draw(st.lists(st.builds(Chemical, WORD, MESH_UI, OPT_WORD), max_size=2)),
        pmc=draw(st.none() | st.integers(1, 10**8).map(lambda n: f"PMC{n}")),
        references=draw(st.lists(st.integers(1, 2**40), max_size=5, unique=True)),
        comments_corrections=draw(
            st.lists(
                st.builds(
                    CommentCorrection,
                    st.sampled_from(REF_TYPES),
                    st.none() | st.integers(1, 2**40),
                    TEXT,
                ),
                max_size=3,
            )
        ),
    )
    return art, authors


def expected(a: Article) -> Article:
    """The article as the reader returns it: text whitespace-normalised."""

    def opt(s: str | None) -> str | None:
        return norm(s) or None if s is not None else None

    pd = a.pub_date
    return replace(
        a,
        title=norm(a.title),
        sections=[Section(norm(s.text), opt(s.label), opt(s.category)) for s in a.sections],
        journal=norm(a.journal),
        journal_iso=norm(a.journal_iso),
        authors=list(a.authors),
        mesh=[
            replace(
                m,
                name=norm(m.name),
                qualifiers=tuple(replace(q, name=norm(q.name)) for q in m.qualifiers),
            )
            for m in a.mesh
        ],
        publication_types=[norm(p) for p in a.publication_types],
        keywords=[norm(k) for k in a.keywords],
        doi=opt(a.doi),
        vernacular_title=opt(a.vernacular_title),
        volume=opt(a.volume),
        issue=opt(a.issue),
        pages=opt(a.pages),
        pub_date=pd,
        grants=[
            Grant(opt(g.grant_id), opt(g.acronym), opt(g.agency), opt(g.country)) for g in a.grants
        ],
        chemicals=[Chemical(norm(c.name), c.ui, opt(c.registry_number)) for c in a.chemicals],
        comments_corrections=[
            replace(c, ref_source=norm(c.ref_source)) for c in a.comments_corrections
        ],
    )


# ----------------------------------------------------------------------------- the writer


def t(s: str) -> str:
    """Escape character data; CR as a reference so the parser keeps it (it is whitespace)."""
    return escape(s).replace("\r", "&#13;")


def attr(s: str) -> str:
    return quoteattr(s).replace("\r", "&#13;").replace("\n", "&#10;").replace("\t", "&#9;")


def el(tag: str, text: str, **attrs: str) -> str:
    a = "".join(f" {k}={attr(v)}" for k, v in attrs.items())
    return f"<{tag}{a}>{t(text)}</{tag}>"


GRANT_TAGS = ("GrantID", "Acronym", "Agency", "Country")
MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _date(tag: str, iso: str | None, month_name: bool = False) -> str:
    if iso is None:
        return ""
    parts = iso.split("-")
    out = el("Year", parts[0])
    if len(parts) > 1:
        m = int(parts[1])
        out += el("Month", MONTH_NAMES[m - 1] if month_name else parts[1])
    if len(parts) > 2:
        out += el("Day", parts[2])
    return f"<{tag}>{out}</{tag}>"


def _pub_date(pd: PubDate | None, pmid: int) -> str:
    if pd is None:
        return "<PubDate></PubDate>"
    if pd.medline_date:
        return f"<PubDate>{el('MedlineDate', pd.medline_date)}</PubDate>"
    out = el("Year", str(pd.year))
    if pd.month:  # as a name or a number, either is PubMed's
        out += el("Month", MONTH_NAMES[pd.month - 1] if pmid % 2 else f"{pd.month:02d}")
    if pd.day:
        out += el("Day", str(pd.day))
    if pd.season:
        out += el("Season", pd.season)
    return f"<PubDate>{out}</PubDate>"


def _ui(ui: str | None) -> dict[str, str]:
    return {"UI": ui} if ui else {}


def to_xml(a: Article, authors: list[Author]) -> str:
    issn = el("ISSN", a.issn, IssnType=a.issn_type or "Print") if a.issn else ""
    issue = (el("Volume", a.volume) if a.volume else "") + (el("Issue", a.issue) if a.issue else "")
    journal = (
        f"<Journal>{issn}<JournalIssue>{issue}{_pub_date(a.pub_date, a.pmid)}</JournalIssue>"
        f"{el('Title', a.journal)}{el('ISOAbbreviation', a.journal_iso)}</Journal>"
    )
    parts = [journal, el("ArticleTitle", a.title)]
    if a.pages is not None:
        parts.append(f"<Pagination>{el('MedlinePgn', a.pages)}</Pagination>")
    parts.append(el("ELocationID", "S0000", EIdType="pii", ValidYN="Y"))
    if a.doi is not None:
        parts.append(el("ELocationID", a.doi, EIdType="doi", ValidYN="Y"))
    texts = []
    for s in a.sections:
        kw = {}
        if s.label is not None:
            kw["Label"] = s.label
        if s.category is not None:
            kw["NlmCategory"] = s.category
        texts.append(el("AbstractText", s.text, **kw))
    if a.sections and a.abstract_source == "abstract":
        parts.append(f"<Abstract>{''.join(texts)}</Abstract>")
    names = []
    for i, au in enumerate(authors):
        affs = "".join(
            f"<AffiliationInfo>{el('Affiliation', x)}</AffiliationInfo>" for x in au.affiliations
        )
        if au.orcid:
            form = ORCID_FORMS[i % len(ORCID_FORMS)]
            affs += el("Identifier", form.format(au.orcid), Source="ORCID")
        if au.collective:
            names.append(f"<Author>{el('CollectiveName', au.collective)}{affs}</Author>")
        else:
            inner = el("LastName", au.last) + el("ForeName", au.fore) + el("Initials", au.initials)
            names.append(f'<Author ValidYN="Y">{inner}{affs}</Author>')
    parts.append(f"<AuthorList>{''.join(names)}</AuthorList>")
    parts.extend(el("Language", lang) for lang in a.languages)
    if a.grants:
        grants = "".join(
            "<Grant>"
            + "".join(
                el(tag, v) for tag, v in zip(GRANT_TAGS, astuple(g), strict=True) if v is not None
            )
            + "</Grant>"
            for g in a.grants
        )
        parts.append(f'<GrantList CompleteYN="Y">{grants}</GrantList>')
    parts.append(
        "<PublicationTypeList>"
        + "".join(el("PublicationType", p) for p in a.publication_types)
        + "</PublicationTypeList>"
    )
    if a.vernacular_title is not None:
        parts.append(el("VernacularTitle", a.vernacular_title))
    parts.append(_date("ArticleDate", a.article_date))
    mesh = "".join(
        "<MeshHeading>"
        + el(
            "DescriptorName",
            m.name,
            MajorTopicYN="Y" if m.descriptor_major else "N",
            **({"UI": m.ui} if m.ui else {}),
        )
        + "".join(
            el("QualifierName", q.name, MajorTopicYN="YN"[not q.major], **_ui(q.ui))
            for q in m.qualifiers
        )
        + "</MeshHeading>"
        for m in a.mesh
    )  # fmt: skip
    chemicals = "".join(
        "<Chemical>"
        + (el("RegistryNumber", c.registry_number) if c.registry_number is not None else "")
        + el("NameOfSubstance", c.name, **({"UI": c.ui} if c.ui else {}))
        + "</Chemical>"
        for c in a.chemicals
    )
    comments = "".join(
        f"<CommentsCorrections RefType={attr(c.ref_type)}>{el('RefSource', c.ref_source)}"
        + (el("PMID", str(c.pmid), Version="1") if c.pmid is not None else "")
        + "</CommentsCorrections>"
        for c in a.comments_corrections
    )
    other = ""
    if a.abstract_source == "other_abstract":  # a non-English one first: never the abstract
        other = (
            '<OtherAbstract Type="Publisher" Language="fre">'
            + el("AbstractText", "résumé en français")
            + "</OtherAbstract>"
            + '<OtherAbstract Type="Publisher" Language="eng">'
            + "".join(texts)
            + "</OtherAbstract>"
        )
    keywords = "".join(el("Keyword", k, MajorTopicYN="N") for k in a.keywords)
    info = "".join(
        el(tag, v) for tag, v in (("NlmUniqueID", a.nlm_unique_id), ("ISSNLinking", a.issn_linking))
        if v is not None
    )  # fmt: skip
    ids = f'<ArticleId IdType="pubmed">{a.pmid}</ArticleId>'
    if a.pmc:
        ids += f'<ArticleId IdType="pmc">{a.pmc}</ArticleId>'
    status = el("PublicationStatus", a.publication_status) if a.publication_status else ""
    return (
        f'<PubmedArticle><MedlineCitation Status={attr(a.medline_status or "")} Owner="NLM">'
        f'<PMID Version="{a.version}">{a.pmid}</PMID>{_date("DateRevised", a.date_revised)}'
        f'<Article PubModel="Print">{"".join(parts)}</Article>'
        f"<MedlineJournalInfo><Country>X</Country>{info}</MedlineJournalInfo>"
        f"<ChemicalList>{chemicals}</ChemicalList>"
        f"<CommentsCorrectionsList>{comments}</CommentsCorrectionsList>"
        f"<MeshHeadingList>{mesh}</MeshHeadingList>{other}"
        f'<KeywordList Owner="NOTNLM">{keywords}</KeywordList></MedlineCitation>'
        f"<PubmedData><History><PubMedPubDate><Year>2000</Year></PubMedPubDate></History>"
        f"{status}<ArticleIdList>{ids}</ArticleIdList>{_references(a.references)}</PubmedData>"
        "</PubmedArticle>"
    )


def _references(pmids: list[int]) -> str:
    """A ReferenceList citing ``pmids``, the later half in a nested ReferenceList, with
    identifiers that are not cited PMIDs beside them."""
    if not pmids:
        return ""

    def ref(p: int) -> str:
        return (
            f"<Reference><Citation>Ref {p} &amp; co.</Citation><ArticleIdList>"
            f'<ArticleId IdType="doi">10.1/{p}</ArticleId>'
            f'<ArticleId IdType="pubmed">{p}</ArticleId>'
            "</ArticleIdList></Reference>"
        )

    half = (len(pmids) + 1) // 2
    nested = "".join(map(ref, pmids[half:]))
    return (
        f"<ReferenceList><Title>References</Title>{''.join(map(ref, pmids[:half]))}"
        f"<ReferenceList>{nested}</ReferenceList><Reference><Citation>no id</Citation>"
        "</Reference></ReferenceList>"
    )


def xml_document(records: list[str]) -> bytes:
    body = "\n".join(records)
    head = '<?xml version="1.0" encoding="utf-8"?>\n'
    return f"{head}<PubmedArticleSet>{body}</PubmedArticleSet>".encode()


def read_all(path: Path) -> tuple[list, SourceStats]:
    stats = SourceStats()
    return list(iter_records(path, stats)), stats


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("props")


# ----------------------------------------------------------------------------- round trips


@SETTINGS
@given(st.lists(generated(), min_size=1, max_size=5), st.booleans())
def test_pubmed_xml_round_trip(workdir: Path, items: list, gz: bool) -> None:
    path = workdir / ("rt.xml.gz" if gz else "rt.xml")
    data = xml_document([to_xml(a, authors) for a, authors in items])
    path.write_bytes(gzip.compress(data) if gz else data)
    records, stats = read_all(path)
    assert records == [expected(a) for a, _ in items]
    assert stats.articles == len(items) and stats.skipped == 0


@SETTINGS
@given(
    st.lists(
        st.one_of(generated().map(lambda g: g[0]), st.builds(Deletion, st.integers(1, 2**40)))
    ),
    st.booleans(),
)
def test_jsonl_round_trip(workdir: Path, items: list, gz: bool) -> None:
    path = workdir / ("rt.jsonl.gz" if gz else "rt.jsonl")
    lines = [
        json.dumps({"delete": r.pmid} if isinstance(r, Deletion) else r.to_dict()) for r in items
    ]
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(gzip.compress(data) if gz else data)
    records, stats = read_all(path)
    assert records == [r if isinstance(r, Deletion) else expected(r) for r in items]
    assert stats.articles + stats.deletions == len(items) and stats.skipped == 0


# ----------------------------------------------------------------------------- arbitrary input


def _only_source_errors(path: Path) -> tuple[list, SourceStats, SourceError | None]:
    stats = SourceStats()
    got: list = []
    try:
        got.extend(iter_records(path, stats))
    except SourceError as e:
        assert e.path == str(path) and str(path) in str(e)
        return got, stats, e
    return got, stats, None


NAMES = ["a.xml", "a.xml.gz", "a.jsonl", "a.jsonl.gz"]


@SETTINGS
@given(st.binary(max_size=2000), st.sampled_from(NAMES), st.booleans())
def test_arbitrary_bytes_only_raise_source_error(
    workdir: Path, data: bytes, name: str, compress: bool
) -> None:
    path = workdir / name
    path.write_bytes(gzip.compress(data) if compress else data)
    records, stats, _ = _only_source_errors(path)
    assert all(isinstance(r, Article | Deletion) for r in records)
    assert stats.articles + stats.deletions == len(records)


@SETTINGS
@given(st.text(max_size=2000), st.sampled_from(NAMES))
def test_arbitrary_text_only_raises_source_error(workdir: Path, text: str, name: str) -> None:
    path = workdir / name
    data = text.encode("utf-8", "surrogatepass")
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    _only_source_errors(path)


@SETTINGS
@given(generated(), st.integers(0, 2**32 - 1), st.sampled_from(["cut", "flip", "insert"]))
def test_damaged_xml_only_raises_source_error(workdir: Path, item, seed: int, how: str) -> None:
    data = bytearray(xml_document([to_xml(*item), to_xml(*item)]))
    rng = random.Random(seed)
    pos = rng.randrange(len(data))
    if how == "cut":
        del data[pos:]
    elif how == "flip":
        data[pos] ^= 1 << rng.randrange(8)
    else:
        data[pos:pos] = rng.choice([b"<", b"&", b"\xff", b"</PubmedArticle>", b"<!DOCTYPE x>"])
    path = workdir / "damaged.xml"
    path.write_bytes(bytes(data))
    records, _, _ = _only_source_errors(path)
    assert len(records) <= 2


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(TEXT, children, max_size=3),
    max_leaves=8,
)
FIELDS = [
    "pmid", "title", "abstract", "sections", "mesh", "year", "journal", "journal_iso",
    "authors", "doi", "publication_types", "keywords", "languages", "version", "delete", "deleted",
]  # fmt: skip


@SETTINGS
@given(
    st.lists(
        st.one_of(
            JSON_VALUES,
            st.dictionaries(st.sampled_from(FIELDS), JSON_VALUES, max_size=6),
            st.fixed_dictionaries({"pmid": st.integers(-5, 10**20) | TEXT}),
        ),
        max_size=12,
    )
)
def test_jsonl_arbitrary_objects_are_read_or_counted(workdir: Path, values: list) -> None:
    path = workdir / "arb.jsonl"
    path.write_text("\n".join(json.dumps(v) for v in values) + "\n", encoding="utf-8")
    records, stats, err = _only_source_errors(path)
    assert err is None
    assert stats.articles + stats.deletions == len(records)
    assert len(records) + stats.skipped == len(values)
    for r in records:
        assert r.pmid > 0
        if isinstance(r, Article):
            assert r.version > 0 and all(isinstance(a, str) and a for a in r.authors)
