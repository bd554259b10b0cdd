"""train.kernels.allocator: with freed memory retained, a training step stops faulting in its pages again."""
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt is glibc's (Linux)")

# A small model with a large vocabulary: each step's fp32 logits and their gradient are 64 MB each,
# as in the throughput benchmark. Prints whether the setting took, and the page faults of steps 9-16
# (by then the heap has the blocks a step needs; before, glibc may still be growing it).
PROBE = """
import resource, sys, torch
from train.kernels.allocator import retain_freed_memory
from train.model.transformer import ModelConfig, Transformer
applied = retain_freed_memory() if sys.argv[1] == "retain" else False
torch.manual_seed(0)
torch.set_num_threads(1)
model = Transformer(ModelConfig(vocab_size=8192, dim=64, n_layers=1, n_heads=2, n_kv_heads=1, max_seq_len=256))
optimizer = torch.optim.AdamW(model.parameters(), fused=True)
batch = torch.randint(0, 8192, (8, 257))
faults = 0
for step in range(16):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    model(batch[:, :-1], targets=batch[:, 1:])[1].backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    faults += (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) * (step >= 8)
print(applied, faults)
"""
PAGES_PER_STEP = 2 * 64 * 2 ** 20 // 4096  # the logits and their gradient, if both are fresh


def probe(mode: str, **env: str) -> tuple[str, int]:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True,
                         check=True, env={**os.environ, **env}).stdout.split()
    return out[0], int(out[1])


def test_training_steps_reuse_pages_only_when_retained():
    applied, retained = probe("retain")
    _, default = probe("default")
    assert applied == "True"
    assert default >= 3 * PAGES_PER_STEP  # glibc default: steps fault their big tensors in again
    assert retained < default / 10


def test_opt_out_leaves_glibc_alone():
    applied, faults = probe("retain", XIULIAN_MALLOC="system")
    assert applied == "False" and faults >= 3 * PAGES_PER_STEP
