"""The ledger: which input files each published version has applied (``Manifest.ledger``).

Each entry names a file (its base name), its MD5, its size, its kind (``baseline`` or
``update`` for NLM's files, by the directory they sit in, else ``file``) and the version that
applied it. A build:

- skips an input whose name and MD5 are already in the ledger (re-applying it would change
  nothing; ``force`` applies it anyway);
- refuses an NLM file (``pubmedYYnNNNN.xml.gz``) numbered below one already applied from the
  same annual series, or inputs out of NLM's order, unless ``force``: applied late, an older
  update would undo the newer revisions it predates.

NLM numbers a year's baseline files from 0001 and its daily update files on from there, so
``(YY, NNNN)`` is NLM's order (:func:`nlm_key`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from indexer.errors import InvalidParameter

NLM_NAME = re.compile(r"^pubmed(\d{2})n(\d{4})\.xml(?:\.gz)?$")
KIND_DIRS = {"baseline": "baseline", "updatefiles": "update"}


class OutOfOrder(InvalidParameter):
    """An NLM file older than one already applied (or inputs out of NLM's order). Exit 2."""


@dataclass(frozen=True)
class LedgerEntry:
    name: str
    md5: str
    bytes: int
    kind: str
    version: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def nlm_key(name: str) -> tuple[int, int] | None:
    """(year, number) of an NLM file name (``pubmed25n1275.xml.gz`` -> (25, 1275)), or None."""
    m = NLM_NAME.match(name)
    return (int(m.group(1)), int(m.group(2))) if m else None


def file_kind(path: Path) -> str:
    """``baseline`` / ``update`` for a file in NLM's directory layout, else ``file``."""
    return KIND_DIRS.get(path.parent.name, "file") if nlm_key(path.name) else "file"


def md5_of(path: Path, block: int = 1 << 20) -> Any:
    """An MD5 object fed with ``path``'s bytes (``.update`` goes on after them)."""
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as f:
        while chunk := f.read(block):
            digest.update(chunk)
    return digest


def file_md5(path: Path) -> str:
    return md5_of(path).hexdigest()


def entries(ledger: Sequence[dict[str, Any]]) -> list[LedgerEntry]:
    return [LedgerEntry(**e) for e in ledger]


def last_of(ledger: Sequence[dict[str, Any]], kind: str) -> LedgerEntry | None:
    """The entry of ``kind`` latest in NLM's order (for ``info``), or None."""
    found = [e for e in entries(ledger) if e.kind == kind and nlm_key(e.name)]
    return max(found, key=lambda e: nlm_key(e.name) or (0, 0), default=None)


@dataclass
class Plan:
    """What a build does with its inputs: apply ``apply`` (with their entries), skip ``skipped``."""

    apply: list[Path]
    new_entries: list[LedgerEntry]
    skipped: list[tuple[Path, int]]  # (input, the version that applied it)


def plan(
    paths: Sequence[Path],
    ledger: Sequence[dict[str, Any]],
    staging: int,
    skip: bool = True,
    order: bool = True,
) -> Plan:
    """Sort ``paths`` into files to apply and files the ledger already holds (module doc).

    ``skip``: leave out inputs the ledger holds; ``order``: refuse NLM files out of order."""
    applied = {(e.name, e.md5): e.version for e in entries(ledger)}
    newest: dict[int, tuple[int, str]] = {}  # year -> (number, name) latest applied
    for e in entries(ledger):
        key = nlm_key(e.name)
        if key and key[1] > newest.get(key[0], (0, ""))[0]:
            newest[key[0]] = (key[1], e.name)
    out = Plan([], [], [])
    for path in paths:
        md5 = file_md5(path)
        done = applied.get((path.name, md5))
        if done is not None and skip:
            out.skipped.append((path, done))
            continue
        key = nlm_key(path.name)
        if key and order:
            number, name = newest.get(key[0], (0, ""))
            if key[1] < number:
                raise OutOfOrder(
                    f"{path.name} is older than {name}, which this index has applied: applied "
                    "now it would undo newer revisions (use --force to apply it anyway)"
                )
            newest[key[0]] = (key[1], path.name)
        out.apply.append(path)
        out.new_entries.append(
            LedgerEntry(path.name, md5, path.stat().st_size, file_kind(path), staging)
        )
    return out


def applied(chosen: Plan, failed: set[str]) -> list[dict[str, Any]]:
    """The ledger entries of a build's inputs that were read to their end."""
    pairs = zip(chosen.apply, chosen.new_entries, strict=True)
    return [e.to_dict() for p, e in pairs if str(p) not in failed]
