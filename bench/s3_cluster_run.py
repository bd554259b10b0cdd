"""One `xiulian clean` on a 3-node Ray cluster over S3, with every object-store request counted.

    .venv/bin/python bench/s3_cluster_run.py            # ~1 minute

The cluster (a head without CPUs and two 1-CPU worker nodes, ray.cluster_utils) and the S3
server (moto, behind the counting proxy of tests/object_store.py) are the cluster tests' own,
on 127.0.0.1. Input: the tests' small corpus (six JSONL files of real text, ~1,000 documents),
uploaded first. Prints the wall time and the requests and bytes by method and by the part of
OUT they touched (inputs, tasks/, global/ per corpus step, shards/, removed/, the rest), the
numbers behind the request model of docs/SCALING.md.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.object_store import ObjectStore, small_corpus, upload  # noqa: E402

DATA = Path(os.environ.get("XIULIAN_SHARED_DATA", ROOT.parent / "shared" / "data"))
CONFIG = '[[steps]]\nuse = "length"\nmin_chars = 50\n[[steps]]\nuse = "exact_dedup"\n' \
         '[[steps]]\nuse = "minhash_dedup"\n'


def area(path: str) -> str:
    parts = path.strip("/").split("/")
    if parts[1:2] == ["in"]:
        return "inputs"
    if parts[2:3] == ["global"] and len(parts) > 3:
        return "global/" + parts[3].split("-", 1)[-1].removesuffix(".work")
    return parts[2] if len(parts) > 3 else "OUT/" + (parts[2] if len(parts) > 2 else "")


def main() -> None:
    import tempfile
    from ray.cluster_utils import Cluster
    os.environ.update({"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "disabled"})
    store = ObjectStore()
    cluster = Cluster(initialize_head=True, head_node_args=dict(num_cpus=0, include_dashboard=False))
    try:
        for _ in range(2):
            cluster.add_node(num_cpus=1, include_dashboard=False)
        cluster.wait_for_nodes()
        with tempfile.TemporaryDirectory() as tmp:
            files = small_corpus(DATA, Path(tmp) / "in")
            input_bytes = sum(f.stat().st_size for f in files)
            config = Path(tmp) / "dedup.toml"
            config.write_text(CONFIG)
            bucket = store.new_bucket()
            upload(files, store.fs, f"{bucket}/in")
            store.proxy.clear()
            command = [sys.executable, "-m", "corpus.cli", "clean", store.uri(bucket, "in"), "-o",
                       store.uri(bucket, "out"), "--config", str(config), "--executor", "ray",
                       "--ray-address", cluster.address, "--workers", "2", "-q"]
            t0 = time.perf_counter()
            subprocess.run(command, cwd=ROOT, check=True)
            seconds = time.perf_counter() - t0
        log = store.proxy.log
        print(f"{len(files)} input files, {input_bytes} bytes; "
              f"wall {seconds:.1f} s; {len(log.requests)} requests; uploaded {log.bytes_in} B, "
              f"downloaded {log.bytes_out} B")
        by = Counter((area(p), m) for m, p in log.requests)
        print("| area | " + " | ".join(("GET", "HEAD", "PUT", "POST", "DELETE")) + " |")
        for name in sorted({a for a, _ in by}):
            print(f"| {name} | " + " | ".join(str(by[(name, m)]) for m in
                                              ("GET", "HEAD", "PUT", "POST", "DELETE")) + " |")
    finally:
        cluster.shutdown()
        store.close()


if __name__ == "__main__":
    main()
