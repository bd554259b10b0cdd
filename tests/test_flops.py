"""train/kernels/flops.py: a measured matmul peak and MFU arithmetic."""
import math

import pytest
import torch

from train.kernels.flops import measured_peak_flops, mfu
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
