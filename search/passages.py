"""Citable passages: the part of an abstract that best answers a query, with its offsets.

A passage is one abstract section, or, when a section is longer than the token budget, a
window of its consecutive sentences, never longer than :data:`MAX_PASSAGE_TOKENS` tokens of
the index's own tokenizer (the query encoder's, no special tokens), so it fits a prompt and
the encoder's window. Its ``[start, end)`` are character offsets into the stored abstract
(``Article.abstract``: the non-empty sections joined by one space), so
``abstract[start:end] == passage.text`` exactly; ``section`` is its section's label
(NlmCategory when unlabelled, None for an unstructured abstract).

Scoring is lexical: the number of distinct analysed query terms (``indexer.lexical``'s own
analysis: the index's tokens, stop words and stemming) a candidate holds, then how often they
occur, then the earliest candidate. It costs a tokenizer call and a scan per hit (about a
millisecond for a page of ten); scoring candidates with the dense encoder instead costs one
forward pass per candidate (README: measured), for passages of a few sentences where the
terms the ranking matched are what a reader looks for.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from indexer.lexical.analysis import Analysis, normalise, query_terms, words
from indexer.records import Section

MAX_PASSAGE_TOKENS = 128
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_WORD = re.compile(r"\S+")

TokenCounter = Callable[[Sequence[str]], list[int]]
"""Token counts of texts (``indexer.models.encoder.Encoder.count_tokens``)."""


@dataclass(frozen=True, slots=True)
class Passage:
    """``text == abstract[start:end]``; ``tokens``: its length in the index's tokens;
    ``matched``: distinct query terms it holds."""

    text: str
    start: int
    end: int
    section: str | None
    tokens: int
    matched: int

    def to_dict(self) -> dict:
        return {
            "text": self.text,
            "start": self.start,
            "end": self.end,
            "section": self.section,
            "tokens": self.tokens,
            "matched_terms": self.matched,
        }


def section_spans(sections: Sequence[Section]) -> list[tuple[int, int, str | None]]:
    """``(start, end, label)`` of each non-empty section in ``Article.abstract``."""
    out, pos = [], 0
    for s in sections:
        if not s.text:
            continue
        out.append((pos, pos + len(s.text), s.label or s.category or None))
        pos += len(s.text) + 1
    return out


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def sentence_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """The sentences of ``text[start:end]`` as trimmed, non-empty absolute spans."""
    out, pos = [], start
    for m in _SENTENCE_END.finditer(text, start, end):
        out.append(_trim(text, pos, m.start()))
        pos = m.end()
    out.append(_trim(text, pos, end))
    return [(a, b) for a, b in out if a < b]


class PassageFinder:
    """Finds the best passage of an abstract for a query (see the module docstring)."""

    def __init__(
        self, count_tokens: TokenCounter, analysis: Analysis, max_tokens: int = MAX_PASSAGE_TOKENS
    ) -> None:
        self.count = count_tokens
        self.analysis = analysis
        self.max_tokens = max_tokens

    def _fit(self, text: str, span: tuple[int, int]) -> list[tuple[int, int, int]]:
        """``span`` as pieces of at most ``max_tokens`` tokens: ``(start, end, tokens)``.
        A sentence over the budget is halved between words until the halves fit; a single
        word over it, between characters (each piece's count is of its exact text)."""
        a, b = span
        (n,) = self.count([text[a:b]])
        if n <= self.max_tokens:
            return [(a, b, n)]
        pieces: list[tuple[int, int, int]] = []
        words_ = [(m.start(), m.end()) for m in _WORD.finditer(text, a, b)]
        if len(words_) == 1:  # one enormous "word": halve it until the halves fit
            mid = a + max(1, (b - a) // 2)
            return self._fit(text, (a, mid)) + self._fit(text, (mid, b))
        half = len(words_) // 2
        left = (words_[0][0], words_[half - 1][1])
        right = (words_[half][0], words_[-1][1])
        pieces += self._fit(text, left)
        pieces += self._fit(text, right)
        return pieces

    def candidates(self, abstract: str, sections: Sequence[Section]) -> list[tuple]:
        """``(start, end, tokens, label)`` of every candidate passage, in text order.

        Counts of sections and sentences are exact; a window's is the sum of its sentences'
        (what WordPiece gives, since its words never cross white space): :meth:`best`
        recounts the passage it picks."""
        spans = [(*_trim(abstract, a, b), label) for a, b, label in section_spans(sections)]
        spans = [(a, b, label) for a, b, label in spans if a < b]
        out = []
        counts = self.count([abstract[a:b] for a, b, _ in spans])
        for (a, b, label), n in zip(spans, counts, strict=True):
            if n <= self.max_tokens:
                out.append((a, b, n, label))
                continue
            sentences = sentence_spans(abstract, a, b)
            sizes = self.count([abstract[x:y] for x, y in sentences])
            units = [
                piece
                for (x, y), c in zip(sentences, sizes, strict=True)
                for piece in ([(x, y, c)] if c <= self.max_tokens else self._fit(abstract, (x, y)))
            ]
            for i in range(len(units)):
                j, total = i, 0
                while j < len(units) and total + units[j][2] <= self.max_tokens:
                    total += units[j][2]
                    j += 1
                if j == i:  # a piece over the budget (cannot happen: _fit splits to fit)
                    j, total = i + 1, units[i][2]
                out.append((units[i][0], units[j - 1][1], total, label))
        return out

    def _score(self, text: str, terms: set[str]) -> tuple[int, int]:
        """(distinct query terms in ``text``, their occurrences)."""
        found = [normalise(w, self.analysis) for w in words(text, self.analysis.token)]
        hits = [t for t in found if t in terms]
        return len(set(hits)), len(hits)

    def best(self, abstract: str, sections: Sequence[Section], query: str) -> Passage | None:
        """The best passage of ``abstract`` for ``query`` (None when there is no text): the
        best-scoring candidate whose exact token count is within the budget."""
        cands = self.candidates(abstract, sections)
        if not cands:
            return None
        terms = set(query_terms(query, self.analysis))
        keys = [self._score(abstract[c[0] : c[1]], terms) for c in cands]
        order = sorted(range(len(cands)), key=lambda i: (-keys[i][0], -keys[i][1], i))
        for i in order:
            start, end, _, label = cands[i]
            (exact,) = self.count([abstract[start:end]])
            if exact <= self.max_tokens:
                return Passage(abstract[start:end], start, end, label, exact, keys[i][0])
        # No candidate fits exactly (a tokenizer whose counts are not additive): the best
        # one, halved from its end until it does.
        start, end, _, label = cands[order[0]]
        while True:
            (exact,) = self.count([abstract[start:end]])
            if exact <= self.max_tokens or end - start <= 1:
                text = abstract[start:end]
                return Passage(text, start, end, label, exact, self._score(text, terms)[0])
            end = start + (end - start) // 2
