"""Keep freed activation memory in the process instead of handing it back to the OS.

glibc's malloc serves blocks above a (dynamic) threshold with fresh `mmap`s and returns them
on free, so a CPU training step that makes the same multi-megabyte activations every step pays
page faults and page zeroing for all of them, every step: a 2048 x 8192 bf16 logits matmul
takes 15 ms into fresh memory and 4 ms into reused memory on a 2-core machine. Raising the
mmap threshold to its maximum (32 MB) and never trimming the heap lets malloc reuse those
blocks: a 7 M-parameter model's fp32 step runs ~9 % faster (docs/BENCHMARKS.md). Memory the
run has once used stays reserved until it exits, which is what a training process wants.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # <malloc.h>
MMAP_THRESHOLD_MAX = 32 * 2 ** 20            # glibc's ceiling on 64-bit (HEAP_MAX_SIZE / 2)


@functools.cache
def keep_freed_memory() -> bool:
    """Tune glibc malloc for repeated large allocations; False (and nothing done) elsewhere
    (macOS, musl, Windows), where the system allocator is left as it is."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        mallopt = libc.mallopt if libc is not None else None
    except (OSError, AttributeError):
        return False
    if mallopt is None or not hasattr(libc, "gnu_get_libc_version"):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX) and mallopt(M_TRIM_THRESHOLD, 2 ** 31 - 1))
