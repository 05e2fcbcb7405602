"""Models for benchmarks, built locally (nothing is downloaded).

``biolinkbert_shape_dir()``: a randomly initialised BERT with BioLinkBERT-base's exact shape
(12 layers, hidden 768, 12 heads, intermediate 3072, vocabulary 28,895, 512 positions) and a
lower-cased WordPiece vocabulary of that size trained with ``tokenizers`` on the PubMedQA
abstracts, saved with ``save_pretrained`` into the cache once, then loaded like any model
directory. Speed depends on shape and token counts, not on the values of the weights; for
quality numbers use the real all-MiniLM-L6-v2 weights (``indexer.samples.minilm_model_dir``).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from indexer import durable  # noqa: E402
from indexer.samples import default_cache_dir  # noqa: E402
from tests.fixtures.models import save_bert, train_wordpiece  # noqa: E402

_CORPUS_NAME = Path("shared") / "data" / "pubmedqa" / "corpus.jsonl"
# beside the repository, or beside the main checkout when this is a worktree of it
CORPUS = next(
    (d / _CORPUS_NAME for d in REPO.parents if (d / _CORPUS_NAME).is_file()),
    REPO.parent / _CORPUS_NAME,
)
BIOLINKBERT_SHAPE = {
    "hidden": 768,
    "layers": 12,
    "heads": 12,
    "intermediate": 3072,
    "vocab_size": 28_895,
    "max_position": 512,
}
_NAME = "biolinkbert-base-shape-random-v1"


def corpus_abstracts(n: int | None = None, path: Path = CORPUS) -> list[str]:
    """Abstract texts (sections joined, no titles) of the PubMedQA corpus, in file order."""
    if not path.exists():
        raise SystemExit(f"{path} is missing (../shared/data lives beside the repo)")
    out = []
    with open(path) as f:
        for line in f:
            rec = json.loads(line)
            out.append(" ".join(s["text"] for s in rec["sections"]))
            if n is not None and len(out) >= n:
                break
    return out


def biolinkbert_shape_dir(cache_dir: Path | None = None, seed: int = 0) -> Path:
    """Build once (into the cache) and return the BioLinkBERT-shaped random model directory."""
    target = Path(cache_dir or default_cache_dir()) / "models" / _NAME
    if (target / ".done").exists():
        return target
    s = BIOLINKBERT_SHAPE
    print(f"building {_NAME} into {target} (once)...", file=sys.stderr)
    with durable.replacing_dir(target) as tmp:
        vocab = train_wordpiece(corpus_abstracts(), s["vocab_size"], tmp / "_vocab")
        save_bert(
            tmp,
            vocab,
            seed=seed,
            hidden=s["hidden"],
            layers=s["layers"],
            heads=s["heads"],
            intermediate=s["intermediate"],
            max_position=s["max_position"],
            vocab_size=s["vocab_size"],
        )
        shutil.rmtree(tmp / "_vocab")
        (tmp / ".done").write_text("ok\n")
        shutil.rmtree(target, ignore_errors=True)  # an unfinished build of an older run
    return target
