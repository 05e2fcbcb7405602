"""`pubmed-search sync` against a local stand-in for NLM's server (tests/fixtures/fake_nlm.py).

The tree holds real records: two baseline files from ``pubmed20n0014``, two update files from
``pubmed21n1298`` (revisions of two baseline articles; the real DeleteCitation block plus three
baseline PMIDs). Every server listens on 127.0.0.1; nothing contacts NLM.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from indexer.build import BuildSettings, build
from indexer.build.ledger import OutOfOrder
from indexer.manifest import IndexDir
from indexer.store.metadata import Store
from indexer.sync import SyncSettings, sync
from tests.fixtures.fake_nlm import REVISED_TITLE, make_nlm_tree, write_file, write_listings

NAMES = [f"pubmed26n{n:04d}.xml.gz" for n in (1, 2, 3, 4)]


def settings_for(tmp_path: Path, server, model: Path, **kw) -> SyncSettings:
    build_settings = BuildSettings(model=str(model), max_length=64, show_progress=False)
    values = {
        "mirror": tmp_path / "mirror",
        "index": tmp_path / "index",
        "show_progress": False,
        **kw,
    }
    return SyncSettings(url=server.url, backoff=0.01, build=build_settings, **values)


def visible(index: Path) -> dict[int, str]:
    """PMID -> title of the published version's articles."""
    idx = IndexDir(index)
    version = idx.current_version()
    assert version is not None
    store = Store(idx.default_store_url(), readonly=True)
    try:
        pmids = store.visible_pmids(version)
        out = {}
        for pmid in pmids:
            doc = store.doc_for_pmid(int(pmid), version)
            assert doc is not None
            out[int(pmid)] = doc.article.title
        return out
    finally:
        store.close()


def expected_collection(tree) -> set[int]:
    every = {p for name in NAMES for p in tree.files[name]}
    return every - set(tree.deleted)


def test_a_full_sync_mirrors_and_applies_every_file_in_order(tmp_path, fake_nlm, tiny_model_dir):
    server, tree = fake_nlm
    report = sync(settings_for(tmp_path, server, tiny_model_dir))
    assert report.failed == [] and sorted(report.downloaded) == NAMES
    assert report.bytes == sum((tree.root / d / n).stat().st_size for d, n in _where(NAMES))
    for d, name in _where(NAMES):  # the mirror holds NLM's bytes, nothing half-written
        local = tmp_path / "mirror" / d / name
        assert local.read_bytes() == (tree.root / d / name).read_bytes()
        assert (local.parent / f"{name}.md5").read_text() == (
            tree.root / d / f"{name}.md5"
        ).read_text()
    assert not list((tmp_path / "mirror").rglob("*.part"))
    assert report.applied == NAMES and not report.replaced
    manifest = IndexDir(tmp_path / "index").read_manifest()
    assert [e["name"] for e in manifest.ledger] == NAMES
    assert [e["kind"] for e in manifest.ledger] == ["baseline", "baseline", "update", "update"]
    for entry in manifest.ledger:
        d = "baseline" if entry["kind"] == "baseline" else "updatefiles"
        data = (tree.root / d / entry["name"]).read_bytes()
        assert entry["md5"] == hashlib.md5(data).hexdigest() and entry["bytes"] == len(data)
        assert entry["version"] == manifest.version
    articles = visible(tmp_path / "index")
    assert set(articles) == expected_collection(tree)  # deletions applied
    assert not set(tree.deleted) & set(articles)
    for pmid in tree.revised:
        assert articles[pmid] == REVISED_TITLE  # the update's revision replaced the baseline's


def _where(names):
    return [("baseline" if n < "pubmed26n0003" else "updatefiles", n) for n in names]


def test_a_second_sync_downloads_and_applies_nothing(tmp_path, fake_nlm, tiny_model_dir):
    server, _ = fake_nlm
    settings = settings_for(tmp_path, server, tiny_model_dir)
    sync(settings)
    version = IndexDir(settings.index).current_version()
    server.log.clear()
    again = sync(settings)
    assert again.downloaded == [] and again.bytes == 0 and again.build is None
    assert sorted(p for p, _ in server.log) == ["/pubmed/baseline/", "/pubmed/updatefiles/"]
    assert IndexDir(settings.index).current_version() == version


