"""Control characters and terminal escapes: dropped at ingest, counted, never printed raw."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from indexer.ingest.controls import clean_article, has_controls
from indexer.ingest.sources import SourceStats, iter_records
from indexer.records import (
    Article,
    AuthorDetail,
    Chemical,
    CommentCorrection,
    Grant,
    MeshQualifier,
    MeshTerm,
    PubDate,
    Section,
)
from tests.fixtures.indexes import synthetic_articles, write_jsonl

OSC_TITLE = "\x1b]0;pwned\x07"  # retitles a terminal
CSI_CLEAR = "\x1b[2J"  # clears it
C1_CSI = "\x9b2J"  # the one-byte C1 form of CSI
NASTY = f"a\x00b{OSC_TITLE}c{CSI_CLEAR}d{C1_CSI}e\x7f"
# each control character in NASTY: NUL, ESC (x2), BEL, C1 CSI, DEL
NASTY_CONTROLS = 6
BAD = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _fields(a: Article) -> list[str]:
    out = [a.title, a.journal, a.journal_iso, a.doi or ""]
    out += a.languages
    out += [s.text for s in a.sections] + a.authors + a.keywords + a.publication_types
    out += [m.name for m in a.mesh]
    return out


def _assert_clean(a: Article) -> None:
    for text in _fields(a):
        assert not BAD.search(text), repr(text)
    assert "pwned" in a.title  # the text between the escapes stays, only controls go


def test_jsonl_controls_are_dropped_and_counted(tmp_path: Path) -> None:
    row = {
        "pmid": 1,
        "title": "T " + NASTY,
        "abstract": "A " + NASTY,
        "authors": ["Smith " + NASTY],
        "journal": "J " + NASTY,
        "mesh": [{"name": "M " + NASTY, "ui": "D1"}],
        "keywords": ["k\x1b[31m"],
    }
    path = write_jsonl(tmp_path / "x.jsonl", [row])
    stats = SourceStats()
    (a,) = list(iter_records(path, stats))
    _assert_clean(a)
    assert a.title == "T ab]0;pwnedc[2Jd2Je"
    assert a.keywords == ["k[31m"]
    assert stats.controls_dropped == 5 * NASTY_CONTROLS + 1
    assert stats.articles == 1 and stats.skipped == 0


def test_xml_controls_raw_and_as_references_are_dropped_and_counted(tmp_path: Path) -> None:
    # a raw NUL byte still fails the file (test_sources_hostile: a zero-filled, damaged file)
    raw = "ab\x1b]0;pwned\x07c\x1b[2Jd\u009b2Je\x7f"  # raw C0 bytes: lxml rejects them
    ref = "a&#0;b&#27;]0;pwned&#x7;c&#x1B;[2Jd&#x9B;2Je&#127;"  # and their references
    xml = (
        '<?xml version="1.0"?>\n<PubmedArticleSet><PubmedArticle><MedlineCitation>'
        f'<PMID Version="1">7</PMID><Article><Journal><Title>J {raw}</Title></Journal>'
        f"<ArticleTitle>T {raw}</ArticleTitle>"
        f"<Abstract><AbstractText>A {ref}</AbstractText></Abstract>"
        f"<AuthorList><Author><LastName>Smith {ref}</LastName><Initials>J</Initials></Author>"
        "</AuthorList></Article></MedlineCitation></PubmedArticle></PubmedArticleSet>\n"
    )
    path = tmp_path / "x.xml"
    path.write_bytes(xml.encode("utf-8"))
    stats = SourceStats()
    (a,) = list(iter_records(path, stats))
    _assert_clean(a)
    assert a.title == "T ab]0;pwnedc[2Jd2Je"
    assert a.abstract == "A ab]0;pwnedc[2Jd2Je"
    assert a.journal.startswith("J ab]0;pwned")
    assert a.authors and not BAD.search(a.authors[0])
    assert stats.controls_dropped == 2 * (NASTY_CONTROLS - 1) + 2 * NASTY_CONTROLS
    assert stats.articles == 1 and stats.skipped == 0


def test_build_summary_reports_dropped_controls(tmp_path: Path, tiny_model_dir: Path) -> None:
    from indexer.build import build
    from indexer.build.settings import BuildSettings

    rows = synthetic_articles(6, seed=3)
    rows[0]["title"] += CSI_CLEAR
    path = write_jsonl(tmp_path / "c.jsonl", rows)
    settings = BuildSettings(model=str(tiny_model_dir), max_length=64, show_progress=False)
    summary = build(tmp_path / "index", [path], settings)
    assert summary.controls_dropped == 1
    assert "control characters dropped 1" in summary.line()


@pytest.fixture(scope="module")
def dirty_index(tmp_path_factory, tiny_model_dir: Path) -> Path:
    """An index whose store holds a record with controls (as an index built before the fix)."""
    from indexer.build import build
    from indexer.build.settings import BuildSettings
    from indexer.ingest import jsonl

    rows = synthetic_articles(8, seed=5)
    rows[0].update(
        title="asthma " + NASTY,
        journal="J " + NASTY,
        abstract="asthma inhaled budesonide " + NASTY + " wheeze",
    )
    base = tmp_path_factory.mktemp("dirty")
    path = write_jsonl(base / "d.jsonl", rows)
    settings = BuildSettings(model=str(tiny_model_dir), max_length=64, show_progress=False)
    mp = pytest.MonkeyPatch()
    mp.setattr(jsonl, "clean_article", lambda a: (a, 0))  # the old, unfiltered reader
    try:
        build(base / "index", [path], settings)
    finally:
        mp.undo()
    return base / "index"


def test_query_prints_no_terminal_controls_even_from_an_old_index(dirty_index: Path) -> None:
    from pubmed_search.cli import cli

    result = CliRunner().invoke(
        cli, ["query", "--index", str(dirty_index), "--mode", "lexical", "asthma pwned"]
    )
    assert result.exit_code == 0, result.output
    assert "PMID 1000 " in result.output  # the dirty record was found and printed
    assert "asthma ab" in result.output  # its title, without the escapes
    assert not BAD.search(result.output.replace("\n", "")), repr(result.output)


def test_the_dirty_index_really_holds_controls(dirty_index: Path) -> None:
    from search import SearchEngine

    engine = SearchEngine.open(str(dirty_index))
    try:
        hits = engine.search("asthma pwned", k=3, mode="lexical").hits
    finally:
        engine.close()
    assert any("\x1b" in h.title for h in hits)  # so the CLI test above is not vacuous
    json.dumps([h.title for h in hits])


def _full_article() -> Article:
    return Article(
        pmid=5, title="t", sections=[Section("s", "L", "C")], journal="j", journal_iso="ji",
        authors=["A B"], mesh=[MeshTerm("m", "D1", True, (MeshQualifier("q", "Q1", True),), False)],
        publication_types=["p"], keywords=["k"], languages=["eng"], doi="d", vernacular_title="v",
        author_details=[AuthorDetail("A", "Bo", "B", "c", ("aff",), "0000")], issn="i",
        issn_type="Print", issn_linking="l", nlm_unique_id="n", volume="1", issue="2", pages="3",
        pub_date=PubDate(2000, 1, 2, "Spring", "2000 Jan"), article_date="2000-01",
        date_revised="2001", publication_status="ppublish", medline_status="MEDLINE",
        grants=[Grant("g", "a", "ag", "c")], chemicals=[Chemical("ch", "D2", "0")], pmc="PMC1",
        comments_corrections=[CommentCorrection("CommentOn", 3, "src")],
    )  # fmt: skip


def _string_paths(value, path=()):
    """Paths (keys and indexes) of every string in a to_dict() tree."""
    if isinstance(value, str):
        yield path
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _string_paths(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _string_paths(v, (*path, i))


def test_every_text_field_of_the_complete_record_is_cleaned() -> None:
    """A control put into any one string of the record (#17's fields included) is found and
    dropped, and counted once."""
    base = _full_article().to_dict()
    paths = [p for p in _string_paths(base) if p[0] not in ("abstract", "abstract_source")]
    assert len(paths) > 40
    for path in paths:
        d = json.loads(json.dumps(base))
        node = d
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = "x\x1by" + node[path[-1]]
        dirty = Article.from_dict(d)
        assert has_controls(dirty), path
        clean, dropped = clean_article(dirty)
        assert dropped == 1 and not BAD.search(json.dumps(clean.to_dict(), ensure_ascii=False))
        assert not has_controls(clean) and not has_controls(_full_article())
