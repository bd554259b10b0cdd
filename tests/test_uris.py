"""Inputs and outputs as URIs: file:// (pyarrow's LocalFileSystem, which renames) and an object
store without rename (fsspec's memory://) give the same bytes as plain paths, resume after a
crash, and run on Ray; a URI nobody knows is a one-line error."""
import glob
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.fs as pafs
import pytest

from corpus import fs
from corpus.clean import clean
from corpus.dedup import minhash
from corpus.inputs import _walk
from tests.conftest import ROOT, run_cli

SHARD = "50KB"  # small enough that the reference has several shards
OUTPUT_FILES = ("shards", "removed", "dedup")


def uri(path) -> str:
    return "file://" + str(Path(path).absolute())  # as typed: a glob's * stays a wildcard


def output_bytes(out: str) -> dict[str, bytes]:
    """Every Parquet file of an output (path or URI), by its path inside the output."""
    found = {}
    for sub in OUTPUT_FILES:
        folder = fs.join(out, sub)
        for name in fs.list_names(folder):
            if name.endswith(".parquet"):
                found[f"{sub}/{name}"] = fs.read_bytes(fs.join(folder, name))
    return found


@pytest.fixture(scope="module")
def web(shared_data) -> Path:
    return shared_data / "web"


@pytest.fixture(scope="module")
def inputs(web) -> list[str]:
    """A WARC, a folder of HTML pages and a glob (WARC + WET; the WAT it also matches is skipped)."""
    return [str(web / "warc/CC-MAIN-2020-34_sample.warc.gz"), str(web / "html/gne_zh"),
            str(web / "warc/whirlwind.*")]


@pytest.fixture(scope="module")
def reference(inputs, tmp_path_factory) -> dict[str, bytes]:
    out = tmp_path_factory.mktemp("plain") / "out"
    run_cli("clean", *inputs, "-o", out, "--workers", "2", "--shard-size", SHARD)
    found = output_bytes(str(out))
    assert len([f for f in found if f.startswith("shards/")]) > 1
    assert {"dedup/clusters.parquet", "dedup/repeated.parquet"} <= set(found)
    return found


def test_file_uris_in_and_out_give_the_same_bytes_as_plain_paths(inputs, reference, tmp_path):
    out = uri(tmp_path / "out")
    run_cli("clean", *map(uri, inputs), "-o", out, "--workers", "2", "--shard-size", SHARD)
    assert output_bytes(out) == reference
    assert output_bytes(str(tmp_path / "out")) == reference  # it really is on disk


def test_ray_with_file_uris_gives_the_same_bytes(inputs, reference, tmp_path):
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'xiulian[ray]')")
    out = uri(tmp_path / "out")
    run_cli("clean", *map(uri, inputs), "-o", out, "--executor", "ray", "--workers", "2",
            "--shard-size", SHARD, "-q")
    assert output_bytes(out) == reference


def test_a_killed_run_into_a_uri_resumes_to_the_same_bytes(inputs, reference, tmp_path):
    out, tasks = tmp_path / "out", tmp_path / "out" / "tasks"
    cmd = [sys.executable, "-m", "corpus.cli", "clean", *map(uri, inputs), "-o", uri(out),
           "--workers", "2", "--shard-size", SHARD, "-q"]
    proc = subprocess.Popen(cmd, cwd=ROOT, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None:
        if tasks.exists() and any(".tmp-" not in p.name for p in tasks.iterdir()):
            break  # one task finished, the others not yet
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "manifest.json").exists(), "the run finished before it could be killed"
    run_cli("clean", *map(uri, inputs), "-o", uri(out), "--workers", "2", "--shard-size", SHARD)
    assert output_bytes(uri(out)) == reference


def crash(*args, **kwargs):
    raise RuntimeError("killed")


