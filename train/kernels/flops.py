"""Model FLOPs utilisation (MFU): achieved model FLOP/s over the hardware's peak FLOP/s.

The peak must be a ceiling, or MFU is not a fraction. We used to time a square matmul when
training started and divide by that; on a shared machine the timing ran while other work held
the cores, the steps later ran with the cores free, and the tiny recipe logged MFU 1.53 (168.8%
on its progress bar). A rate measured under load is not a peak. `peak_flops` is the hardware's
ceiling instead, like PaLM's MFU: on a CPU, threads x clock x the widest vector unit's FLOPs per
cycle (counting two fused multiply-add units per core, the most any x86 core has; bf16 dot
products where the CPU has them, AMX tiles where it has those); on a GPU, the datasheet's dense
rate for the card when we know it. `measured_peak_flops` (a timed matmul) stays for benchmarks,
which run alone (`/work/bin/quiet`) and want what the device delivers, not its ceiling.
"""
from __future__ import annotations

import math
import re
import time

import torch

_PEAKS: dict[tuple[str, torch.dtype, int], float] = {}


# Dense (no sparsity) datasheet peaks, FLOP/s: (bf16, fp32 without TF32). Matched by name substring.
GPU_PEAKS = {
    "H200": (989e12, 67e12), "H100 SXM": (989e12, 67e12), "H100 PCIe": (756e12, 51e12),
    "H100": (756e12, 51e12), "A100": (312e12, 19.5e12), "L40S": (362e12, 91.6e12),
    "L4": (121e12, 30.3e12), "A10": (125e12, 31.2e12), "RTX 4090": (165e12, 82.6e12),
}


def peak_flops(device: torch.device | str, dtype: torch.dtype) -> float:
    """The ceiling MFU divides by: what the hardware could do at best for `dtype` matmuls."""
    device = torch.device(device)
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        for model, (bf16, fp32) in GPU_PEAKS.items():
            if model in name:
                return bf16 if dtype == torch.bfloat16 else fp32
        return measured_peak_flops(device, dtype)  # an unknown card runs alone: its best is its peak
    return cpu_peak_flops(dtype, torch.get_num_threads())


def cpu_peak_flops(dtype: torch.dtype, threads: int, cpuinfo: str | None = None) -> float:
    """threads x clock x FLOPs per cycle per core of the widest unit for `dtype` (two FMA units)."""
    cpuinfo = _read_cpuinfo() if cpuinfo is None else cpuinfo
    flags = cpu_flags(cpuinfo)
    fp32_lanes = 16 if "avx512f" in flags else 8 if "avx2" in flags or "avx" in flags else 4
    per_cycle = 2 * 2 * fp32_lanes            # two FMA units, a multiply and an add each
    if dtype == torch.bfloat16:
        if "amx_bf16" in flags:
            per_cycle = 1024                  # one AMX tile multiply: 16 x 32 bf16 pairs a cycle
        elif "avx512_bf16" in flags:
            per_cycle *= 2                    # VDPBF16PS: two bf16 products per fp32 lane
    return threads * _clock_hz(cpuinfo) * per_cycle


def cpu_has_native_bf16(cpuinfo: str | None = None) -> bool:
    """Whether this CPU multiplies bf16 in hardware (AVX512-BF16 or AMX); without it PyTorch
    emulates bf16 matmuls, about 30x slower than fp32 (measured: 150 vs 4,900 tokens/s)."""
    flags = cpu_flags(_read_cpuinfo() if cpuinfo is None else cpuinfo)
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def cpu_flags(cpuinfo: str) -> set[str]:
    found = re.findall(r"^flags\s*:(.*)$", cpuinfo, re.M)
    return set(found[0].split()) if found else set()


def _read_cpuinfo() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            return f.read()
    except OSError:
        return ""


# Where only "cpu MHz" is known (a VM, no cpufreq), it is the nominal clock and a core boosts
# above it: an EPYC VM reporting 2,445 MHz ran a one-thread fp32 matmul at 82.2 GFLOP/s, 2.57 GHz
# at 32 FLOPs a cycle. Server parts boost to 1.4-1.55x their base clock (EPYC 7763 2.45 -> 3.5 GHz,
# 9654 2.4 -> 3.7 GHz), so the ceiling takes 1.5x it.
NOMINAL_CLOCK_BOOST = 1.5


def _clock_hz(cpuinfo: str) -> float:
    """The highest clock the core can run at: the kernel's max frequency where exposed, else
    "cpu MHz" times NOMINAL_CLOCK_BOOST."""
    try:
        with open("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq") as f:
            return float(f.read()) * 1e3
    except (OSError, ValueError):
        pass
    mhz = [float(m) for m in re.findall(r"^cpu MHz\s*:\s*([\d.]+)", cpuinfo, re.M)]
    return max(mhz) * 1e6 * NOMINAL_CLOCK_BOOST if mhz else 5e9  # unknown: a generous 5 GHz


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
    # An emulated bf16 matmul is ~30x slower, so 512^3 (1/27 of the work) takes about as long.
    cuda = device.type == "cuda"
    emulated = not cuda and dtype == torch.bfloat16 and not cpu_has_native_bf16()
    n = 8192 if cuda else 512 if emulated else 1536
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
