"""Passages (search/passages.py): exact offsets, the token budget, the section, the scoring;
and ``passages=1`` through the API and ``query --passages``."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from indexer.lexical.analysis import DEFAULT, normalise, query_terms, words
from indexer.records import Article, Section
from search.passages import MAX_PASSAGE_TOKENS, PassageFinder, section_spans


@pytest.fixture(scope="module")
def encoder(tiny_model_dir: Path):
    from indexer.models.encoder import Encoder, EncoderConfig

    return Encoder.load(EncoderConfig(model=str(tiny_model_dir), device="cpu", max_length=128))


@pytest.fixture(scope="module")
def finder(encoder) -> PassageFinder:
    return PassageFinder(encoder.count_tokens, encoder.token_offsets, DEFAULT)


WORDS = "asthma airway budesonide insulin glucose tumour stent the of and patients".split()
_word = st.one_of(
    st.sampled_from(WORDS),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyzéβ0123456789-", min_size=1, max_size=30),
)
_sep = st.sampled_from([" ", "  ", ". ", "! ", "? ", ", ", ".\n", "\t", " (", ") "])
_section_text = st.lists(st.tuples(_word, _sep), min_size=0, max_size=120).map(
    lambda parts: "".join(w + s for w, s in parts)
)
_sections = st.lists(
    st.tuples(_section_text, st.one_of(st.none(), st.sampled_from(["BACKGROUND", "RESULTS"]))),
    min_size=0,
    max_size=5,
).map(lambda rows: [Section(text=t, label=label) for t, label in rows])


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(sections=_sections, query=st.lists(st.sampled_from(WORDS), min_size=1, max_size=4))
def test_passage_is_an_exact_slice_within_budget(finder, encoder, sections, query) -> None:
    abstract = Article(pmid=1, sections=sections).abstract
    passage = finder.best(abstract, sections, " ".join(query))
    if not abstract.strip():
        assert passage is None
        return
    assert passage is not None
    assert abstract[passage.start : passage.end] == passage.text
    assert passage.text and passage.text == passage.text.strip()
    assert encoder.count_tokens([passage.text]) == [passage.tokens]
    assert 1 <= passage.tokens <= MAX_PASSAGE_TOKENS
    inside = [(a, b, label) for a, b, label in section_spans(sections) if a <= passage.start]
    _, b, label = inside[-1]
    assert passage.end <= b, "a passage never spans two sections"
    assert passage.section == label
    terms = set(query_terms(" ".join(query), DEFAULT))
    found = {normalise(w, DEFAULT) for w in words(passage.text)} & terms
    assert passage.matched == len(found)


def test_the_section_holding_the_query_terms_wins(finder) -> None:
    sections = [
        Section("Airway disease is common in children.", "BACKGROUND"),
        Section("Budesonide reduced asthma exacerbations by half.", "RESULTS"),
        Section("More trials are needed.", "CONCLUSIONS"),
    ]
    abstract = Article(pmid=1, sections=sections).abstract
    passage = finder.best(abstract, sections, "asthma budesonide")
    assert passage is not None and passage.section == "RESULTS"
    assert passage.text == sections[1].text and passage.matched == 2
    assert abstract.index(sections[1].text) == passage.start
    conclusions = finder.best(abstract, sections, "trials needed")
    assert conclusions is not None and conclusions.section == "CONCLUSIONS"


def test_long_unstructured_abstract_gives_a_sentence_window(finder, encoder) -> None:
    filler = [f"Sentence {i} describes the cohort of patients and follow up." for i in range(40)]
    filler[27] = "Inhaled budesonide lowered the asthma exacerbation rate."
    sections = [Section(" ".join(filler))]
    abstract = sections[0].text
    assert encoder.count_tokens([abstract])[0] > 3 * MAX_PASSAGE_TOKENS
    passage = finder.best(abstract, sections, "budesonide asthma exacerbation")
    assert passage is not None and passage.section is None
    assert filler[27] in passage.text and passage.matched == 3
    assert passage.tokens <= MAX_PASSAGE_TOKENS and passage.text.endswith(".")
    assert len(passage.text) < len(abstract) / 2


def test_a_sentence_over_the_budget_is_cut_between_words(finder) -> None:
    text = " ".join(["glucose"] * 300 + ["insulin"] * 5)
    sections = [Section(text, "METHODS")]
    passage = finder.best(text, sections, "insulin")
    assert passage is not None and passage.tokens <= MAX_PASSAGE_TOKENS
    assert "insulin" in passage.text and text[passage.start : passage.end] == passage.text


# --- through the API and the CLI ----------------------------------------------------------


@pytest.mark.parametrize("mode", ["hybrid", "dense", "lexical"])
def test_api_passages_are_slices_of_the_article_abstract(client, mode: str) -> None:
    page = client.get("/api/search", query_string={"q": "asthma budesonide", "mode": mode,
                                                   "passages": "1"}).get_json()  # fmt: skip
    assert page["ok"] and page["results"]
    with_text = 0
    for r in page["results"]:
        article = client.get(f"/api/articles/{r['pmid']}").get_json()
        if not article["abstract"]:
            assert r["passage"] is None
            continue
        p = r["passage"]
        with_text += 1
        assert article["abstract"][p["start"] : p["end"]] == p["text"]
        assert p["section"] in {s["label"] for s in article["sections"]}
        assert 1 <= p["tokens"] <= MAX_PASSAGE_TOKENS
    assert with_text > 0
    plain = client.get("/api/search", query_string={"q": "asthma", "mode": mode}).get_json()
    assert all(r["passage"] is None for r in plain["results"])


def test_api_passages_on_similar_and_post(client) -> None:
    pmid = client.get("/api/search?q=asthma&mode=lexical").get_json()["results"][0]["pmid"]
    similar = client.get(f"/api/articles/{pmid}/similar?passages=true").get_json()
    assert similar["results"] and any(r["passage"] for r in similar["results"])
    post = client.post("/api/search", json={"q": "insulin glucose", "passages": True}).get_json()
    assert any(r["passage"] and r["passage"]["matched_terms"] >= 1 for r in post["results"])
    bad = client.get("/api/search?q=asthma&passages=maybe")
    assert bad.status_code == 400 and bad.get_json()["error"].startswith("passages:")


def test_cli_query_passages(tiny_index: Path) -> None:
    from pubmed_search.commands.query import command

    result = CliRunner().invoke(
        command, ["--index", str(tiny_index), "--passages", "-k", "3", "asthma budesonide"]
    )
    assert result.exit_code == 0, result.output
    assert 1 <= result.output.count("passage [") <= 3
    plain = CliRunner().invoke(command, ["--index", str(tiny_index), "-k", "3", "asthma"])
    assert plain.exit_code == 0 and "passage [" not in plain.output