def test_object_store_without_rename_resumes_a_killed_dedup_stage_to_the_same_bytes(
        inputs, reference, web, monkeypatch):
    """fsspec's in-memory filesystem stands in for S3: no atomic rename, one process."""
    fsspec = pytest.importorskip("fsspec")
    bucket = f"memory://xiulian-test-{os.getpid()}"
    memory = fsspec.filesystem("memory")
    for path in [inputs[0], *glob.glob(inputs[2]), *glob.glob(str(web / "html/gne_zh/*"))]:
        memory.pipe(f"{bucket}/in/{Path(path).relative_to(web).as_posix()}", Path(path).read_bytes())
    remote_inputs = [f"{bucket}/in/warc/CC-MAIN-2020-34_sample.warc.gz", f"{bucket}/in/html/gne_zh",
                     f"{bucket}/in/warc/whirlwind.*"]
    out = f"{bucket}/out"
    assert not fs.renames(out)
    try:
        with monkeypatch.context() as patch:
            patch.setattr(minhash, "stars", crash)
            with pytest.raises(RuntimeError, match="killed"):
                clean(remote_inputs, out, workers=1, shard_bytes=50 * 1024, progress=False)
        stages = fs.list_names(fs.join(out, "global"))
        assert "01-minhash_dedup" in stages and not any(s.endswith(".work") for s in stages)
        assert not fs.exists(fs.join(out, "global", "01-minhash_dedup", "done.json"))
        with monkeypatch.context() as patch:  # finished sub-stages are not redone
            patch.setattr(minhash, "document_signatures", crash)
            clean(remote_inputs, out, workers=1, shard_bytes=50 * 1024, progress=False)
        assert output_bytes(out) == reference
        assert not any(".tmp" in p for p in memory.find(out))
    finally:
        memory.rm(bucket, recursive=True)


@pytest.mark.parametrize("store", ["local disk", "object store"])
def test_a_file_whose_writer_fails_half_way_never_appears(store, tmp_path):
    if store == "object store":
        pytest.importorskip("fsspec")
    folder = str(tmp_path) if store == "local disk" else f"memory://xiulian-atomic-{os.getpid()}"
    with pytest.raises(RuntimeError, match="disk full"):
        with fs.AtomicFile(fs.join(folder, "counts.json")) as f:
            f.write(b'{"read": ')
            raise RuntimeError("disk full")
    assert fs.list_names(folder) == []  # neither the file nor a temporary one
    fs.write_bytes(fs.join(folder, "counts.json"), b'{"read": 3}')
    assert fs.list_names(folder) == ["counts.json"]
    assert fs.read_bytes(fs.join(folder, "counts.json")) == b'{"read": 3}'
    if store == "object store":
        fs.delete_dir(folder)


def test_listing_a_uri_folder_or_glob_follows_the_local_rules(web):
    assert [p for p, _ in fs.walk(uri(web))] == [uri(p) for p in _walk(str(web))]
    # (in a URI, "?" starts the options, so it is no wildcard there: [0-9] is)
    for pattern in ("**/*.gz", "warc/whirlwind.*", "html/*/163__[0-9].html.gz"):
        local = sorted(p for p in glob.glob(str(web / pattern), recursive=True) if os.path.isfile(p))
        assert [p for p, _ in fs.glob(uri(web) + "/" + pattern)] == [uri(p) for p in local]


def test_uri_names_keep_their_options_and_bucket():
    assert fs.join("s3://b/out?region=eu-west-1", "tasks", "00001") == \
        "s3://b/out/tasks/00001?region=eu-west-1"
    assert fs.parent("s3://b/out/x.parquet?region=eu-west-1") == "s3://b/out?region=eu-west-1"
    assert fs.name("gs://b/a%20b/c%201.warc.gz") == "c 1.warc.gz"
    assert fs.resolve("file:///tmp/a%20b/c")[1] == "/tmp/a b/c"
    # the path inside the bucket is what pyarrow itself makes of the URI
    s3 = "s3://bucket/a%20b/c.parquet?region=us-east-1"
    assert fs.resolve(s3)[1] == pafs.FileSystem.from_uri(s3)[1] == "bucket/a b/c.parquet"


@pytest.mark.parametrize("args, message", [
    ("clean nosuch://bucket/crawl.warc.gz -o {tmp}/out", "unknown URI scheme nosuch://"),
    ("clean data/demo/demo.warc.gz -o nosuch://bucket/out", "unknown URI scheme nosuch://"),
    ("clean data/demo/demo.warc.gz -o file://relative/out", "absolute path"),
    ("clean file:///no/such/crawl.warc.gz -o {tmp}/out", "no such file or directory"),
    ("stats s3://bucket/out", "copy it here first"),
])
def test_bad_uris_are_one_line_errors(args, message, tmp_path):
    proc = run_cli(*args.format(tmp=tmp_path).split(), check=False)
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
