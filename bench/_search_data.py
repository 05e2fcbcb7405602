"""Synthetic collections for bench/search.py: text, metadata and embeddings at scale.

- Text: words of a Zipfian vocabulary (Zipf-Mandelbrot, s=1.07, q=2.7, like running English
  text) whose head is glue words ("the", "patients", ...) and whose body is ~30,000
  biomedical-looking words made from Greek/Latin roots and suffixes ("cardiomyopathy",
  "hepatocyte", ...). Titles ~11 words, abstracts 80-260 words.
- Metadata: year 1950-2024 (skewed recent), one of 2,000 journals, 3-12 of 5,000 MeSH
  descriptors (Zipfian), publication type ("Journal Article"; ~12% "Review", ~6% RCT).
- Vectors: unit vectors of dim 768 with the low intrinsic dimension of real sentence
  embeddings: a mixture of 1,000 Gaussian clusters in a 64-dimensional latent space, mapped
  to 768 dimensions by one fixed random linear map, plus isotropic noise, then normalised.
  (Isotropic random 768-d vectors have no neighbourhood structure at all, which no real
  embedding model produces; ANN recall on them says nothing about recall on real data.)
  Queries are fresh draws from the same distribution. Everything is seeded: row ``i`` of a
  collection is the same whatever chunk it is generated in.
"""

from __future__ import annotations

import itertools

import numpy as np

from indexer.records import Article, MeshTerm, Section

DIM = 768
LATENT = 64
CLUSTERS = 1000
NOISE = 0.4  # ~10% of a vector's energy is isotropic noise

GLUE = (
    "the of and in to a with for was were by on is that as at from patients study "
    "results this be are or we these an than which after between during both not"
).split()
ROOTS = (
    "cardi neur hepat nephr gastr derm oste my angi arteri bronch pulmon lymph leuk erythr "
    "thromb immun onc cyt hem gluc lip prot gen path pharmac toxic vascul cerebr encephal "
    "mening arthr chondr fibr aden carcin sarc melan pneum rhin ot ophthalm retin ur cyst "
    "prost ovar uter mamm thyr adren pancreat insul endocrin bacteri vir myc parasit vaccin "
    "enzym kinas recept lig transcript mitochondri apopt inflamm oxid metabol phosph methyl "
    "acetyl glyc chol ster estr androg cortic seroton dopamin cholin histamin interleuk "
    "interfer cytokin chemokin integr cadher collagen elast keratin tubul actin myosin"
).split()
SUFFIXES = (
    "itis oma osis ic al ology ologic ocyte oblast ectomy otomy opathy emia uria ase in ine "
    "ide ate ogen ogenic otropic ation ary ism oid osome ulin ocytic ography"
).split()
PREFIXES = "_ hyper hypo anti poly peri intra trans endo neo micro macro".split()
JOURNAL_WORDS = "Journal Annals Archives Reviews Letters Reports Advances Frontiers".split()
PUBTYPES = ("Journal Article", "Review", "Randomized Controlled Trial")


def vocabulary() -> list[str]:
    """Glue words first (the Zipf head), then the biomedical words in a seeded order."""
    words = [
        (p if p != "_" else "") + r + s for p, r, s in itertools.product(PREFIXES, ROOTS, SUFFIXES)
    ]
    rng = np.random.default_rng(12345)
    rng.shuffle(words)
    return GLUE + [w for w in dict.fromkeys(words) if w not in GLUE]


def zipf_probabilities(n: int, s: float = 1.07, q: float = 2.7) -> np.ndarray:
    p = 1.0 / (np.arange(1, n + 1) + q) ** s
    return p / p.sum()


class Collection:
    """Rows ``[start, stop)`` of a seeded synthetic collection."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.vocab = np.array(vocabulary(), dtype=object)
        self.cdf = np.cumsum(zipf_probabilities(len(self.vocab)))
        rng = np.random.default_rng(seed)
        self.mix = rng.standard_normal((LATENT, DIM)).astype(np.float32) / np.sqrt(LATENT)
        self.centers = rng.standard_normal((CLUSTERS, LATENT)).astype(np.float32)
        self.journals = [
            f"{JOURNAL_WORDS[i % len(JOURNAL_WORDS)]} of {self.vocab[100 + i].capitalize()}"
            for i in range(2000)
        ]
        self.mesh_names = [f"{self.vocab[60 + 3 * i].capitalize()} Disorders" for i in range(5000)]
        self.mesh_cdf = np.cumsum(zipf_probabilities(5000, s=1.0, q=10))
        self.journal_cdf = np.cumsum(zipf_probabilities(2000, s=0.9, q=5))

    def _rng(self, kind: int, start: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, kind, start])

    def words(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return self.vocab[np.searchsorted(self.cdf, rng.random(n), side="right")]

    def articles(self, start: int, stop: int) -> list[Article]:
        rng = self._rng(1, start)
        n = stop - start
        title_len = rng.integers(6, 17, n)
        abs_len = rng.integers(80, 261, n)
        words = self.words(rng, int(title_len.sum() + abs_len.sum()))
        years = np.clip(2024 - rng.exponential(12.0, n).astype(int), 1950, 2024)
        journals = np.searchsorted(self.journal_cdf, rng.random(n), side="right")
        n_mesh = rng.integers(3, 13, n)
        mesh = np.searchsorted(self.mesh_cdf, rng.random(int(n_mesh.sum())), side="right")
        kinds = rng.random(n)
        out, w, m = [], 0, 0
        for i in range(n):
            title = " ".join(words[w : w + title_len[i]]).capitalize()
            w += title_len[i]
            abstract = " ".join(words[w : w + abs_len[i]]).capitalize() + "."
            w += abs_len[i]
            terms = sorted(set(mesh[m : m + n_mesh[i]].tolist()))
            m += n_mesh[i]
            pubtype = PUBTYPES[1] if kinds[i] < 0.12 else PUBTYPES[2] if kinds[i] < 0.18 else None
            journal = self.journals[journals[i]]
            out.append(
                Article(
                    pmid=start + i + 1,
                    title=title,
                    sections=[Section(abstract)],
                    journal=journal,
                    journal_iso=journal[:24],
                    year=int(years[i]),
                    authors=[f"Author{start + i} A", f"Writer{(start + i) % 977} B"],
                    mesh=[MeshTerm(self.mesh_names[t], f"D{t:06d}") for t in terms],
                    publication_types=["Journal Article"] + ([pubtype] if pubtype else []),
                    languages=["eng"],
                )
            )
        return out

    def _vectors(self, rng: np.random.Generator, n: int) -> np.ndarray:
        cluster = rng.integers(0, CLUSTERS, n)
        z = self.centers[cluster] + 0.6 * rng.standard_normal((n, LATENT), dtype=np.float32)
        x = z @ self.mix
        x += NOISE * rng.standard_normal((n, DIM), dtype=np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        return x

    def vectors(self, start: int, stop: int) -> np.ndarray:
        """float32 (stop - start, 768) unit vectors of rows ``[start, stop)``."""
        return self._vectors(self._rng(2, start), stop - start)

    def queries(self, n: int, seed: int = 99) -> tuple[list[str], np.ndarray]:
        """``n`` query texts (2-4 mid-frequency words) and query vectors (fresh draws)."""
        rng = np.random.default_rng([self.seed, 3, seed])
        lo, hi = len(GLUE) + 50, len(GLUE) + 3000  # neither stop words nor hapaxes
        texts = [" ".join(self.vocab[rng.integers(lo, hi, rng.integers(2, 5))]) for _ in range(n)]
        return texts, self._vectors(rng, n)
