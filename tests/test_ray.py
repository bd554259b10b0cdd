"""The Ray executor: same bytes as the local one, even when a worker dies mid-task."""
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT, run_cli
from tests.test_pipeline import digest

pytest.importorskip("ray", reason="Ray is not installed (pip install 'xiulian[ray]')")


def _task_worker_pids() -> list[int]:
    """Ray names a worker process after the task it is running."""
    out = subprocess.run(["pgrep", "-f", "ray::run_map_task"], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def test_ray_matches_local_even_after_a_worker_is_killed(shared_data, tmp_path):
    inputs = [shared_data / "web/warc/CC-MAIN-2020-34_sample.warc.gz",
              shared_data / "web/html/gne_zh", shared_data / "web/html/trafilatura_cache"]
    run_cli("clean", *inputs, "-o", tmp_path / "local", "--workers", "2", "--shard-size", "200KB")
    cmd = [sys.executable, "-m", "corpus.cli", "clean", *map(str, inputs), "-o", str(tmp_path / "ray"),
           "--executor", "ray", "--workers", "2", "--shard-size", "200KB", "-q"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killed = None
    deadline = time.time() + 120
    while killed is None and proc.poll() is None and time.time() < deadline:
        pids = _task_worker_pids()
        if pids:
            try:
                os.kill(pids[0], signal.SIGKILL)
                killed = pids[0]
            except ProcessLookupError:
                pass  # it ended between pgrep and kill (its task done): look again
        time.sleep(0.05)
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr[-2000:]
    assert killed is not None, "no Ray task worker was seen running"
    assert digest(tmp_path / "ray") == digest(tmp_path / "local")
