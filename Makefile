# pubmed-search: the two front-door commands are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_VERSION ?= 2.13.0
EXTRAS ?= postgres,data,test,plot,mcp
STAMP := $(VENV)/.installed-$(TORCH_VERSION)

.PHONY: install install-distributed demo test test-fast lint format bench-ingest bench-store bench-encode bench-search bench-lexical bench-scale bench-load bench-quality bench-analysis bench-fusion bench-sync bench-batch clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==$(TORCH_VERSION)
	$(PY) -m pip install -q -e '.[$(EXTRAS)]'
	touch $(STAMP)

install: $(STAMP)

# Ray is an optional extra (pip install pubmed-search[distributed]); the full suite needs it.
install-distributed: $(STAMP)
	$(PY) -c 'import ray' 2>/dev/null || $(PY) -m pip install -q -e '.[distributed]'

demo: install
	$(PY) -m pubmed_search.demo $(if $(DEMO_LIMIT),--limit $(DEMO_LIMIT)) $(if $(MODEL),--model $(MODEL)) $(if $(INPUT),--input "$(INPUT)") $(if $(PORT),--port $(PORT))

# The whole suite (what CI runs). Heavy tests carry markers: see test-fast.
test: install install-distributed
	$(PY) -m pytest $(PYTEST_ARGS)

# The fast part alone: no real model weights, browser, Ray, PostgreSQL or load tests.
test-fast: install
	$(PY) -m pytest -m "not slow and not browser and not ray and not load and not postgres" $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench-ingest: install
	$(PY) bench/ingest.py

# Metadata store bytes vs the gzipped XML, on the two sample PubMed files.
bench-store: install
	$(PY) bench/store_size.py

bench-encode: install
	$(PY) bench/encode.py

bench-search: install
	$(PY) bench/search.py

# Resampled real texts, 100k and 1M articles (built once into the cache): product vs Tantivy vs FTS5.
bench-lexical: install
	$(PY) bench/lexical.py $(BENCH_ARGS)

bench-scale: install
	$(PY) bench/scale.py

bench-load: install
	$(PY) bench/load.py

# Real data, offline: tunes all-MiniLM-L6-v2 on the sample PubMed files (~30 min on 2 cores).
bench-quality: install
	$(PY) bench/quality.py $(BENCH_ARGS)

# Real data, offline: the lexical text analysis grid on PubMedQA and the real PubMed files
# (~6 min on 2 cores); BENCH_ARGS="--out results.json" keeps the figures.
bench-analysis: install
	$(PY) bench/analysis.py $(BENCH_ARGS)

# Real data, offline: hybrid fusion (RRF, weighted RRF, convex, calibrated) vs lexical and
# dense on dev and held-out tasks, all-MiniLM-L6-v2 over the 30,000 citations of the baseline
# file (~25 min on 2 cores the first time: the embedding; the indexes are cached).
bench-fusion: install
	$(PY) bench/fusion.py $(BENCH_ARGS)

# sync's download path on a local NLM stand-in (loopback), beside a plain download.
bench-sync: install
	$(PY) bench/sync.py $(BENCH_ARGS)
# Real data, offline: queries/s of POST /api/search/batch vs one query at a time (PubMedQA
# questions, all-MiniLM-L6-v2 index of the PubMedQA corpus), and what passages cost.
bench-batch: install
	$(PY) bench/batch.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
