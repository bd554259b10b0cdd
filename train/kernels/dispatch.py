"""Which kernel runs a layer: the one question the model asks (`fused_kernel`).

The choice lives here rather than in the model, as nanochat's attention module picks its
kernel, so train/model/transformer.py reads as the plain PyTorch it computes and a new kernel
(a GPU one, say) changes this file alone. A layer asks with its op name and input tensors; it
gets a callable, or None and runs its own PyTorch form.
"""
from __future__ import annotations

from collections.abc import Callable

import torch

from . import cpu_kernels
from .chunked_cross_entropy import ChunkedCrossEntropy

# op -> the fused kernel and how it is called; taken only where `cpu_kernels.usable` says so
# (fp32 CPU tensors, eager mode, the library built).
_CPU_LAYERS = {
    "rms_norm": cpu_kernels.RMSNorm.apply,          # (x, weight, eps)
    "swiglu": cpu_kernels.SwiGLU.apply,              # (gate, up) -> silu(gate) * up
    "rotary_split": cpu_kernels.RotarySplit.apply,  # (qkv, cos, signed_sin, heads, kv_heads) -> q, k, v
}


def load_kernels() -> None:
    """Build or load the CPU kernels now, in eager mode (a model's constructor calls it): under
    torch.compile `fused_kernel` only reads whether they loaded."""
    cpu_kernels.available()


def fused_kernel(op: str, *tensors: torch.Tensor) -> Callable | None:
    """The kernel that runs `op` on these tensors, or None where the caller's PyTorch form runs.

    "cross_entropy" (logits, targets): the fused CPU kernel where it takes the logits (fp32 or
    bf16 on a CPU, compiled or not); None under torch.compile elsewhere (inductor fuses the
    plain form well); otherwise the blockwise ChunkedCrossEntropy, which keeps eager mode from
    making three logits-sized temporaries.
    """
    if op == "cross_entropy":
        if cpu_kernels.loss_usable(tensors[0]):
            return cpu_kernels.cross_entropy
        return None if torch.compiler.is_compiling() else ChunkedCrossEntropy.apply
    return _CPU_LAYERS[op] if cpu_kernels.usable(*tensors) else None
