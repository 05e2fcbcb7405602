"""NLM's bulk-file directories: their HTML index pages and ``.md5`` files.

NLM serves PubMed as ``<base>/baseline/pubmedYYnNNNN.xml.gz`` (the annual baseline) and
``<base>/updatefiles/pubmedYYnNNNN.xml.gz`` (daily updates numbered on from the baseline),
each beside ``NAME.md5`` holding ``MD5(NAME)= <hex>``. The index pages are plain HTML
directory listings; every ``href`` naming such a file is taken, whatever the layout around it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urljoin

from indexer.build.ledger import NLM_NAME, nlm_key
from indexer.sync.http import SyncError

DEFAULT_BASE_URL = "https://ftp.ncbi.nlm.nih.gov/pubmed/"
ENV_BASE_URL = "PUBMED_SEARCH_NLM_URL"
DIRS = {"baseline": "baseline", "update": "updatefiles"}  # kind -> directory name
_MD5_OPENSSL = re.compile(r"MD5\s*\((?P<name>[^)]+)\)\s*=\s*(?P<hex>[0-9a-fA-F]{32})")
_MD5_COREUTILS = re.compile(r"^(?P<hex>[0-9a-fA-F]{32})\s+\*?(?P<name>\S+)", re.M)


def base_url(url: str | None = None) -> str:
    """``url``, else ``PUBMED_SEARCH_NLM_URL``, else NLM's; always ending in ``/``."""
    chosen = url or os.environ.get(ENV_BASE_URL) or DEFAULT_BASE_URL
    return chosen if chosen.endswith("/") else chosen + "/"


@dataclass(frozen=True)
class RemoteFile:
    name: str
    kind: str  # baseline | update
    url: str
    md5_url: str

    @property
    def key(self) -> tuple[int, int]:
        key = nlm_key(self.name)
        assert key is not None
        return key

    @property
    def dirname(self) -> str:
        return DIRS[self.kind]


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.hrefs.extend(v for k, v in attrs if k == "href" and v)


def parse_index(html: str, page_url: str, kind: str) -> list[RemoteFile]:
    """The ``.xml.gz`` files an index page lists with their ``.md5``, in NLM's order."""
    links = _Links()
    links.feed(html)
    names = {h.rsplit("/", 1)[-1]: urljoin(page_url, h) for h in links.hrefs}
    files = [
        RemoteFile(name, kind, url, names[name + ".md5"])
        for name, url in names.items()
        if name.endswith(".xml.gz") and NLM_NAME.match(name) and name + ".md5" in names
    ]
    return sorted(files, key=lambda f: f.key)


def parse_md5(text: str, name: str) -> str:
    """The hex digest a ``.md5`` file gives for ``name`` (OpenSSL or coreutils format)."""
    for pattern in (_MD5_OPENSSL, _MD5_COREUTILS):
        for m in pattern.finditer(text):
            if m.group("name").strip().lstrip("*") == name:
                return m.group("hex").lower()
    raise SyncError(f"{name}.md5: no MD5 for {name} in it ({text[:80]!r})")
