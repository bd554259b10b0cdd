"""`xiulian clean` with its inputs and output on a real S3-compatible server (moto's, on
127.0.0.1, reached through a fault-injecting proxy): the same bytes as a local run, and
object-store faults -- 5xx answers, dropped connections, slow answers -- retried with backoff,
or one clear line when they persist, after which the same command resumes."""
import pytest

from tests.conftest import run_cli, write_config
from tests.object_store import small_corpus, upload
from tests.test_uris import output_bytes

pytestmark = pytest.mark.xdist_group("object_store")  # these tests share one S3 server

SHARD = "100KB"
CONFIG = """
[[steps]]
use = "length"
min_chars = 50
[[steps]]
use = "exact_dedup"
[[steps]]
use = "minhash_dedup"
"""


@pytest.fixture(scope="module")
def corpus(shared_data, tmp_path_factory):
    folder = tmp_path_factory.mktemp("s3-corpus")
    files = small_corpus(shared_data, folder / "in")
    return folder / "in", files, write_config(folder / "dedup.toml", CONFIG)


@pytest.fixture(scope="module")
def reference(corpus, tmp_path_factory) -> dict[str, bytes]:
    folder, _, config = corpus
    out = tmp_path_factory.mktemp("s3-reference") / "out"
    run_cli("clean", folder, "-o", out, "--config", config, "--workers", "2", "--shard-size", SHARD, "-q")
    found = output_bytes(str(out))
    assert len([f for f in found if f.startswith("shards/")]) > 1
    return found


@pytest.fixture
def bucket(object_store, corpus) -> str:
    """A fresh bucket holding the inputs under in/; no fault left over."""
    name = object_store.new_bucket()
    upload(corpus[1], object_store.fs, f"{name}/in")
    object_store.proxy.clear()
    yield name
    object_store.proxy.clear()


def clean_s3(store, bucket, config, check=True, **options):
    return run_cli("clean", store.uri(bucket, "in", **options), "-o", store.uri(bucket, "out", **options),
                   "--config", config, "--workers", "2", "--shard-size", SHARD, "-q", check=check)


def test_s3_inputs_and_output_give_the_same_bytes_as_a_local_run(object_store, bucket, corpus, reference):
    clean_s3(object_store, bucket, corpus[2])
    assert output_bytes(object_store.uri(bucket, "out")) == reference
    log = object_store.proxy.log
    methods = {m for m, _ in log.requests}
    assert {"GET", "PUT", "POST", "HEAD"} <= methods  # multipart uploads: POST, PUT part, POST
    assert set(log.statuses) <= {200, 204, 206, 404}
    left = object_store.keys(f"{bucket}/out")
    assert not any(".tmp" in k or "/tasks/" in k or "/global/" in k for k in left), left


def test_transient_faults_are_retried_with_backoff_and_change_nothing(object_store, bucket, corpus, reference):
    proxy = object_store.proxy
    faults = [proxy.inject("status", status=503, method="GET", path=r"/out/", times=2),  # SlowDown
              proxy.inject("status", status=500, method="PUT", path=r"/out/", times=2),
              proxy.inject("drop", method="HEAD", path=r"/in/", times=1),
              proxy.inject("drop", method="PUT", path=r"/out/", times=1),
              proxy.inject("status", status=503, method="GET", path=r"/in/", times=1),
              proxy.inject("delay", method="GET", path=r"/out/", times=1, seconds=2.5)]
    clean_s3(object_store, bucket, corpus[2], request_timeout=1)
    assert [f.hits for f in faults] == [f.times for f in faults]
    assert output_bytes(object_store.uri(bucket, "out")) == reference
    assert {0, 500, 503} <= set(proxy.log.statuses)  # they really were answered so, then retried


def test_a_persistent_fault_is_one_clear_line_and_the_same_command_resumes(
        object_store, bucket, corpus, reference):
    proxy = object_store.proxy
    proxy.inject("status", status=503, method="PUT", path=r"/out/global/")  # the dedup steps
    failed = clean_s3(object_store, bucket, corpus[2], check=False, max_attempts=2)
    assert failed.returncode == 2
    lines = failed.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in failed.stderr, failed.stderr[-3000:]
    assert "object store error" in lines[0] and "SLOW_DOWN" in lines[0]
    assert "run the same command again to resume" in lines[0]
    proxy.clear()
    clean_s3(object_store, bucket, corpus[2], max_attempts=2)
    assert output_bytes(object_store.uri(bucket, "out")) == reference
    rewritten = {p for m, p in proxy.log.requests if m in ("PUT", "POST") and "/out/tasks/" in p}
    assert not rewritten, f"map tasks finished before the fault were redone: {sorted(rewritten)[:5]}"
