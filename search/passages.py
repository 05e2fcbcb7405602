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
occur, then the earliest candidate. A page costs two tokenizer calls (every abstract at once,
with offsets, so any span's token count is a lookup; then the picked passages, recounted
exactly) and one scan of each abstract; scoring the candidates with the dense encoder instead
costs a forward pass over every candidate, several hundred times more (README: measured),
for passages of a few sentences where the query's terms are what a reader looks for.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from indexer.lexical.analysis import Analysis, normalise, query_terms, word_pattern
from indexer.records import Section

MAX_PASSAGE_TOKENS = 128
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_WORD = re.compile(r"\S+")

TokenCounter = Callable[[Sequence[str]], list[int]]
"""Token counts of texts (``indexer.models.encoder.Encoder.count_tokens``)."""
TokenOffsets = Callable[[Sequence[str]], list[list[tuple[int, int]]]]
"""``[start, end)`` character offsets of each text's tokens
(``indexer.models.encoder.Encoder.token_offsets``)."""


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


class TokenSpans:
    """Token counts of spans of one text, from its tokens' character offsets."""

    def __init__(self, offsets: list[tuple[int, int]]) -> None:
        self.starts = [a for a, _ in offsets]
        self.ends = [b for _, b in offsets]

    def count(self, a: int, b: int) -> int:
        """Tokens lying within ``[a, b)``."""
        return max(0, bisect.bisect_right(self.ends, b) - bisect.bisect_left(self.starts, a))


class PassageFinder:
    """Finds the best passage of abstracts for a query (see the module docstring)."""

    def __init__(
        self,
        count_tokens: TokenCounter,
        token_offsets: TokenOffsets,
        analysis: Analysis,
        max_tokens: int = MAX_PASSAGE_TOKENS,
    ) -> None:
        self.count = count_tokens
        self.offsets = token_offsets
        self.analysis = analysis
        self.max_tokens = max_tokens

    def _fit(self, text: str, spans: TokenSpans, a: int, b: int) -> list[tuple[int, int, int]]:
        """``[a, b)`` as pieces of at most ``max_tokens`` tokens: ``(start, end, tokens)``.
        A sentence over the budget is halved between words until the halves fit; a single
        word over it, between characters."""
        n = spans.count(a, b)
        if n <= self.max_tokens or b - a <= 1:
            return [(a, b, n)]
        found = [(m.start(), m.end()) for m in _WORD.finditer(text, a, b)]
        if len(found) <= 1:  # one enormous "word": halve it
            mid = a + (b - a) // 2
            return self._fit(text, spans, a, mid) + self._fit(text, spans, mid, b)
        half = len(found) // 2
        left = self._fit(text, spans, found[0][0], found[half - 1][1])
        return left + self._fit(text, spans, found[half][0], found[-1][1])

    def candidates(
        self, abstract: str, sections: Sequence[Section], spans: TokenSpans
    ) -> list[tuple[int, int, int, str | None]]:
        """``(start, end, tokens, label)`` of every candidate passage, in text order: each
        section within the budget, else windows of its consecutive sentences (as many as fit,
        one starting at each sentence)."""
        out = []
        for s_start, s_end, label in section_spans(sections):
            a, b = _trim(abstract, s_start, s_end)
            if a >= b:
                continue
            if spans.count(a, b) <= self.max_tokens:
                out.append((a, b, spans.count(a, b), label))
                continue
            units = [
                piece
                for x, y in sentence_spans(abstract, a, b)
                for piece in self._fit(abstract, spans, x, y)
            ]
            for i in range(len(units)):
                j, total = i, 0
                while j < len(units) and total + units[j][2] <= self.max_tokens:
                    total += units[j][2]
                    j += 1
                j = max(j, i + 1)
                out.append((units[i][0], units[j - 1][1], total, label))
        return out

    def _ranked(self, abstract: str, cands: list, terms: set[str]) -> list[tuple]:
        """``(matched, candidate)`` best first: distinct query terms, their occurrences, the
        earliest (the abstract's words are analysed once, then counted per candidate)."""
        # A stem keeps its word's first two letters (Snowball only rewrites a suffix), so a
        # word that starts otherwise than every term cannot be one: no need to analyse it.
        heads = {t[:2] for t in terms}
        hits = [
            (m.start(), t)
            for m in word_pattern(self.analysis.token).finditer(abstract.lower())
            if (len(m.group()) < 3 or m.group()[:2] in heads)
            and (t := normalise(m.group(), self.analysis)) in terms
        ]
        where = [p for p, _ in hits]
        scored = []
        for i, (a, b, n, label) in enumerate(cands):
            inside = [
                t for _, t in hits[bisect.bisect_left(where, a) : bisect.bisect_left(where, b)]
            ]
            scored.append(
                ((-len(set(inside)), -len(inside), i), len(set(inside)), (a, b, n, label))
            )
        return [(matched, cand) for _, matched, cand in sorted(scored)]

    def best_many(
        self, articles: Sequence[tuple[str, Sequence[Section]]], query: str
    ) -> list[Passage | None]:
        """The best passage of each ``(abstract, sections)`` for ``query`` (None: no text)."""
        terms = set(query_terms(query, self.analysis))
        texts = [abstract for abstract, _ in articles]
        offsets = self.offsets(texts) if any(texts) else [[] for _ in texts]
        ranked = [
            self._ranked(abstract, self.candidates(abstract, sections, TokenSpans(offs)), terms)
            for (abstract, sections), offs in zip(articles, offsets, strict=True)
        ]
        picks = [r[0] if r else None for r in ranked]
        exact = self.count([texts[i][p[1][0] : p[1][1]] for i, p in enumerate(picks) if p])
        counts = iter(exact)
        out: list[Passage | None] = []
        for abstract, pick, rest in zip(texts, picks, ranked, strict=True):
            if pick is None:
                out.append(None)
                continue
            out.append(self._passage(abstract, pick, next(counts), rest, terms))
        return out

    def best(self, abstract: str, sections: Sequence[Section], query: str) -> Passage | None:
        """The best passage of one abstract for ``query`` (None when there is no text)."""
        return self.best_many([(abstract, sections)], query)[0]

    def _passage(self, text: str, pick: tuple, exact: int, ranked: list, terms: set[str]):
        """``pick`` as a Passage when its exact count is within the budget; else the next
        candidates, recounted one by one, and at worst the best one halved until it fits
        (offset counts are exact for WordPiece; this guards other tokenizers)."""
        matched, (start, end, _, label) = pick
        if exact <= self.max_tokens:
            return Passage(text[start:end], start, end, label, exact, matched)
        for matched, (start, end, _, label) in ranked[1:]:
            (n,) = self.count([text[start:end]])
            if n <= self.max_tokens:
                return Passage(text[start:end], start, end, label, n, matched)
        matched, (start, end, _, label) = pick
        while True:
            (n,) = self.count([text[start:end]])
            if n <= self.max_tokens or end - start <= 1:
                piece = text[start:end]
                found = {
                    normalise(w, self.analysis)
                    for w in word_pattern(self.analysis.token).findall(piece.lower())
                }
                return Passage(piece, start, end, label, n, len(found & terms))
            end = start + (end - start) // 2
