"""Byte-level pre-filter of PubMed XML: drops elements the index never reads before lxml sees them.

Modern PubMed records carry long blocks the index reads little or nothing of: ``ReferenceList``
(the article's cited references, about 29% of the bytes of a 2021 update file, of which the
index keeps only the cited PMIDs) and ``History`` (publication-process dates, about 8%, not
kept). libxml2 costs about the same per byte whatever the element, so shrinking them before
parsing makes parsing that much cheaper: ``History`` is dropped, and each outermost
``ReferenceList`` (nested ones included) is rewritten as one compact element,
``<CitedPMIDs>PMID PMID ...</CitedPMIDs>``: the PMIDs of its
``<ArticleId IdType="pubmed">`` elements, in order (the reader de-duplicates them).

How, and what it guarantees:

- Input is cut into segments ending at a ``</PubmedArticle>`` (or ``</PubmedBookArticle>``)
  end tag, so a dropped element never straddles a segment. Memory stays bounded: a segment that
  grows past ``max_segment`` bytes without a record end is passed through unfiltered.
- Only the exact start tags ``<ReferenceList>`` and ``<History>`` (no attributes, as in the
  PubMed DTD) open a dropped span, which ends at the matching end tag (``ReferenceList`` nests).
  A start tag without its end tag in the segment is left alone, so lxml reports the error.
- Each dropped or rewritten span keeps the newlines it contained: line numbers in lxml's
  errors and ``sourceline`` stay those of the original file.
- C0 control bytes XML 1.0 forbids (all but tab, LF, CR), raw or as character references, are
  dropped and counted (:meth:`PrefilteredXML.take_dropped`): lxml would reject the file. A raw
  NUL byte is kept (the mark of a zero-filled, damaged file: lxml rejects it, the file fails).
- What is not checked: well-formedness *inside* a dropped or rewritten span (a broken
  reference no longer fails the file; only ``<ArticleId IdType="pubmed">DIGITS</ArticleId>``
  is read from it, and the compact element holds nothing but digits and spaces), and spans
  that begin inside a comment or CDATA section (PubMed files have neither; a hostile file
  can at most lose its own data this way, never expand entities or reach the network:
  lxml's safety settings apply to what remains).
"""

from __future__ import annotations

import re
from typing import IO

from indexer.ingest.controls import drop_xml_controls, may_hold_controls, utf8_document

DROPPED = (b"ReferenceList", b"History")
"""Elements shrunk before parsing: ``History`` dropped, ``ReferenceList`` rewritten."""
CITED_TAG = b"CitedPMIDs"
"""The element a ReferenceList becomes: its cited PMIDs, space-separated."""
_REWRITTEN = b"ReferenceList"
_CITED_PMID = re.compile(rb"""<ArticleId IdType=["']pubmed["']>\s*(\d{1,19})\s*</ArticleId>""")
RECORD_ENDS = (b"</PubmedArticle>", b"</PubmedBookArticle>")
_READ = 1 << 16  # lxml reads 32 KiB at a time: a read error loses no more than before


def strip_blocks(segment: bytes, tags: tuple[bytes, ...] = DROPPED) -> bytes:
    """``segment`` without the elements named ``tags`` (each replaced by its newlines, a
    ReferenceList also by its compact :data:`CITED_TAG` element)."""
    pairs = [(b"<" + t + b">", b"</" + t + b">") for t in tags]
    nxt = [segment.find(start) for start, _ in pairs]
    parts: list[bytes] = []
    pos = 0
    while True:
        live = [(i, k) for k, i in enumerate(nxt) if i >= 0]
        if not live:
            break
        i, k = min(live)
        start, end = pairs[k]
        j = _matching_end(segment, i + len(start), start, end)
        if j < 0:  # unbalanced: leave it (and the rest of this tag) to the parser to report
            nxt[k] = -1
            continue
        parts.append(segment[pos:i])
        if tags[k] == _REWRITTEN:
            pmids = _CITED_PMID.findall(segment, i, j)
            parts.append(b"<%s>%s</%s>" % (CITED_TAG, b" ".join(pmids), CITED_TAG))
        parts.append(b"\n" * segment.count(b"\n", i, j))
        pos = j
        # a start tag inside the dropped span is searched again after it; none left stays -1
        nxt = [
            x if x < 0 or x >= pos else segment.find(p[0], pos)
            for x, p in zip(nxt, pairs, strict=True)
        ]
    if not parts:
        return segment
    parts.append(segment[pos:])
    return b"".join(parts)


def _matching_end(seg: bytes, pos: int, start: bytes, end: bytes) -> int:
    """Offset just past the end tag closing a start tag that ended at ``pos`` (-1: none)."""
    depth = 1
    while True:
        close = seg.find(end, pos)
        if close < 0:
            return -1
        opened = seg.count(start, pos, close)
        depth += opened - 1
        pos = close + len(end)
        if depth == 0:
            return pos


def _end_of_last(buf: bytes, tag: bytes) -> int:
    i = buf.rfind(tag)
    return i + len(tag) if i >= 0 else -1


class PrefilteredXML:
    """A binary reader over ``raw`` giving its bytes with :data:`DROPPED` elements removed.

    ``read(n)`` may return fewer than ``n`` bytes (at most the rest of the current filtered
    block); ``b""`` means end of file, as for a raw stream.
    """

    def __init__(self, raw: IO[bytes], max_segment: int = 64 << 20, block: int = _READ) -> None:
        self._raw = raw
        self._read = block
        self._max = max_segment
        self._pending = b""  # read, not yet filtered (no record end seen yet)
        self._block = b""  # filtered, returned up to self._off
        self._off = 0
        self._eof = False
        self._dropped = 0  # control characters dropped and not yet taken
        self._utf8: bool | None = None  # decided on the first block
        self.controls_possible = False
        """Whether any text read so far can hold a control character (monotonic): False
        means the records parsed so far need no :func:`~.controls.clean_article` pass."""

    def take_dropped(self) -> int:
        """How many forbidden control characters were dropped since the last call."""
        n, self._dropped = self._dropped, 0
        return n

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            return b"".join(iter(lambda: self.read(_READ), b""))
        while self._off >= len(self._block):
            if self._eof:
                return b""
            block, dropped = drop_xml_controls(self._next_block())
            self._block, self._off = block, 0
            self._dropped += dropped
            if block and not self.controls_possible:
                if self._utf8 is None:
                    self._utf8 = utf8_document(block)
                self.controls_possible = not self._utf8 or may_hold_controls(block)
        data = self._block[self._off : self._off + n]
        self._off += len(data)
        return data

    def _next_block(self) -> bytes:
        data = self._raw.read(self._read)
        if not data:
            self._eof = True
            rest, self._pending = self._pending, b""
            return rest  # after the last record: nothing to drop
        buf = self._pending + data if self._pending else data
        cut = max(_end_of_last(buf, tag) for tag in RECORD_ENDS)
        if cut > 0:
            self._pending = buf[cut:]
            return strip_blocks(buf[:cut])
        if len(buf) > self._max:  # no record end in sight: pass through unfiltered
            self._pending = b""
            return buf
        self._pending = buf
        return b""

    def close(self) -> None:
        self._raw.close()

    def __enter__(self) -> PrefilteredXML:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
