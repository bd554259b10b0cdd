"""Model FLOPs utilisation (MFU) against a peak measured on this machine.

MFU = achieved model FLOP/s / peak FLOP/s. nanoGPT divides by a hard-coded A100 bf16 peak
(312 TFLOP/s), which is wrong on every other GPU, on every CPU, and for every other dtype. We
time square matmuls instead: what the device really delivers for this dtype and thread count,
so MFU says how much of the reachable matmul speed the training step uses, on any machine.
"""
from __future__ import annotations

import math
import time

import torch

_PEAKS: dict[tuple[str, torch.dtype, int], float] = {}


def measured_peak_flops(device: torch.device | str, dtype: torch.dtype, repeats: int = 3) -> float:
    """FLOP/s of the best timed `n x n @ n x n` matmul, after a warm-up; cached per device type,
    dtype and thread count. About 0.5 s on a CPU, a few seconds on a GPU (first call only)."""
    device = torch.device(device)
    key = (device.type, dtype, torch.get_num_threads())
    if key not in _PEAKS:
        _PEAKS[key] = _time_matmuls(device, dtype, repeats)
    return _PEAKS[key]


def _time_matmuls(device: torch.device, dtype: torch.dtype, repeats: int) -> float:
    # Big enough to saturate the device, small enough to stay fast: a 1536^3 fp32 matmul is
    # ~20 ms on two CPU cores; 8192^3 keeps an H100's tensor cores busy for ~1 ms per call.
    cuda = device.type == "cuda"
    n = 8192 if cuda else 1536
    calls = 10 if cuda else 2  # per timing, so kernel launch and timer overheads vanish
    generator = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(n, n, device=device, generator=generator).to(dtype)
    b = torch.randn(n, n, device=device, generator=generator).to(dtype)
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    best = math.inf
    for attempt in range(repeats + 1):  # the first is the warm-up (kernel choice, page faults)
        sync()
        start = time.perf_counter()
        for _ in range(calls):
            torch.mm(a, b)
        sync()
        if attempt:
            best = min(best, (time.perf_counter() - start) / calls)
    return 2 * n ** 3 / best


def mfu(tokens_per_s: float, flops_per_token: float, peak: float) -> float:
    """Fraction of `peak` FLOP/s that training at `tokens_per_s` uses (0.4 means 40 %)."""
    return tokens_per_s * flops_per_token / peak
