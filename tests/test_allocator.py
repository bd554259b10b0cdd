"""The trainer's malloc tuning takes on glibc and is a no-op elsewhere."""
import platform

import pytest

from train.allocator import keep_freed_memory


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc tuning applies to glibc only")
def test_tunes_glibc_malloc_once():
    assert keep_freed_memory() is True
    assert keep_freed_memory() is True  # cached: the second call changes nothing
    import torch
    for _ in range(3):  # large activations are still allocated and freed normally
        assert torch.ones(4096, 4096).sum().item() == 4096 * 4096
