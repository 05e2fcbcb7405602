"""indexer.ingest.sources against hostile and broken input: entity bombs, external entities, network
DTDs, truncated and corrupt files, huge text, odd records. Nothing may crash or be silent."""

from __future__ import annotations

import gzip
import http.server
import json
import logging
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from indexer.ingest.sources import SourceError, SourceStats, iter_records
from indexer.records import Article, Deletion, MeshTerm, Section

REPO = Path(__file__).resolve().parents[1]


def record(pmid: int, title: str = "T", abstract: str = "", version: int = 1) -> str:
    abs_xml = f"<Abstract><AbstractText>{abstract}</AbstractText></Abstract>" if abstract else ""
    return (
        f'<PubmedArticle><MedlineCitation><PMID Version="{version}">{pmid}</PMID><Article>'
        f"<ArticleTitle>{title}</ArticleTitle>{abs_xml}</Article></MedlineCitation>"
        "</PubmedArticle>"
    )


def document(body: str, doctype: str = "") -> str:
    return f'<?xml version="1.0"?>\n{doctype}\n<PubmedArticleSet>{body}</PubmedArticleSet>\n'


def everything(records: list, stats: SourceStats, logs: list[str]) -> str:
    """All output as one string, to assert what never appears in it."""
    parts = [repr(r) for r in records] + [repr(stats)] + logs
    return "\n".join(parts)


def run_isolated(code: str, memory_mb: int = 1500, timeout: float = 120) -> dict:
    """Run ``code`` in a child with an address-space limit; it prints one JSON line."""
    prelude = (
        "import resource, json, sys\n"
        f"resource.setrlimit(resource.RLIMIT_AS, ({memory_mb << 20}, {memory_mb << 20}))\n"
        f"sys.path.insert(0, {str(REPO)!r})\n"
        # Peak RSS of this process image (ru_maxrss would carry the parent's peak over exec).
        "def peak_kb():\n"
        "    for line in open('/proc/self/status'):\n"
        "        if line.startswith('VmHWM:'):\n"
        "            return int(line.split()[1])\n"
        "    raise RuntimeError('no VmHWM')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", prelude + code],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- entity bombs


BILLION_LAUGHS = """<!DOCTYPE PubmedArticleSet [
<!ENTITY lol "lol">
<!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
<!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
<!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
<!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
<!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
<!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
<!ENTITY big "{big}">
]>"""


def _bomb_child(path: Path) -> dict:
    return run_isolated(
        "from indexer.ingest.sources import iter_records, SourceStats, SourceError\n"
        "st, recs, err = SourceStats(), [], None\n"
        "try:\n"
        f"    recs.extend(iter_records({str(path)!r}, st))\n"
        "except SourceError as e:\n"
        "    err = str(e)\n"
        "print(json.dumps({'titles': [r.title for r in recs], 'error': err,"
        " 'abstracts': [r.abstract for r in recs], 'stats': repr(st),"
        " 'peak_kb': peak_kb()}))\n",
        memory_mb=1500,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("title", "abstract"),
    [("Laugh &lol9; out", ""), ("Quadratic", "&big;" * 20_000)],
    ids=["billion-laughs", "quadratic-blowup"],
)
def test_entity_bombs_stop_fast_without_expansion(
    tmp_path: Path, title: str, abstract: str
) -> None:
    """libxml2 refuses the amplification even unexpanded: a clean SourceError, fast and small."""
    path = tmp_path / "bomb.xml"
    doctype = BILLION_LAUGHS.replace("{big}", "x" * 100_000)
    path.write_text(document(record(1, "Before") + record(2, title, abstract) + record(3), doctype))
    result = _bomb_child(path)
    assert result["titles"] == ["Before"]
    assert str(path) in result["error"] and "amplification" in result["error"]
    out = json.dumps(result)
    assert "lollol" not in out and "xxxxxxxxxx" not in out
    assert result["peak_kb"] < 200_000


def test_declared_entities_are_dropped_not_expanded(tmp_path: Path) -> None:
    path = tmp_path / "tame.xml"
    doctype = BILLION_LAUGHS.replace("{big}", "BIG")
    path.write_text(document(record(1, "a &lol2; b &lol; c", "x &big; y") + record(2), doctype))
    result = _bomb_child(path)
    assert result["error"] is None
    assert result["titles"] == ["a b c", "T"] and result["abstracts"] == ["x y", ""]
    assert "lol" not in json.dumps(result["titles"]) and "BIG" not in json.dumps(result)


# ----------------------------------------------------------------------------- external entities


