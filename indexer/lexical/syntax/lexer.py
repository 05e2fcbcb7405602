"""Splitting a PubMed-style expression into tokens: parentheses, operators, words, quoted
phrases and bracketed field tags, each with its offset."""

from __future__ import annotations

from dataclasses import dataclass

from indexer.lexical.syntax.tree import QuerySyntaxError

OPERATORS = ("AND", "OR", "NOT")
"""Upper case only (a lower-case ``and`` is a search term)."""
SPECIAL = '()"[]'
"""Characters that end a word."""


@dataclass(frozen=True)
class Tok:
    kind: str  # "(" ")" "op" "word" "phrase" "tag"
    text: str
    pos: int


def lex(text: str) -> list[Tok]:
    """The tokens of ``text`` in order (an unbalanced quote or bracket: QuerySyntaxError)."""
    out: list[Tok] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif c in "()":
            out.append(Tok(c, c, i))
            i += 1
        elif c == '"':
            j = text.find('"', i + 1)
            if j < 0:
                raise QuerySyntaxError("unbalanced quote", i)
            out.append(Tok("phrase", text[i + 1 : j], i))
            i = j + 1
        elif c == "[":
            j = text.find("]", i + 1)
            if j < 0:
                raise QuerySyntaxError("unbalanced bracket '['", i)
            out.append(Tok("tag", text[i + 1 : j], i))
            i = j + 1
        elif c == "]":
            raise QuerySyntaxError("unbalanced bracket ']'", i)
        else:
            j = i
            while j < n and not text[j].isspace() and text[j] not in SPECIAL:
                j += 1
            word = text[i:j]
            out.append(Tok("op" if word in OPERATORS else "word", word, i))
            i = j
    return out