def test_an_interrupted_download_resumes_with_a_range_request(tmp_path, fake_nlm, tiny_model_dir):
    server, tree = fake_nlm
    name = NAMES[1]
    server.drop_once.add(name)
    report = sync(settings_for(tmp_path, server, tiny_model_dir, index=None))
    assert report.failed == []
    gets = server.requests_for(name)
    assert len(gets) == 2 and gets[0][1] is None
    size = (tree.root / "baseline" / name).stat().st_size
    assert gets[1][1] == f"bytes={size // 2}-"  # resumed where the connection broke
    total = sum((tree.root / d / n).stat().st_size for d, n in _where(NAMES))
    assert report.bytes == total  # each byte transferred once
    local = tmp_path / "mirror" / "baseline" / name
    assert local.read_bytes() == (tree.root / "baseline" / name).read_bytes()


def test_a_corrupt_download_is_fetched_again_and_verified(tmp_path, fake_nlm, tiny_model_dir):
    server, tree = fake_nlm
    server.corrupt_once.add(NAMES[2])
    report = sync(settings_for(tmp_path, server, tiny_model_dir))
    assert report.failed == [] and len(server.requests_for(NAMES[2])) == 2
    local = tmp_path / "mirror" / "updatefiles" / NAMES[2]
    assert local.read_bytes() == (tree.root / "updatefiles" / NAMES[2]).read_bytes()
    assert report.applied == NAMES


def test_a_file_that_stays_corrupt_is_never_placed_nor_applied(tmp_path, fake_nlm, tiny_model_dir):
    server, tree = fake_nlm
    bad = NAMES[2]
    server.corrupt_always.add(bad)
    settings = settings_for(tmp_path, server, tiny_model_dir)
    report = sync(settings)
    assert [name for name, _ in report.failed] == [bad] and "MD5 mismatch" in report.failed[0][1]
    assert not (tmp_path / "mirror" / "updatefiles" / bad).exists()
    assert not list((tmp_path / "mirror").rglob("*.part"))
    assert report.applied == NAMES[:2]  # the update after the bad one waits: order matters
    assert [e["name"] for e in IndexDir(settings.index).read_manifest().ledger] == NAMES[:2]
    server.corrupt_always.clear()  # NLM fixed it: the next sync applies both updates, in order
    report = sync(settings)
    assert report.failed == [] and report.applied == NAMES[2:]
    assert set(visible(settings.index)) == expected_collection(tree)


def test_the_cli_says_which_file_failed_and_exits_5(tmp_path, fake_nlm, tiny_model_dir):
    from pubmed_search.commands.sync import command

    server, _ = fake_nlm
    server.corrupt_always.add(NAMES[3])
    args = ["--mirror", str(tmp_path / "m"), "--url", server.url, "--no-progress"]
    result = CliRunner().invoke(command, args)
    assert result.exit_code == 5, result.output
    assert f"not downloaded: {NAMES[3]}" in result.output and "Traceback" not in result.output
    assert "downloaded 3" in result.output


def test_the_ledger_prevents_double_and_out_of_order_application(
    tmp_path, fake_nlm, tiny_model_dir
):
    server, _ = fake_nlm
    settings = settings_for(tmp_path, server, tiny_model_dir, index=None)
    sync(settings)
    mirror = settings.mirror
    files = {n: mirror / d / n for d, n in _where(NAMES)}
    index = tmp_path / "idx"
    bs = settings.build
    build(index, [files[NAMES[0]], files[NAMES[2]]], bs)
    version = IndexDir(index).current_version()
    again = build(index, [files[NAMES[2]]], bs)  # already applied: skipped, said so
    assert not again.published and again.skipped_files == [(str(files[NAMES[2]]), version)]
    assert "already applied, skipped: pubmed26n0003.xml.gz (version 1)" in again.line()
    assert IndexDir(index).current_version() == version
    with pytest.raises(OutOfOrder, match=r"pubmed26n0002\.xml\.gz is older than pubmed26n0003"):
        build(index, [files[NAMES[1]]], bs)
    with pytest.raises(OutOfOrder, match="older than"):  # out of order within one build too
        build(tmp_path / "idx2", [files[NAMES[3]], files[NAMES[2]]], bs)
    forced = build(index, [files[NAMES[1]]], BuildSettings(**{**vars(bs), "force": True}))
    assert forced.published
    names = [e["name"] for e in IndexDir(index).read_manifest().ledger]
    assert names == [NAMES[0], NAMES[2], NAMES[1]]


