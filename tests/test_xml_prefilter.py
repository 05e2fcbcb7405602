"""indexer.ingest.prefilter: dropped blocks go, everything else (and every line number) stays."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

import indexer.ingest.pubmed_xml as pubmed_xml
from indexer.ingest.prefilter import CITED_TAG, PrefilteredXML, strip_blocks
from indexer.ingest.sources import SourceError, SourceStats, iter_records
from indexer.samples import UPDATE_FILE, pubmed_sample

REFS = (
    "<ReferenceList>\n<Title>References</Title>\n"
    "<Reference><Citation>A &amp; B.\n2001</Citation><ArticleIdList>"
    '<ArticleId IdType="doi">10.1/r</ArticleId><ArticleId IdType="pubmed">111</ArticleId>'
    "</ArticleIdList></Reference>\n"
    "<ReferenceList><Reference><Citation>nested</Citation><ArticleIdList>"
    "<ArticleId IdType='pubmed'> 222 </ArticleId></ArticleIdList></Reference></ReferenceList>\n"
    "</ReferenceList>"
)


def record(pmid: int, refs: str = REFS) -> str:
    return (
        f"<PubmedArticle><MedlineCitation><PMID Version='1'>{pmid}</PMID><Article>"
        f"<ArticleTitle>Title {pmid}</ArticleTitle></Article></MedlineCitation>\n"
        "<PubmedData><History>\n<PubMedPubDate><Year>2020</Year></PubMedPubDate>\n</History>"
        f"<ArticleIdList><ArticleId IdType='doi'>10.1/{pmid}</ArticleId></ArticleIdList>\n"
        f"{refs}</PubmedData></PubmedArticle>\n"
    )


def document(n: int, refs: str = REFS) -> bytes:
    body = "".join(record(i + 1, refs) for i in range(n))
    return f'<?xml version="1.0"?>\n<PubmedArticleSet>\n{body}</PubmedArticleSet>\n'.encode()


def lxml_stripped(data: bytes) -> bytes:
    """The reference result: the same document with History removed and each outermost
    ReferenceList replaced by its cited PMIDs, by a real XML tree."""
    root = etree.fromstring(data)
    for el in root.xpath("//History"):
        el.getparent().remove(el)  # tails of removed elements are whitespace here
    for el in root.xpath("//ReferenceList[not(ancestor::ReferenceList)]"):
        cited = etree.Element(CITED_TAG.decode())
        cited.text = " ".join(x.text.strip() for x in el.xpath(".//ArticleId[@IdType='pubmed']"))
        el.getparent().replace(el, cited)
    return etree.tostring(root, method="c14n")


def canonical(data: bytes) -> bytes:
    parser = etree.XMLParser(remove_blank_text=True)
    return etree.tostring(etree.fromstring(data, parser), method="c14n")


def test_blocks_removed_lines_kept_and_nesting_respected() -> None:
    data = document(3)
    out = strip_blocks(data)
    assert b"ReferenceList" not in out and b"History" not in out and b"<Citation>" not in out
    assert out.count(b"<CitedPMIDs>111 222</CitedPMIDs>") == 3
    assert out.count(b"\n") == data.count(b"\n")  # line numbers survive
    assert canonical(out) == canonical(lxml_stripped(data))
    assert b"<ArticleId IdType='doi'>10.1/3</ArticleId>" in out


def test_unbalanced_block_is_left_for_the_parser() -> None:
    seg = b"<a><History><x/></a>"
    assert strip_blocks(seg) == seg
    seg = b"<r><ReferenceList><ReferenceList></ReferenceList></r>"
    assert strip_blocks(seg) == seg


def test_attributes_and_similar_names_are_not_dropped() -> None:
    seg = b"<r><History a='1'>k</History><HistoryX>k</HistoryX><ReferenceListing/></r>"
    assert strip_blocks(seg) == seg


@given(
    n=st.integers(1, 40),
    read_size=st.integers(1, 5000),
    block=st.integers(16, 4096),
)
@settings(max_examples=60, deadline=None)
def test_reader_gives_the_same_document_whatever_the_read_sizes(
    n: int, read_size: int, block: int
) -> None:
    data = document(n)
    reader = PrefilteredXML(io.BytesIO(data), block=block)
    chunks = []
    while chunk := reader.read(read_size):
        assert len(chunk) <= read_size
        chunks.append(chunk)
    out = b"".join(chunks)
    assert out == strip_blocks(data)
    assert PrefilteredXML(io.BytesIO(data), block=block).read() == out


def test_a_segment_without_record_end_passes_through_unfiltered() -> None:
    data = b"<PubmedArticleSet><History>" + b"x" * 5000 + b"</History>"
    reader = PrefilteredXML(io.BytesIO(data), max_segment=1000)
    assert reader.read() == data


def test_line_numbers_in_errors_are_those_of_the_original_file(tmp_path: Path) -> None:
    good = document(2).decode()
    bad = good.replace("</PubmedArticleSet>", "<PubmedArticle><broken></PubmedArticleSet>")
    path = tmp_path / "bad.xml"
    path.write_text(bad)
    line = bad.count("\n", 0, bad.index("<broken>")) + 1
    with pytest.raises(SourceError, match=f"line {line}"):
        list(iter_records(path))


def test_real_file_reads_the_same_with_and_without_the_prefilter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The update file (5,111 ReferenceLists, 20,788 Histories): identical records either way."""
    path = pubmed_sample(UPDATE_FILE)
    with_filter = list(iter_records(path, SourceStats()))

    class Passthrough(PrefilteredXML):
        def _next_block(self) -> bytes:
            data = self._raw.read(1 << 20)
            self._eof = not data
            return data

    monkeypatch.setattr(pubmed_xml, "PrefilteredXML", Passthrough)
    without = list(iter_records(path, SourceStats()))
    assert len(with_filter) == 20808
    assert with_filter == without
