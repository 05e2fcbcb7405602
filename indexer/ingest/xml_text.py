"""Text of parsed PubMed XML elements: whitespace-normalised, inline markup kept as text."""

from __future__ import annotations

from typing import Any

from lxml import etree

_Entity = etree.Entity


def attr(el: Any, name: str) -> str | None:
    """Attribute ``name`` of ``el``, whitespace-normalised (None when absent or blank)."""
    value = el.get(name)
    return " ".join(value.split()) or None if value else None


def text(el: Any) -> str:
    """All text under ``el`` (inline markup kept as text), whitespace-normalised."""
    if el is None:
        return ""
    if len(el) == 0:
        return " ".join(el.text.split()) if el.text else ""
    for ent in list(el.iter(_Entity)):  # unresolved entity references: drop, keep their tails
        ent_parent = ent.getparent()
        prev = ent.getprevious()
        if ent.tail:
            if prev is not None:
                prev.tail = (prev.tail or "") + ent.tail
            else:
                ent_parent.text = (ent_parent.text or "") + ent.tail
        ent_parent.remove(ent)
    return " ".join("".join(el.itertext()).split())


def opt_text(el: Any) -> str | None:
    """:func:`text` of ``el``, None when ``el`` is None or its text is blank."""
    return None if el is None else text(el) or None


def child_text(el: Any, tag: str) -> str | None:
    """:func:`opt_text` of the first child ``tag`` of ``el``."""
    return opt_text(next(el.iterchildren(tag), None))
