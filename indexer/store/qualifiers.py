"""MeSH qualifiers (subheadings) by code, for the stored record (:mod:`indexer.store.codec`).

A qualifier whose (name, UI) pair is in :data:`QUALIFIERS` is stored as one small integer
(``2 * index + major``) instead of ``[name, ui, major]``: 145,070 qualifiers in the two sample
files, every one of them in the table (its 74 pairs are those the files hold; MeSH has a few
more, which are stored in full). The table is part of the stored format: only append to it,
and bump ``schema.SCHEMA_VERSION`` if an entry ever changes.
"""

from __future__ import annotations

QUALIFIERS: tuple[tuple[str, str], ...] = (
    ("abnormalities", "Q000002"), ("administration & dosage", "Q000008"),
    ("adverse effects", "Q000009"), ("analogs & derivatives", "Q000031"),
    ("analysis", "Q000032"), ("anatomy & histology", "Q000033"),
    ("antagonists & inhibitors", "Q000037"), ("biosynthesis", "Q000096"), ("blood", "Q000097"),
    ("blood supply", "Q000098"), ("cerebrospinal fluid", "Q000134"),
    ("chemical synthesis", "Q000138"), ("chemically induced", "Q000139"),
    ("classification", "Q000145"), ("complications", "Q000150"), ("congenital", "Q000151"),
    ("cytology", "Q000166"), ("deficiency", "Q000172"), ("diagnosis", "Q000175"),
    ("diet therapy", "Q000178"), ("drug effects", "Q000187"), ("drug therapy", "Q000188"),
    ("economics", "Q000191"), ("education", "Q000193"), ("embryology", "Q000196"),
    ("enzymology", "Q000201"), ("ethnology", "Q000208"), ("etiology", "Q000209"),
    ("genetics", "Q000235"), ("growth & development", "Q000254"), ("history", "Q000266"),
    ("immunology", "Q000276"), ("injuries", "Q000293"), ("innervation", "Q000294"),
    ("instrumentation", "Q000295"), ("isolation & purification", "Q000302"),
    ("legislation & jurisprudence", "Q000331"), ("metabolism", "Q000378"),
    ("methods", "Q000379"), ("microbiology", "Q000382"), ("mortality", "Q000401"),
    ("nursing", "Q000451"), ("epidemiology", "Q000453"),
    ("organization & administration", "Q000458"), ("parasitology", "Q000469"),
    ("pathogenicity", "Q000472"), ("pathology", "Q000473"), ("pharmacokinetics", "Q000493"),
    ("pharmacology", "Q000494"), ("physiology", "Q000502"), ("physiopathology", "Q000503"),
    ("poisoning", "Q000506"), ("prevention & control", "Q000517"), ("psychology", "Q000523"),
    ("radiation effects", "Q000528"), ("radiotherapy", "Q000532"),
    ("rehabilitation", "Q000534"), ("secondary", "Q000556"), ("standards", "Q000592"),
    ("supply & distribution", "Q000600"), ("surgery", "Q000601"),
    ("therapeutic use", "Q000627"), ("therapy", "Q000628"), ("toxicity", "Q000633"),
    ("transmission", "Q000635"), ("transplantation", "Q000637"), ("trends", "Q000639"),
    ("ultrastructure", "Q000648"), ("urine", "Q000652"), ("veterinary", "Q000662"),
    ("statistics & numerical data", "Q000706"), ("chemistry", "Q000737"),
    ("virology", "Q000821"), ("diagnostic imaging", "Q000000981"),
)  # fmt: skip
CODES: dict[tuple[str, str | None], int] = {q: i for i, q in enumerate(QUALIFIERS)}
