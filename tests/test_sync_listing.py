"""NLM index pages and .md5 files (indexer.sync.listing): examples and properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from indexer.sync import SyncError
from indexer.sync.listing import base_url, parse_index, parse_md5

PAGE = "https://ftp.ncbi.nlm.nih.gov/pubmed/baseline/"
NLM_PAGE = """<html>
 <head>
  <title>Index of /pubmed/baseline</title>
 </head>
 <body>
<h1>Index of /pubmed/baseline</h1>
<pre>Name                     Last modified      Size  <hr><a href="/pubmed/">Parent Directory</a>
<a href="README.txt">README.txt</a>               2024-11-12 14:04  4.0K
<a href="pubmed25n0002.xml.gz">pubmed25n0002.xml.gz</a>     2024-11-13 05:31   20M
<a href="pubmed25n0002.xml.gz.md5">pubmed25n0002.xml.gz.md5</a> 2024-11-13 05:31   60
<a href="pubmed25n0001.xml.gz">pubmed25n0001.xml.gz</a>     2024-11-13 05:31   19M
<a href="pubmed25n0001.xml.gz.md5">pubmed25n0001.xml.gz.md5</a> 2024-11-13 05:31   60
<a href="pubmed25n0003.xml.gz">pubmed25n0003.xml.gz</a>     2024-11-13 05:31   19M
<hr></pre>
</body></html>
"""


def test_an_nlm_page_gives_its_files_with_md5_in_order():
    files = parse_index(NLM_PAGE, PAGE, "baseline")
    assert [f.name for f in files] == ["pubmed25n0001.xml.gz", "pubmed25n0002.xml.gz"]  # 3: no md5
    assert files[0].url == PAGE + "pubmed25n0001.xml.gz"
    assert files[0].md5_url == PAGE + "pubmed25n0001.xml.gz.md5"
    assert files[0].key == (25, 1) and files[0].dirname == "baseline"


names = st.tuples(st.integers(0, 99), st.integers(1, 9999)).map(
    lambda t: f"pubmed{t[0]:02d}n{t[1]:04d}.xml.gz"
)
noise = st.text(
    st.characters(blacklist_characters='<>&"', blacklist_categories=("Cs",)), max_size=20
)


@given(st.sets(names, max_size=30), st.sets(names, max_size=10), st.lists(noise, max_size=5))
def test_every_listed_file_with_an_md5_is_found(with_md5, without_md5, junk):
    links = [f'<a href="{n}">{n}</a>' for n in sorted(with_md5 | without_md5)]
    links += [f'<a href="{n}.md5">{n}.md5</a>' for n in sorted(with_md5)]
    links += [f'<a href="other-{j}.txt">{j}</a> {j}' for j in junk]
    html = "<html><body><pre>" + "\n".join(reversed(links)) + "</pre></body></html>"
    files = parse_index(html, PAGE, "update")
    assert [f.name for f in files] == sorted(with_md5, key=lambda n: (n[6:8], n[9:13]))
    assert all(f.url == PAGE + f.name and f.kind == "update" for f in files)


def test_absolute_links_resolve_against_the_page():
    html = '<a href="/pubmed/updatefiles/pubmed25n1300.xml.gz">x</a>'
    html += '<a href="/pubmed/updatefiles/pubmed25n1300.xml.gz.md5">y</a>'
    (f,) = parse_index(html, "http://127.0.0.1:9/pubmed/updatefiles/", "update")
    assert f.url == "http://127.0.0.1:9/pubmed/updatefiles/pubmed25n1300.xml.gz"


@given(st.text("0123456789abcdef", min_size=32, max_size=32), names)
def test_md5_files_in_both_formats(digest, name):
    assert parse_md5(f"MD5({name})= {digest}\n", name) == digest
    assert parse_md5(f"{digest.upper()}  {name}\n", name) == digest
    assert parse_md5(f"{digest} *{name}\n", name) == digest


def test_an_md5_file_for_another_name_is_an_error():
    with pytest.raises(SyncError, match=r"no MD5 for pubmed25n0001\.xml\.gz"):
        parse_md5("MD5(pubmed25n0002.xml.gz)= " + "0" * 32, "pubmed25n0001.xml.gz")


def test_the_base_url(monkeypatch):
    monkeypatch.delenv("PUBMED_SEARCH_NLM_URL", raising=False)
    assert base_url() == "https://ftp.ncbi.nlm.nih.gov/pubmed/"
    monkeypatch.setenv("PUBMED_SEARCH_NLM_URL", "http://127.0.0.1:8080/mirror")
    assert base_url() == "http://127.0.0.1:8080/mirror/"
    assert base_url("http://x/y/") == "http://x/y/"
