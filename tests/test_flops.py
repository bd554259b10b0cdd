"""train/kernels/flops.py: the hardware ceiling MFU divides by, a measured matmul peak, MFU arithmetic."""
import math

import pytest
import torch

from train.kernels.flops import (NOMINAL_CLOCK_BOOST, cpu_has_native_bf16, cpu_peak_flops, measured_peak_flops,
                                 mfu, peak_flops)
from train.model.transformer import ModelConfig, Transformer


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_measured_peak_is_a_plausible_rate_and_cached(dtype):
    peak = measured_peak_flops(torch.device("cpu"), dtype)
    assert math.isfinite(peak) and 1e8 < peak < 1e15  # 0.1 GFLOP/s .. 1 PFLOP/s
    assert measured_peak_flops("cpu", dtype) == peak  # second call: the cached value


def test_mfu_is_achieved_over_peak():
    # 1,000 tokens/s of a model costing 6 MFLOP per token = 6 GFLOP/s; half of a 12 GFLOP/s peak.
    assert mfu(tokens_per_s=1_000, flops_per_token=6e6, peak=12e9) == pytest.approx(0.5)
    assert mfu(0, 6e6, 12e9) == 0


def test_flops_per_token_counts_matmuls_not_the_embedding_lookup():
    shape = dict(vocab_size=1000, dim=64, n_layers=2, n_heads=4, n_kv_heads=2, max_seq_len=128)
    tied = Transformer(ModelConfig(**shape, tie_embeddings=True))
    untied = Transformer(ModelConfig(**shape, tie_embeddings=False))
    assert untied.num_params() == tied.num_params() + 1000 * 64
    # Looking up a row is free; the output projection is a matmul either way.
    assert untied.flops_per_token(128) == tied.flops_per_token(128)
    attention = 12 * 2 * 64 * 128  # QK^T and AV, forward and backward, per layer
    assert tied.flops_per_token(128) == 6 * tied.num_params() + attention


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_the_ceiling_is_above_what_a_matmul_reaches(dtype):
    # The bug this guards: MFU divided by a matmul timed while other work held the cores, so
    # steps that ran with the cores free logged MFU 1.53. A ceiling no timing can beat fixes it.
    assert measured_peak_flops("cpu", dtype) <= peak_flops("cpu", dtype)


ZEN4 = "processor\t: 0\ncpu MHz\t\t: 2596.146\nflags\t\t: fpu sse2 avx avx2 fma avx512f avx512_bf16\n"
OLD = "processor\t: 0\ncpu MHz\t\t: 3000.000\nflags\t\t: fpu sse2 avx avx2 fma\n"


def test_cpu_ceiling_counts_the_widest_unit_for_the_dtype():
    # 2 FMA units x 16 fp32 lanes x 2 FLOPs = 64 per cycle; bf16 dot products double it.
    # "cpu MHz" is the nominal clock: the ceiling allows the boost above it.
    clock = 2596.146e6 * NOMINAL_CLOCK_BOOST
    assert cpu_peak_flops(torch.float32, 2, ZEN4) == pytest.approx(2 * clock * 64)
    assert cpu_peak_flops(torch.bfloat16, 2, ZEN4) == pytest.approx(2 * clock * 128)
    assert cpu_peak_flops(torch.bfloat16, 1, OLD) == pytest.approx(3e9 * NOMINAL_CLOCK_BOOST * 32)  # no bf16 unit: fp32's


def test_native_bf16_is_read_from_the_cpu_flags():
    """auto picks bf16 on a CPU only where it is not emulated (emulated: ~30x slower than fp32)."""
    assert cpu_has_native_bf16("flags\t: fpu avx2 avx512f avx512_bf16\n")
    assert cpu_has_native_bf16("flags\t: fpu avx2 amx_bf16 amx_tile\n")
    assert not cpu_has_native_bf16("flags\t: fpu avx2 fma\n")
    assert not cpu_has_native_bf16("")