def test_info_shows_the_last_baseline_and_update_file(tmp_path, fake_nlm, tiny_model_dir):
    import json

    from pubmed_search.cli import cli

    server, _ = fake_nlm
    settings = settings_for(tmp_path, server, tiny_model_dir)
    sync(settings)
    result = CliRunner().invoke(cli, ["info", "--index", str(settings.index)])
    assert result.exit_code == 0, result.output
    ledger = json.loads(result.output)["ledger"]
    assert ledger["files"] == 4
    assert ledger["last_baseline"]["name"] == NAMES[1]
    assert ledger["last_update"]["name"] == NAMES[3]
    full = CliRunner().invoke(cli, ["info", "--index", str(settings.index), "--ledger"])
    assert [json.loads(line)["name"] for line in full.output.splitlines()] == NAMES


def hold_lock(path: Path) -> subprocess.Popen:
    code = (
        "import fcntl, sys, time\n"
        f"f = open({str(path)!r}, 'a+')\n"
        "fcntl.flock(f, fcntl.LOCK_EX)\n"
        "print('locked', flush=True)\n"
        "time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


def test_a_concurrent_sync_is_refused_by_the_locks(tmp_path, fake_nlm, tiny_model_dir):
    from pubmed_search.commands.sync import command

    server, _ = fake_nlm
    settings = settings_for(tmp_path, server, tiny_model_dir)
    sync(settings)  # an index to hold
    server.log.clear()
    base = ["--url", server.url, "--no-progress", "--model", str(tiny_model_dir)]
    holder = hold_lock(settings.index / ".build.lock")  # a build or sync of the index
    try:
        other = CliRunner().invoke(
            command, ["--mirror", str(tmp_path / "m2"), "--index", str(settings.index), *base]
        )
    finally:
        holder.kill()
        holder.wait()
    assert other.exit_code == 1 and "another build or sync is running" in other.output
    assert server.log == []  # refused before it downloaded anything
    holder = hold_lock(settings.mirror / ".sync.lock")
    try:
        other = CliRunner().invoke(command, ["--mirror", str(settings.mirror), *base])
    finally:
        holder.kill()
        holder.wait()
    assert other.exit_code == 1 and "another sync is running on the mirror" in other.output


def test_a_new_annual_baseline_replaces_the_collection(
    tmp_path, fake_nlm, nlm_slices, tiny_model_dir
):
    server, tree = fake_nlm
    settings = settings_for(tmp_path, server, tiny_model_dir)
    sync(settings)
    before = visible(settings.index)
    old_version = IndexDir(settings.index).current_version()
    # NLM's next baseline: 49 of the old baseline's articles, as first published (so one the
    # updates revised is revised back, one they deleted is back); every other article dropped
    kept = nlm_slices.baseline[1:50]
    write_file(tree.root / "baseline", "pubmed27n0001.xml.gz", kept)
    write_listings(tree.root)
    started = time.monotonic()
    report = sync(settings)
    assert report.downloaded == ["pubmed27n0001.xml.gz"] and report.replaced
    assert report.applied == ["pubmed27n0001.xml.gz"]
    assert time.monotonic() - started < 120
    after = visible(settings.index)
    want = set(tree.files[NAMES[0]][1:50])
    assert set(after) == want  # articles in no file of the new baseline are gone
    revised = [p for p in tree.revised if p in want]
    for pmid in revised:  # the new baseline carries the original title again
        assert after[pmid] != REVISED_TITLE
    back = [p for p in tree.deleted if p in want]
    assert revised and back
    assert report.build is not None
    assert report.build.applied["unchanged"] == len(want) - len(revised) - len(back)
    assert report.build.applied["added"] == len(back)
    assert report.build.embedded == len(revised) + len(back)  # unchanged ones kept their vectors
    assert report.build.applied["deleted"] == len(before) - (len(want) - len(back))
    idx = IndexDir(settings.index)
    assert idx.current_version() == old_version + 1
    assert old_version in idx.published_versions()  # kept beside the new one, as every build
    assert idx.read_manifest().ledger[-1]["name"] == "pubmed27n0001.xml.gz"


def test_an_incomplete_new_baseline_is_not_applied(tmp_path, fake_nlm, nlm_slices, tiny_model_dir):
    from indexer.sync import SyncError

    server, tree = fake_nlm
    settings = settings_for(tmp_path, server, tiny_model_dir)
    sync(settings)
    version = IndexDir(settings.index).current_version()
    for n, part in ((1, nlm_slices.baseline[:30]), (2, nlm_slices.baseline[30:60])):
        write_file(tree.root / "baseline", f"pubmed27n{n:04d}.xml.gz", part)
    write_listings(tree.root)
    server.corrupt_always.add("pubmed27n0002.xml.gz")
    with pytest.raises(SyncError, match="the 2027 baseline is incomplete"):
        sync(settings)
    assert IndexDir(settings.index).current_version() == version


def test_make_nlm_tree_is_what_the_tests_think(tmp_path, nlm_slices):
    tree = make_nlm_tree(tmp_path / "t", nlm_slices)
    assert sorted(tree.files) == NAMES
    assert all(len(tree.files[n]) >= 40 for n in NAMES)
    assert set(tree.deleted) <= set(tree.files[NAMES[0]]) | set(tree.files[NAMES[1]])
    assert nlm_slices.deleted_real  # the real block is there too


def test_downloads_keep_to_jobs_connections_and_retry_a_503(tmp_path, fake_nlm, tiny_model_dir):
    server, _ = fake_nlm
    server.delay = 0.3
    server.unavailable_once.add(NAMES[0])
    report = sync(settings_for(tmp_path, server, tiny_model_dir, index=None, jobs=2))
    assert report.failed == [] and sorted(report.downloaded) == NAMES
    assert server.max_active == 2  # two at a time, never more
    assert len(server.requests_for(NAMES[0])) == 2  # the 503, then the retry


def test_progress_shows_files_and_bytes(tmp_path, fake_nlm, tiny_model_dir, capsys):
    server, _ = fake_nlm
    sync(settings_for(tmp_path, server, tiny_model_dir, index=None, show_progress=True))
    err = capsys.readouterr().err
    assert "files 4/4" in err and "B" in err


@pytest.mark.parametrize(
    "args, want",
    [
        (["--baseline-only"], NAMES[:2]),
        (["--updates-only"], NAMES[2:]),
        (["--from", "2"], NAMES[1:]),
    ],
)
def test_cli_selects_what_to_mirror(tmp_path, fake_nlm, args, want):
    from pubmed_search.commands.sync import command

    server, _ = fake_nlm
    mirror = tmp_path / "m"
    result = CliRunner().invoke(
        command, ["--mirror", str(mirror), "--url", server.url, "--no-progress", *args]
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in mirror.rglob("*.xml.gz")) == want
    assert f"downloaded {len(want)}" in result.output


def test_cli_refuses_both_only_flags(tmp_path):
    from pubmed_search.commands.sync import command

    result = CliRunner().invoke(
        command, ["--mirror", str(tmp_path), "--baseline-only", "--updates-only"]
    )
    assert result.exit_code == 2 and "exclude each other" in result.output


def test_the_base_url_comes_from_the_environment(tmp_path, fake_nlm, monkeypatch):
    from pubmed_search.commands.sync import command

    server, _ = fake_nlm
    monkeypatch.setenv("PUBMED_SEARCH_NLM_URL", server.url)
    result = CliRunner().invoke(command, ["--mirror", str(tmp_path / "m"), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "m").rglob("*.xml.gz"))) == 4
