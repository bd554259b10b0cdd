"""train.allocator: with freed memory retained, re-allocating a large tensor costs no page faults."""
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt is glibc's (Linux)")

PROBE = """
import resource, sys, torch
from train.allocator import retain_freed_memory
applied = retain_freed_memory() if sys.argv[1] == "retain" else False
def faults_of_one_step():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    x = torch.empty(64 * 2 ** 20, dtype=torch.uint8).fill_(1)  # a 64 MB tensor, touched, freed
    del x
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
faults_of_one_step()  # the first allocation faults in either case
print(applied, faults_of_one_step())
"""


def probe(mode: str, env: dict | None = None) -> tuple[str, int]:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True,
                         check=True, env=env).stdout.split()
    return out[0], int(out[1])


def test_second_step_reuses_pages_only_when_retained():
    applied, retained = probe("retain")
    _, default = probe("default")
    assert applied == "True"
    assert default >= 64 * 2 ** 20 // 4096 // 2  # glibc mmaps and unmaps: faults every page again
    assert retained < default / 20


def test_opt_out_leaves_glibc_alone():
    import os
    applied, faults = probe("retain", {**os.environ, "XIULIAN_MALLOC": "system"})
    assert applied == "False" and faults >= 64 * 2 ** 20 // 4096 // 2
