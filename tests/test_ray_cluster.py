"""`xiulian clean --executor ray` on a real multi-node Ray cluster (a head without CPUs and two
worker nodes, each its own raylet, object store and workers, all on 127.0.0.1), reading and
writing s3:// on a real S3-compatible server through a fault-injecting proxy: no folder is
shared between the driver and the workers. The output is byte-identical to a local run, and
stays so when a worker node is removed mid-map or mid-MinHash, when the driver is killed and
the same command resumes, and when an input crashes its worker on every attempt."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT, write_config
from tests.object_store import upload
from tests.test_s3_object_store import CONFIG, SHARD, bucket, corpus, reference  # noqa: F401
from tests.test_uris import output_bytes

pytest.importorskip("ray", reason="Ray is not installed (pip install 'xiulian[ray]')")
pytestmark = pytest.mark.xdist_group("ray_cluster")  # these tests share one cluster

WORKER_NODES = 2
LOOPBACK = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "disabled"}
POISONED = 'plugins = ["tests.crashing_step"]\n[[steps]]\nuse = "crash_on"\n' + CONFIG


@pytest.fixture(scope="module")
def cluster(object_store):
    """Three Ray nodes: the head (GCS, the driver's raylet, no CPU for tasks) and two workers
    with one CPU each. They inherit the object store's credentials from this process."""
    from ray.cluster_utils import Cluster
    # Every node, and every driver started from here, on 127.0.0.1 (Ray's switch for
    # single-machine clusters; otherwise it binds the machine's network address).
    saved = {k: os.environ.get(k) for k in LOOPBACK}
    os.environ.update(LOOPBACK)
    node = dict(include_dashboard=False)
    # A removed node is declared dead after 3 missed health checks 0.5 s apart (default: 5 x 3 s).
    fast = {"health_check_period_ms": 500, "health_check_failure_threshold": 3}
    cluster = Cluster(initialize_head=True,
                      head_node_args=dict(num_cpus=0, _system_config=fast, **node))
    for _ in range(WORKER_NODES):
        cluster.add_node(num_cpus=1, **node)
    cluster.wait_for_nodes()
    cluster.node_args = node
    yield cluster
    cluster.shutdown()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture
def nodes(cluster):
    """The cluster, with its worker nodes back to full strength after the test."""
    yield cluster
    while len(cluster.worker_nodes) < WORKER_NODES:
        cluster.add_node(num_cpus=1, **cluster.node_args)
    cluster.wait_for_nodes()


def clean_command(cluster, store, bucket: str, config) -> list[str]:
    return [sys.executable, "-m", "corpus.cli", "clean", store.uri(bucket, "in"),
            "-o", store.uri(bucket, "out"), "--config", str(config), "--executor", "ray",
            "--ray-address", cluster.address, "--workers", "2", "--shard-size", SHARD, "-q"]


def finish(proc: subprocess.Popen) -> None:
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr[-3000:]


def node_running(cluster, task_name: str):
    """The worker node whose raylet is the parent of a worker process running `task_name`
    (Ray names the process after the task), or None."""
    raylets = {n.all_processes["raylet"][0].process.pid: n for n in cluster.worker_nodes}
    found = subprocess.run(["pgrep", "-f", f"ray::{task_name}"], capture_output=True, text=True)
    for pid in found.stdout.split():
        try:
            with open(f"/proc/{pid}/stat") as f:
                parent = int(f.read().rsplit(")", 1)[1].split()[1])
        except (FileNotFoundError, ProcessLookupError):
            continue
        if parent in raylets:
            return raylets[parent]
    return None


def remove_node_running(cluster, proc: subprocess.Popen, task_name: str) -> None:
    deadline = time.monotonic() + 120
    while (victim := node_running(cluster, task_name)) is None:
        assert proc.poll() is None and time.monotonic() < deadline, f"no {task_name} was seen running"
        time.sleep(0.05)
    cluster.remove_node(victim, allow_graceful=False)


def test_cluster_over_s3_gives_the_same_bytes_as_a_local_run(nodes, object_store, bucket, corpus, reference):
    assert len(nodes.worker_nodes) == WORKER_NODES
    proc = subprocess.Popen(clean_command(nodes, object_store, bucket, corpus[2]), cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    finish(proc)
    assert output_bytes(object_store.uri(bucket, "out")) == reference
    left = object_store.keys(f"{bucket}/out")
    assert not any("/tasks/" in k or "/global/" in k for k in left), "scratch left behind"


@pytest.mark.parametrize("phase, task_name, slow", [
    ("map", "run_map_task", dict(method="GET", path=r"/in/")),
    ("minhash", "_signature_task", dict(method="PUT", path=r"/out/global/\d+-minhash_dedup/sig/")),
])
def test_a_worker_node_removed_mid_phase_changes_nothing(phase, task_name, slow, nodes, object_store,
                                                         bucket, corpus, reference):
    # The proxy slows that phase's requests down so the node is removed while it works.
    object_store.proxy.inject("delay", seconds=1.5, **slow)
    proc = subprocess.Popen(clean_command(nodes, object_store, bucket, corpus[2]), cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    remove_node_running(nodes, proc, task_name)
    assert len(nodes.worker_nodes) == WORKER_NODES - 1
    finish(proc)
    assert output_bytes(object_store.uri(bucket, "out")) == reference


def test_a_killed_driver_resumes_from_the_object_store(nodes, object_store, bucket, corpus, reference):
    object_store.proxy.inject("delay", seconds=1.0, method="GET", path=r"/in/")
    command = clean_command(nodes, object_store, bucket, corpus[2])
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while len(finished := [k for k in object_store.keys(f"{bucket}/out/tasks")
                           if k.endswith("/counts.json")]) < 2:
        assert proc.poll() is None and time.monotonic() < deadline, "the run ended before it was killed"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not object_store.keys(f"{bucket}/out/manifest.json")
    object_store.proxy.clear()
    finish(subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
    assert output_bytes(object_store.uri(bucket, "out")) == reference
    done_before = {k.rsplit("/", 2)[-2] for k in finished}
    rewritten = {p for m, p in object_store.proxy.log.requests if m in ("PUT", "POST")
                 and any(f"/out/tasks/{t}/" in p for t in done_before)}
    assert not rewritten, f"tasks finished before the kill were redone: {sorted(rewritten)}"


def test_an_input_that_crashes_its_worker_every_time_ends_in_the_ledger(
        nodes, object_store, bucket, corpus, reference, tmp_path):
    poison = tmp_path / "zz_poison.jsonl"
    poison.write_text("".join(json.dumps({"id": f"p{i}", "text": text}) + "\n" for i, text in
                              enumerate(["a fine first document, long enough to keep " * 3,
                                         "this one is POISON to the crash_on step " * 3])))
    upload([poison], object_store.fs, f"{bucket}/in")
    config = write_config(tmp_path / "poisoned.toml", POISONED)
    finish(subprocess.Popen(clean_command(nodes, object_store, bucket, config), cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
    out = object_store.uri(bucket, "out")
    found = output_bytes(out)
    assert {k: v for k, v in found.items() if not k.startswith("removed/")} == \
        {k: v for k, v in reference.items() if not k.startswith("removed/")}
    import pyarrow as pa
    import pyarrow.parquet as pq
    ledger = pa.concat_tables([pq.read_table(pa.BufferReader(v)) for k, v in found.items()
                               if k.startswith("removed/")]).to_pylist()
    crashed = [r for r in ledger if r["step"] == "map"]
    assert [(r["id"], r["reason"]) for r in crashed] == [("zz_poison.jsonl", "worker_crashed#4 attempts")]
    assert "WorkerCrashedError" in crashed[0]["text"]
    manifest = json.loads(object_store.fs.open_input_stream(f"{bucket}/out/manifest.json").read())
    counts = manifest["counts"]
    assert counts["read"] == counts["kept"] + counts["removed"]
    assert manifest["removed_by"]["map:worker_crashed"] == 1