def test_external_file_entities_are_never_read(tmp_path: Path, caplog) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-MARKER-31337")
    doctype = (
        "<!DOCTYPE PubmedArticleSet [\n"
        '<!ENTITY passwd SYSTEM "file:///etc/passwd">\n'
        f'<!ENTITY secret SYSTEM "file://{secret}">\n'
        f'<!ENTITY % pe SYSTEM "file://{secret}">\n'
        "]>"
    )
    body = record(1, "a &passwd; b &secret; c", "x &secret; y") + record(2, "&secret;")
    path = tmp_path / "xxe.xml"
    path.write_text(document(body, doctype))
    stats = SourceStats()
    with caplog.at_level(logging.DEBUG):
        records = list(iter_records(path, stats))
    out = everything(records, stats, [r.getMessage() for r in caplog.records])
    assert [r.pmid for r in records] == [1, 2]
    assert records[0].title == "a b c" and records[0].abstract == "x y"
    assert "TOP-SECRET-MARKER" not in out
    assert "root:" not in out and "/bin/" not in out


class _Recorder(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []  # replaced per test by the fixture

    def do_GET(self) -> None:
        type(self).hits.append(self.path)
        body = b'<!ENTITY evil "FETCHED-OVER-HTTP">'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def local_http() -> Iterator[tuple[str, list[str]]]:
    handler = type("Handler", (_Recorder,), {"hits": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler.hits
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_network_dtd_and_entities_are_never_fetched(tmp_path: Path, local_http) -> None:
    url, hits = local_http
    # The server does answer (so a fetch would have been possible and recorded).
    import urllib.request

    with urllib.request.urlopen(f"{url}/probe", timeout=5) as resp:
        assert b"FETCHED" in resp.read()
    assert hits == ["/probe"]
    hits.clear()

    cases = {
        "dtd.xml": document(
            record(1, "t &evil; x"), f'<!DOCTYPE PubmedArticleSet SYSTEM "{url}/a.dtd">'
        ),
        "public.xml.gz": document(
            record(2, "t &evil; x"),
            f'<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle//EN" "{url}/b.dtd">',
        ),
        "entity.xml": document(
            record(3, "t &e; x"), f'<!DOCTYPE PubmedArticleSet [<!ENTITY e SYSTEM "{url}/e">]>'
        ),
        "param.xml": document(
            record(4, "t &evil; x"),
            f'<!DOCTYPE PubmedArticleSet [<!ENTITY % pe SYSTEM "{url}/pe.dtd"> %pe;]>',
        ),
        "xinclude.xml": document(
            record(5, f'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="{url}/x"/>')
        ),
    }
    titles = []
    for name, text in cases.items():
        path = tmp_path / name
        data = text.encode()
        path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
        titles += [r.title for r in iter_records(path)]
    assert hits == []
    assert titles == ["t x", "t x", "t x", "t x", ""]
    assert not any("FETCHED" in t for t in titles)


# ----------------------------------------------------------------------------- broken files


def _many(n: int, start: int = 1) -> str:
    return "".join(record(i, f"Title {i}", f"Abstract {i} " * 20) for i in range(start, start + n))


def test_truncated_gzip_names_the_file_after_yielding_what_came_before(tmp_path: Path) -> None:
    data = gzip.compress(document(_many(3000)).encode(), compresslevel=1)
    path = tmp_path / "cut.xml.gz"
    path.write_bytes(data[: len(data) // 2])
    got: list = []
    with pytest.raises(SourceError) as err:
        got.extend(iter_records(path))
    assert str(path) in str(err.value) and "truncated" in str(err.value)
    assert 0 < len(got) < 3000
    assert [r.pmid for r in got] == list(range(1, len(got) + 1))


def test_truncated_plain_xml_and_jsonl_gz(tmp_path: Path) -> None:
    xml = tmp_path / "cut.xml"
    xml.write_text(document(_many(5))[:-40])
    with pytest.raises(SourceError, match=r"cut\.xml: XML error"):
        list(iter_records(xml))
    lines = "".join(json.dumps({"pmid": i, "title": f"t{i}"}) + "\n" for i in range(1, 5000))
    data = gzip.compress(lines.encode(), compresslevel=1)
    jl = tmp_path / "cut.jsonl.gz"
    jl.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(SourceError, match=r"cut\.jsonl\.gz: truncated"):
        list(iter_records(jl))


@pytest.mark.parametrize(
    "payload",
    [b"\xff\xfe\xfa", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\x00"],
    ids=["ff", "bad-continuation", "surrogate", "5-byte", "nul"],
)
def test_invalid_utf8_is_a_clean_error(tmp_path: Path, payload: bytes) -> None:
    head = document(record(1) + record(2, "before")).encode()
    tail = record(3, "bad " + "x" * 50_000).encode().replace(b"bad ", b"bad " + payload)
    data = head.replace(b"</PubmedArticleSet>", tail + b"</PubmedArticleSet>")
    path = tmp_path / "bad.xml"
    path.write_bytes(data)
    got: list = []
    with pytest.raises(SourceError) as err:
        got.extend(iter_records(path))
    assert str(path) in str(err.value)
    assert [r.pmid for r in got] == [1, 2]


def test_declared_latin1_encoding_is_honoured(tmp_path: Path) -> None:
    path = tmp_path / "latin.xml"
    text = document(record(1, "caf\xe9 na\xefve")).replace(
        'version="1.0"', 'version="1.0" encoding="ISO-8859-1"'
    )
    path.write_bytes(text.encode("latin-1"))
    assert [r.title for r in iter_records(path)] == ["café naïve"]


@pytest.mark.parametrize(
    "data",
    [b"", b"\x00" * 100, b"not xml at all", b"<PubmedArticleSet>", b"\x1f\x8b\x08garbage",
     b"<?xml version='1.0'?><PubmedArticleSet><PubmedArticle></PubmedArticleSet>"],
)  # fmt: skip
def test_garbage_is_a_source_error(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "junk.xml"
    path.write_bytes(data)
    with pytest.raises(SourceError, match=r"junk\.xml"):
        list(iter_records(path))


def test_deep_nesting_hits_the_parser_limit_cleanly(tmp_path: Path) -> None:
    deep = "<i>" * 5000 + "x" + "</i>" * 5000
    path = tmp_path / "deep.xml"
    path.write_text(document(record(1) + record(2, deep)))
    got: list = []
    with pytest.raises(SourceError, match=r"deep\.xml"):
        got.extend(iter_records(path))
    assert [r.pmid for r in got] == [1]


def test_not_a_gzip_file(tmp_path: Path) -> None:
    path = tmp_path / "plain.xml.gz"
    path.write_text(document(record(1)))
    with pytest.raises(SourceError, match=r"plain\.xml\.gz.*Not a gzipped file"):
        list(iter_records(path))


# ----------------------------------------------------------------------------- big and odd records


def test_ten_megabyte_abstract_parses(tmp_path: Path) -> None:
    chunk = ("lorem ipsum dolor sit amet " * 100_000)[:2_621_440]  # 2.5 MiB per section
    sections = "".join(f'<AbstractText Label="S{i}">{chunk}</AbstractText>' for i in range(4))
    body = (
        '<PubmedArticle><MedlineCitation><PMID Version="1">1</PMID><Article>'
        f"<ArticleTitle>Big</ArticleTitle><Abstract>{sections}</Abstract></Article>"
        "</MedlineCitation></PubmedArticle>" + record(2)
    )
    path = tmp_path / "big.xml.gz"
    path.write_bytes(gzip.compress(document(body).encode()))
    records = list(iter_records(path))
    assert [r.pmid for r in records] == [1, 2]
    big = records[0]
    assert len(big.sections) == 4 and [s.label for s in big.sections] == ["S0", "S1", "S2", "S3"]
    assert len(big.abstract) >= 10 * 1024 * 1024 - 10
    assert big.sections[0].text == " ".join(chunk.split())


def test_text_node_over_the_parser_limit_is_a_clear_error(tmp_path: Path) -> None:
    """huge_tree stays off: one text node over libxml2's 10,000,000 bytes stops the file."""
    path = tmp_path / "huge.xml"
    path.write_text(document(record(1) + record(2, "a" * 10_000_001)))
    got: list = []
    with pytest.raises(SourceError, match=r"huge\.xml.*(too long|HUGE)"):
        got.extend(iter_records(path))
    assert [r.pmid for r in got] == [1]


def test_memory_stays_bounded_over_many_records(tmp_path: Path) -> None:
    """Peak memory does not grow with the number of records (elements are cleared)."""
    code = (
        "import gzip\n"
        "from indexer.ingest.sources import iter_records\n"
        "from tests.test_sources_hostile import _many\n"
        f"path = {str(tmp_path / 'many.xml.gz')!r}\n"
        "with gzip.open(path, 'wt', compresslevel=1) as f:\n"
        "    f.write('<?xml version=\"1.0\"?>\\n<PubmedArticleSet>')\n"
        "    for start in range(1, 60_001, 1000):\n"
        "        f.write(_many(1000, start))\n"
        "    f.write('</PubmedArticleSet>')\n"
        "base = peak_kb()\n"
        "n = sum(1 for _ in iter_records(path))\n"
        "grow = peak_kb() - base\n"
        "print(json.dumps({'n': n, 'grow_kb': grow}))\n"
    )
    result = run_isolated(code, memory_mb=3000, timeout=300)
    assert result["n"] == 60_000
    # 60,000 records of ~700 bytes: ~200 MB of tree if nothing were cleared.
    assert result["grow_kb"] < 40_000


def test_duplicate_pmids_and_versions_in_file_order(tmp_path: Path) -> None:
    body = (
        record(5, "v2 first", version=2)
        + record(5, "v1 after", version=1)
        + record(5, "v2 again", version=2)
        + "<DeleteCitation><PMID>5</PMID><PMID>5</PMID></DeleteCitation>"
        + record(5, "v3", version=3)
    )
    path = tmp_path / "dups.xml"
    path.write_text(document(body))
    stats = SourceStats()
    records = list(iter_records(path, stats))
    assert [(r.pmid, r.version, r.title) for r in records if isinstance(r, Article)] == [
        (5, 2, "v2 first"),
        (5, 1, "v1 after"),
        (5, 2, "v2 again"),
        (5, 3, "v3"),
    ]
    assert records[3:5] == [Deletion(5), Deletion(5)]
    assert (stats.articles, stats.deletions, stats.skipped) == (4, 2, 0)


def test_records_missing_every_optional_field(tmp_path: Path) -> None:
    bare = "<PubmedArticle><MedlineCitation><PMID>7</PMID></MedlineCitation></PubmedArticle>"
    empties = (
        "<PubmedArticle><MedlineCitation><PMID>8</PMID><Article><Journal><JournalIssue><PubDate/>"
        "</JournalIssue><Title/></Journal><ArticleTitle/><ELocationID EIdType='doi'/><Abstract>"
        "<AbstractText/><AbstractText Label='X'>  </AbstractText></Abstract><AuthorList><Author/>"
        "<Author><LastName/></Author></AuthorList><Language/><PublicationTypeList>"
        "<PublicationType/></PublicationTypeList><ArticleDate/></Article><MeshHeadingList>"
        "<MeshHeading/><MeshHeading><DescriptorName/></MeshHeading></MeshHeadingList>"
        "<KeywordList><Keyword/></KeywordList></MedlineCitation><PubmedData><ArticleIdList>"
        "<ArticleId IdType='doi'/></ArticleIdList></PubmedData></PubmedArticle>"
    )
    # the same for the elements of the complete citation (#17)
    empties2 = (
        "<PubmedArticle><MedlineCitation><PMID>9</PMID><DateRevised/><Article><Journal><ISSN/>"
        "<JournalIssue><Volume/><Issue/><PubDate><Year/><Month/><Day/></PubDate></JournalIssue>"
        "</Journal><Pagination><MedlinePgn/></Pagination><AuthorList><Author><AffiliationInfo>"
        "<Affiliation/></AffiliationInfo><Identifier Source='ORCID'/></Author></AuthorList>"
        "<GrantList><Grant><GrantID/><Agency/></Grant></GrantList><VernacularTitle/>"
        "<ArticleDate><Year/></ArticleDate></Article><MedlineJournalInfo><NlmUniqueID/>"
        "<ISSNLinking/></MedlineJournalInfo><ChemicalList><Chemical><RegistryNumber/>"
        "<NameOfSubstance/></Chemical></ChemicalList><CommentsCorrectionsList>"
        "<CommentsCorrections><PMID/></CommentsCorrections></CommentsCorrectionsList>"
        "<MeshHeadingList><MeshHeading><DescriptorName>D</DescriptorName><QualifierName/>"
        "</MeshHeading></MeshHeadingList><OtherAbstract><AbstractText/></OtherAbstract>"
        "</MedlineCitation><PubmedData><PublicationStatus/><ArticleIdList><ArticleId IdType='pmc'/>"
        "</ArticleIdList><ReferenceList><Reference><ArticleIdList><ArticleId IdType='pubmed'/>"
        "</ArticleIdList></Reference><ReferenceList/></ReferenceList></PubmedData></PubmedArticle>"
    )
    path = tmp_path / "bare.xml"
    path.write_text(document(bare + empties + empties2))
    stats = SourceStats()
    records = list(iter_records(path, stats))
    label_only = [Section("", "X")]  # a label-only section is kept (#17), a blank one is not
    mesh = [MeshTerm("D", None, False, (), False)]
    assert records == [Article(pmid=7), Article(pmid=8, sections=label_only), Article(9, mesh=mesh)]
    assert stats.skipped == 0
    assert not records[0].embeddable


def test_adjacent_and_nested_entity_references_all_dropped(tmp_path: Path) -> None:
    doctype = '<!DOCTYPE PubmedArticleSet [<!ENTITY a "A"><!ENTITY b "B">]>'
    title = "1 &a;&b;&a; 2 <i>&a;x&b;</i>&b; 3"
    path = tmp_path / "ents.xml"
    path.write_text(document(record(1, title, "&a;&a;&a;"), doctype))
    (art,) = iter_records(path)
    assert art.title == "1 2 x 3"
    assert art.abstract == ""
