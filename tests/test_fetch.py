"""`pubmed-search fetch`, indexer.ingest.eutils and indexer.ingest.fetch against a fake server
on 127.0.0.1 (tests/fixtures/fake_eutils.py). Never contacts NCBI."""

from __future__ import annotations

import gzip
import itertools
import threading
import time
from datetime import date, datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from indexer.ingest.eutils import EutilsClient, EutilsError, RateLimiter, retry_after_seconds
from indexer.ingest.fetch import FetchError, fetch, ncbi_date, parse_date, read_pmid_file
from pubmed_search.cli import cli
from tests.fixtures.common import shared_file
from tests.fixtures.fake_eutils import FakeEutils, Fault, make_records


def _pmids_in(path: Path) -> list[int]:
    from indexer.ingest.sources import iter_records
    from indexer.records import Article

    return [r.pmid for r in iter_records(path) if isinstance(r, Article)]


class Sleeps:
    """Records the sleeps asked for and sleeps only a little, so backoffs cost no time."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        time.sleep(min(seconds, 0.005))

    def long(self, at_least: float = 0.01) -> list[float]:
        return [round(s, 6) for s in self.calls if s >= at_least]


def _client(fake: FakeEutils, **kw) -> EutilsClient:
    kw.setdefault("rate", 200.0)
    kw.setdefault("backoff", 0.05)
    kw.setdefault("email", "dev@example.org")
    return EutilsClient(base_url=fake.url, **kw)


# --- rate limiter and Retry-After ------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.slept.append(s)
        self.now += s


def test_rate_limiter_spacing() -> None:
    clock = FakeClock()
    limiter = RateLimiter(3.0, clock=clock, sleep=clock.sleep)
    starts = []
    for _ in range(4):
        limiter.wait()
        starts.append(clock.now)
    assert [b - a for a, b in itertools.pairwise(starts)] == pytest.approx([1 / 3] * 3)
    clock.now += 5  # idle for a while: the next request goes at once
    limiter.wait()
    assert len(clock.slept) == 3
    clock.now += 0.1  # 0.1 s after the last: waits the rest of 1/3 s
    limiter.wait()
    assert clock.slept[-1] == pytest.approx(1 / 3 - 0.1)
    with pytest.raises(ValueError):
        RateLimiter(0)


def test_rate_limiter_across_threads() -> None:
    local = threading.local()

    def clock() -> float:  # remembers, per thread, the time the limiter last read
        local.last = time.monotonic()
        return local.last

    limiter = RateLimiter(40.0, clock=clock)
    starts: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        limiter.wait()
        with lock:
            starts.append(local.last)  # the start the limiter granted this thread

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    starts.sort()
    assert min(b - a for a, b in itertools.pairwise(starts)) >= 1 / 40


def test_retry_after_values() -> None:
    assert retry_after_seconds("2") == 2.0
    assert retry_after_seconds(" 0 ") == 0.0
    assert retry_after_seconds("99999") == 600.0  # capped
    assert retry_after_seconds(None) is None and retry_after_seconds("soon") is None
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
    later = format_datetime(now + timedelta(seconds=7), usegmt=True)
    assert retry_after_seconds(later, now=now.timestamp()) == pytest.approx(7.0)
    earlier = format_datetime(now - timedelta(seconds=7), usegmt=True)
    assert retry_after_seconds(earlier, now=now.timestamp()) == 0.0


@given(st.dates(min_value=date(1700, 1, 1), max_value=date(2200, 12, 31)))
def test_date_round_trip(d: date) -> None:
    assert parse_date(ncbi_date(d)) == d
    assert parse_date(f"{d.year}-{d.month}-{d.day}") == d
    assert parse_date(str(d.year)) == date(d.year, 1, 1)
    assert parse_date(str(d.year), end=True) == date(d.year, 12, 31)


def test_partial_dates_and_bad_dates() -> None:
    assert parse_date("2024/02", end=True) == date(2024, 2, 29)
    assert parse_date("2023/12", end=True) == date(2023, 12, 31)
    for bad in ("2024/13/01", "24/01/01", "yesterday", "2024/02/30"):
        with pytest.raises(ValueError):
            parse_date(bad)


# --- downloads -------------------------------------------------------------------------------


def test_query_download_with_retries(fake_eutils: FakeEutils, tmp_path: Path) -> None:
    fake_eutils.faults += [
        Fault("efetch", status=429, retry_after="2"),
        Fault("efetch", status=503),
        Fault("efetch", drop=True),  # 200, full Content-Length, half the body, closed
    ]
    sleeps = Sleeps()
    out = tmp_path / "out.xml.gz"
    summary = fetch(_client(fake_eutils, sleep=sleeps), out, query="all[sb]", batch_size=3)
    expected = [int(r.pmid) for r in fake_eutils.matching("all[sb]")]
    assert _pmids_in(out) == expected
    assert summary.written == summary.requested == len(expected) and not summary.missing
    n_batches = -(-len(expected) // 3)
    assert len(fake_eutils.calls("efetch")) == n_batches + 3  # 3 failed attempts retried
    # Retry-After honoured, then exponential backoff (0.05 * 2**attempt)
    assert sleeps.long() == [2.0, 0.1, 0.2]
    for r in fake_eutils.requests:
        assert r.params["tool"] == "pubmed-search"
        assert r.params["email"] == "dev@example.org"
        assert "api_key" not in r.params
    assert fake_eutils.calls("esearch")[0].params["retmode"] == "json"
    assert fake_eutils.calls("efetch")[0].params["retmode"] == "xml"
    with gzip.open(out, "rb") as f:
        head = f.read(300)
    assert head.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE PubmedArticleSet')
    assert not out.with_name(out.name + ".parts").exists()


def test_gives_up_after_retries(fake_eutils: FakeEutils, tmp_path: Path) -> None:
    fake_eutils.faults += [Fault("esearch", status=503) for _ in range(3)]
    with pytest.raises(EutilsError, match=r"giving up after 3 attempts \(HTTP 503\)"):
        fetch(_client(fake_eutils, max_retries=2), tmp_path / "o.xml", query="all[sb]")
    assert len(fake_eutils.calls("esearch")) == 3


def test_rate_limit_without_key(fake_eutils: FakeEutils, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("NCBI_API_KEY", raising=False)
    client = EutilsClient.from_env(base_url=fake_eutils.url, email="dev@example.org")
    assert client.limiter.interval == pytest.approx(1 / 3)
    n = len(fake_eutils.records)
    fetch(client, tmp_path / "o.xml", query="all[sb]", batch_size=-(-n // 2))  # 3 requests
    times = [r.at for r in fake_eutils.requests]
    assert len(times) == 3
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # arrival times jitter a little on a busy machine; the limiter's own spacing is exact
    # (test_rate_limiter_spacing)
    assert min(gaps) >= 1 / 3 - 0.05, gaps
    assert times[-1] - times[0] >= 2 / 3 - 0.05


def test_api_key_sent_and_faster_rate(fake_eutils: FakeEutils, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("NCBI_API_KEY", "k3y")
    monkeypatch.setenv("NCBI_EMAIL", "env@example.org")
    monkeypatch.setenv("PUBMED_SEARCH_EUTILS_URL", fake_eutils.url)
    client = EutilsClient.from_env()
    assert client.limiter.interval == pytest.approx(1 / 10)
    fetch(client, tmp_path / "o.xml", query="all[sb]", batch_size=2)
    assert len(fake_eutils.requests) >= 4
    for r in fake_eutils.requests:
        assert r.params["api_key"] == "k3y" and r.params["email"] == "env@example.org"
    times = [r.at for r in fake_eutils.requests]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 1 / 10 - 0.05, gaps
    assert times[-1] - times[0] >= (len(times) - 1) / 10 - 0.05
    assert times[-1] - times[0] < (len(times) - 1) / 3  # not held to the keyless rate


def test_resume_after_permanent_failure(fake_eutils: FakeEutils, tmp_path: Path) -> None:
    fake_eutils.fail_efetch_after = 2  # the server dies after two batches
    out = tmp_path / "out.xml"
    parts = tmp_path / "out.xml.parts"
    client = _client(fake_eutils, max_retries=1, backoff=0.001)
    with pytest.raises(FetchError, match="2 of 4 batches are saved"):
        fetch(client, out, query="all[sb]", batch_size=2)
    assert not out.exists()
    assert sorted(p.name for p in parts.glob("batch-*.xml")) == [
        "batch-000000.xml",
        "batch-000001.xml",
    ]
    fake_eutils.fail_efetch_after = None
    seen_before = len(fake_eutils.requests)
    summary = fetch(_client(fake_eutils), out, query="all[sb]", batch_size=2)
    again = fake_eutils.requests[seen_before:]
    assert [r.utility for r in again] == ["efetch", "efetch"]  # no new esearch
    expected = [r.pmid for r in fake_eutils.matching("all[sb]")]
    assert [r.params["id"] for r in again] == [",".join(expected[4:6]), ",".join(expected[6:8])]
    assert summary.resumed_batches == 2 and summary.batches == 4
    assert _pmids_in(out) == [int(p) for p in expected]
    assert not parts.exists()


def test_resume_after_interrupt_and_other_request(fake_eutils: FakeEutils, tmp_path: Path) -> None:
    out = tmp_path / "out.xml.gz"

    def stop_after_first(done: int, total: int) -> None:
        if done == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fetch(_client(fake_eutils), out, query="all[sb]", batch_size=3, progress=stop_after_first)
    with pytest.raises(FetchError, match="another request"):
        fetch(_client(fake_eutils), out, query="asthma", batch_size=3)
    done = []
    summary = fetch(
        _client(fake_eutils),
        out,
        query="all[sb]",
        batch_size=50,  # ignored on resume: the first run's batches stay valid
        progress=lambda d, t: done.append((d, t)),
    )
    assert summary.resumed_batches == 1 and done == [(2, 3), (3, 3)]
    assert _pmids_in(out) == [int(r.pmid) for r in fake_eutils.matching("all[sb]")]
    # an interrupted run of another request is discarded with restart=True
    with pytest.raises(KeyboardInterrupt):
        fetch(_client(fake_eutils), out, query="all[sb]", batch_size=3, progress=stop_after_first)
    fetch(_client(fake_eutils), out, query="asthma", restart=True)
    assert _pmids_in(out) == [int(r.pmid) for r in fake_eutils.matching("asthma")]


def test_pmid_list_download(fake_eutils: FakeEutils, tmp_path: Path) -> None:
    wanted = [r.pmid for r in fake_eutils.records[:3]]
    path = tmp_path / "pmids.txt"
    path.write_text(
        f"# my list\n{wanted[0]}\n\n{wanted[1]}  # note\n{wanted[0]}\n999\n{wanted[2]}\n"
    )
    pmids = read_pmid_file(path)
    assert pmids == [wanted[0], wanted[1], "999", wanted[2]]
    out = tmp_path / "list.xml"
    summary = fetch(_client(fake_eutils), out, pmids=pmids, batch_size=2)
    assert _pmids_in(out) == [int(p) for p in wanted]
    assert summary.missing == ["999"] and summary.written == 3 and summary.requested == 4
    assert "1 PMIDs not returned by efetch: 999" in summary.line()
    assert not fake_eutils.calls("esearch")
    sent = [r.params["id"] for r in fake_eutils.calls("efetch")]
    assert sent == [f"{wanted[0]},{wanted[1]}", f"999,{wanted[2]}"]


@pytest.mark.parametrize(
    ("text", "match"),
    [("123\nabc\n", r"pmids\.txt:2: not a PMID: 'abc'"), ("# nothing\n\n", "no PMIDs"),
     ("12 13\n", ":1: not a PMID"), ("0\n", ":1: not a PMID")],
)  # fmt: skip
def test_bad_pmid_files(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "pmids.txt"
    path.write_text(text)
    with pytest.raises(FetchError, match=match):
        read_pmid_file(path)
    with pytest.raises(FetchError, match="cannot read"):
        read_pmid_file(tmp_path / "absent.txt")


def test_ncbi_errors_are_not_retried(fake_eutils: FakeEutils, tmp_path: Path) -> None:
    fake_eutils.faults.append(Fault("esearch", error="Invalid query syntax near 'AND AND'"))
    with pytest.raises(EutilsError, match="Invalid query syntax"):
        fetch(_client(fake_eutils), tmp_path / "a.xml", query="x AND AND y")
    assert len(fake_eutils.calls("esearch")) == 1
    fake_eutils.faults.append(Fault("efetch", error="Cannot retrieve history"))
    with pytest.raises(FetchError, match="Cannot retrieve history"):
        fetch(_client(fake_eutils), tmp_path / "b.xml", query="all[sb]")
    assert len(fake_eutils.calls("efetch")) == 1
    fake_eutils.faults.append(Fault("esearch", status=400))
    with pytest.raises(EutilsError, match="HTTP 400"):
        fetch(_client(fake_eutils), tmp_path / "c.xml", query="all[sb]", restart=True)


def test_large_result_split_by_dates(tmp_path: Path) -> None:
    fake = FakeEutils(make_records(9, with_real=False), esearch_cap=3).start()
    try:
        out = tmp_path / "all.xml"
        fetch(_client(fake), out, query="all[sb]", esearch_limit=3)
        assert sorted(_pmids_in(out)) == sorted(int(r.pmid) for r in fake.records)
        assert all(len(r.params.get("id", "").split(",")) <= 200 for r in fake.calls("efetch"))
        assert all("mindate" in r.params for r in fake.calls("esearch")[1:])
        # --max 4 of a split search: the most recent publications first
        newest = sorted(fake.records, key=lambda r: r.pubdate, reverse=True)[:4]
        fetch(_client(fake), out, query="all[sb]", max_records=4, esearch_limit=3, restart=True)
        assert sorted(_pmids_in(out)) == sorted(int(r.pmid) for r in newest)
        # a date range alone
        fetch(_client(fake), out, query="all[sb]", mindate="2003", maxdate="2005/12", restart=True)
        in_range = [r for r in fake.records if 2003 <= r.pubdate.year <= 2005]
        assert sorted(_pmids_in(out)) == sorted(int(r.pmid) for r in in_range)
        assert fake.requests[-2].params["mindate"] == "2003/01/01"
        assert fake.requests[-2].params["maxdate"] == "2005/12/31"
    finally:
        fake.stop()


def test_real_record_round_trip(fake_eutils: FakeEutils, tmp_path: Path) -> None:
    from indexer.ingest.sources import iter_records

    original = list(iter_records(shared_file("pubmed-29768149.xml")))
    out = tmp_path / "real.xml.gz"
    fetch(_client(fake_eutils), out, pmids=["29768149"])
    fetched = list(iter_records(out))
    assert len(fetched) == 1 and fetched[0] == original[0]
    assert fetched[0].title and fetched[0].abstract


def test_unicode_and_markup_survive(fake_eutils: FakeEutils, tmp_path: Path) -> None:
    from indexer.ingest.sources import iter_records

    pmid = next(r.pmid for r in fake_eutils.records if "β-cells" in r.xml)
    out = tmp_path / "u.xml"
    fetch(_client(fake_eutils), out, pmids=[pmid])
    (article,) = list(iter_records(out))
    assert "β-cells & IL-6" in article.title


# --- the command -----------------------------------------------------------------------------


def test_cli_pmids(fake_eutils: FakeEutils, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("NCBI_API_KEY", raising=False)
    monkeypatch.setenv("PUBMED_SEARCH_EUTILS_URL", fake_eutils.url)
    ids = tmp_path / "ids.txt"
    ids.write_text("\n".join(r.pmid for r in fake_eutils.records) + "\n")
    out = tmp_path / "o.xml.gz"
    args = ["fetch", "--pmids", str(ids), "--out", str(out), "--email", "me@example.org"]
    result = CliRunner().invoke(cli, [*args, "--no-progress"])
    assert result.exit_code == 0, result.output
    n = len(fake_eutils.records)
    assert f"{n} of {n} records written" in result.stdout
    assert sorted(_pmids_in(out)) == sorted(int(r.pmid) for r in fake_eutils.records)
    (call,) = fake_eutils.requests
    assert call.params["email"] == "me@example.org" and call.params["tool"] == "pubmed-search"


def test_cli_query_and_errors(fake_eutils: FakeEutils, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("NCBI_API_KEY", raising=False)
    monkeypatch.delenv("NCBI_EMAIL", raising=False)
    runner = CliRunner()
    base = ["fetch", "--base-url", fake_eutils.url, "--no-progress"]
    out = tmp_path / "q.xml"
    # a topic of the synthetic records: the test must not depend on ../shared/data
    result = runner.invoke(cli, [*base, "--query", "neurology", "--max", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "--email or NCBI_EMAIL" in result.stderr
    expected = [int(r.pmid) for r in fake_eutils.matching("neurology")][:2]
    assert expected and _pmids_in(out) == expected
    assert fake_eutils.calls("esearch")[0].params["retmax"] == "2"

    bad = tmp_path / "bad.txt"
    bad.write_text("1\nPMC77\n")
    result = runner.invoke(cli, [*base, "--pmids", str(bad), "--out", str(tmp_path / "x.xml")])
    assert result.exit_code == 1 and "bad.txt:2: not a PMID" in result.stderr

    blocker = tmp_path / "file"
    blocker.write_text("")
    result = runner.invoke(cli, [*base, "--query", "asthma", "--out", str(blocker / "o.xml")])
    assert result.exit_code == 1 and "cannot write" in result.stderr
    result = runner.invoke(cli, [*base, "--query", "asthma", "--out", str(tmp_path)])
    assert result.exit_code != 0

    fake_eutils.faults.append(Fault("esearch", error="Unknown field [zz]"))
    result = runner.invoke(cli, [*base, "--query", "a[zz]", "--out", str(tmp_path / "e.xml")])
    assert result.exit_code == 1 and "Unknown field [zz]" in result.stderr

    for extra in (["--query", "x", "--pmids", str(bad)], [], ["--query", "x", "--mindate", "nope"]):
        result = runner.invoke(cli, [*base, *extra, "--out", str(tmp_path / "u.xml")])
        assert result.exit_code == 2, extra


def test_damaged_progress_needs_restart(fake_eutils: FakeEutils, tmp_path: Path) -> None:
    out = tmp_path / "d.xml"
    parts = tmp_path / "d.xml.parts"

    def stop(done: int, total: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fetch(_client(fake_eutils), out, query="all[sb]", batch_size=2, progress=stop)
    (parts / "pmids.txt").unlink()
    with pytest.raises(FetchError, match="damaged"):
        fetch(_client(fake_eutils), out, query="all[sb]", batch_size=2)
    (parts / "state.json").write_text("{not json")
    with pytest.raises(FetchError, match="--restart"):
        fetch(_client(fake_eutils), out, query="all[sb]", batch_size=2)
    summary = fetch(_client(fake_eutils), out, query="all[sb]", batch_size=2, restart=True)
    assert summary.resumed_batches == 0
    assert _pmids_in(out) == [int(r.pmid) for r in fake_eutils.matching("all[sb]")]
