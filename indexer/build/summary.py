"""What a build did: :class:`BuildSummary` and the one line the CLI prints of it."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from indexer.build.checkpoint import BuildState
from indexer.manifest import Manifest


@dataclass
class BuildSummary:
    version: int | None
    published: bool
    applied: dict[str, int]
    embedded: int
    skipped: int
    seconds: float
    articles: int = 0
    vectors: int = 0
    # (path, reason) of each input file that broke off; its earlier records were indexed
    failed_files: list[tuple[str, str]] = field(default_factory=list)
    controls_dropped: int = 0
    # (path, version) of each input the ledger says was applied already: not read again
    skipped_files: list[tuple[str, int]] = field(default_factory=list)

    def line(self) -> str:
        a = self.applied
        where = f"version {self.version}" if self.published else "nothing new to publish"
        controls = (
            f"control characters dropped {self.controls_dropped}, " if self.controls_dropped else ""
        )
        return (
            f"{where}: added {a.get('added', 0)}, replaced {a.get('replaced', 0)}, "
            f"deleted {a.get('deleted', 0)}, unchanged {a.get('unchanged', 0)}, "
            f"skipped {self.skipped}, {controls}not embedded {a.get('not_embeddable', 0)}; "
            f"embedded {self.embedded}; {self.articles} articles, {self.vectors} vectors "
            f"in {self.seconds:.1f}s"
            + (
                f"; {len(self.skipped_files)} input file(s) already applied, skipped: "
                + ", ".join(f"{Path(p).name} (version {v})" for p, v in self.skipped_files)
                if self.skipped_files
                else ""
            )
            + (
                f"; {len(self.failed_files)} input file(s) FAILED: "
                + ", ".join(p for p, _ in self.failed_files)
                if self.failed_files
                else ""
            )
        )


def summarise(
    version: int,
    published: bool,
    state: BuildState | None,
    embedded: int,
    started: float,
    manifest: Manifest,
    failed: list[tuple[str, str]],
    skipped_files: Sequence[tuple[Path, int]] = (),
) -> BuildSummary:
    """The summary of a build (``state`` None: it had nothing to read)."""
    state = state or BuildState(staging=version, fingerprint="")
    return BuildSummary(
        version=version,
        published=published,
        applied=dict(state.applied),
        embedded=embedded,
        skipped=state.skipped,
        controls_dropped=state.controls_dropped,
        seconds=time.monotonic() - started,
        articles=int(manifest.counts.get("articles", 0)),
        vectors=int(manifest.counts.get("vectors", 0)),
        failed_files=failed,
        skipped_files=[(str(p), v) for p, v in skipped_files],
    )
