"""Fused fp32 CPU kernels for RMSNorm, SwiGLU, rotary embedding and cross-entropy.

Why: on a CPU an eager fp32 step's matmuls already run near the measured peak, and most of the
rest is memory passes that PyTorch makes one op at a time (RMSNorm's backward is about ten of
them). `cpu_kernels.c` does each layer in one pass per row. It is compiled on first use with the
system C compiler for this machine's CPU (as torch.compile's C++ backend does) and cached under
~/.cache/xiulian/kernels. Where there is no compiler, or outside Linux, `available()` is False and
train/model/transformer.py keeps its PyTorch ops; `XIULIAN_KERNELS=off` does the same on purpose.

RMSNorm, SwiGLU and RotarySplit are autograd Functions for fp32 CPU tensors in eager mode;
`usable` says whether a call may take them (never under torch.compile, which fuses these layers
itself). `cross_entropy` takes fp32 or bf16 logits and is a torch custom op, so compiled models
call it too (`loss_usable`): inductor's fused loss makes more passes over the logits than it.
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import torch

SOURCE = Path(__file__).with_name("cpu_kernels.c")
# (compiler flags, libraries), tried in order: AVX-512 vectors with glibc's vector expf
# (libmvec); then flags any GCC or Clang with OpenMP takes.
FLAG_SETS = (
    (["-O3", "-march=native", "-mprefer-vector-width=512", "-DXIULIAN_VECTOR_EXPF"], ["-lmvec"]),
    (["-O3", "-march=native"], []),
)
_lib: ctypes.CDLL | None | bool = False  # False: not tried yet
_loaded = False  # a plain bool that torch.compile reads as a constant


def available() -> bool:
    """True where the kernels are built (or were cached) and loaded. Traced by torch.compile it
    reads the flag an eager call set (the model's constructor makes one, `dispatch.load_kernels`):
    a trace must not build a library. (Marking this function with
    torch.compiler.assume_constant_result instead imports torch._dynamo with this module, 1.7 s
    added to every command that loads a model, an error message included.)"""
    if torch.compiler.is_compiling():
        return _loaded
    return _load() is not None


def usable(*tensors: torch.Tensor) -> bool:
    return (all(t.dtype == torch.float32 and t.device.type == "cpu" for t in tensors)
            and not torch.compiler.is_compiling() and available())


def _load() -> ctypes.CDLL | None:
    global _lib, _loaded
    if _lib is False:
        _lib = None
        if os.environ.get("XIULIAN_KERNELS", "").lower() != "off" and sys.platform.startswith("linux"):
            try:
                _lib = ctypes.CDLL(str(_build()))
            except (OSError, RuntimeError) as e:
                warnings.warn(f"xiulian: fused CPU kernels unavailable ({e}); using PyTorch ops")
        _loaded = _lib is not None
    return _lib


def _build() -> Path:
    """The shared library for this source, compiler and CPU, compiled once and cached."""
    cc = os.environ.get("CC", "cc")
    cpu = _cpu_flags()
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "xiulian" / "kernels"
    error = ""
    for flags, libs in FLAG_SETS:
        key = hashlib.sha256(SOURCE.read_bytes() + " ".join([cc, *flags, *libs, cpu]).encode()).hexdigest()[:16]
        target = cache / f"cpu_kernels-{key}.so"
        if target.exists():
            return target
        cache.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=cache) as tmp:  # then an atomic rename: safe when
            built = Path(tmp) / target.name                   # torchrun's workers build at once
            command = [cc, *flags, "-fopenmp", "-shared", "-fPIC", str(SOURCE), "-o", str(built), *libs, "-lm"]
            try:
                run = subprocess.run(command, capture_output=True, text=True, timeout=120)
            except (OSError, subprocess.TimeoutExpired) as e:
                raise RuntimeError(f"cannot run {cc}: {e}") from None
            if run.returncode == 0:
                os.replace(built, target)
                return target
            error = (run.stderr.strip().splitlines() or ["failed"])[-1]
    raise RuntimeError(f"{cc} failed: {error}")


def _cpu_flags() -> str:
    """The CPU's feature flags: a library built with -march=native for one CPU may not run on
    another one sharing the same home directory (a cluster's nodes)."""
    try:
        with open("/proc/cpuinfo") as f:
            return next((line for line in f if line.startswith(("flags", "Features"))), "")
    except OSError:
        return ""


def _p(t: torch.Tensor) -> ctypes.c_void_p:
    return ctypes.c_void_p(t.data_ptr())


def _n(*values: int) -> list[ctypes.c_int64]:
    return [ctypes.c_int64(v) for v in values]


def _threads() -> int:
    return torch.get_num_threads()


class RMSNorm(torch.autograd.Function):
    """F.rms_norm(x, (d,), weight, eps) over the last dimension."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
        x = x.contiguous()
        d = x.shape[-1]
        if weight.shape != (d,) or not weight.is_contiguous():
            raise ValueError(f"RMSNorm weight of shape {tuple(weight.shape)} for rows of {d}")
        y, rstd = torch.empty_like(x), x.new_empty(x.numel() // d)
        _load().rms_norm(_p(x), _p(weight), *_n(rstd.numel(), d), ctypes.c_float(eps), _p(y), _p(rstd), _threads())
        ctx.save_for_backward(x, weight, rstd)
        return y

    @staticmethod
    def backward(ctx, gy: torch.Tensor):
        x, weight, rstd = ctx.saved_tensors
        gy, threads = gy.contiguous(), _threads()
        gx, partial = torch.empty_like(x), x.new_empty(threads, x.shape[-1])
        _load().rms_norm_grad(_p(gy), _p(x), _p(weight), _p(rstd), *_n(rstd.numel(), x.shape[-1]),
                              _p(gx), _p(partial), threads)
        return gx, partial.sum(0), None


class SwiGLU(torch.autograd.Function):
    """F.silu(gate) * up."""

    @staticmethod
    def forward(ctx, gate: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
        if gate.shape != up.shape:
            raise ValueError(f"SwiGLU gate {tuple(gate.shape)} and up {tuple(up.shape)} differ")
        gate, up = gate.contiguous(), up.contiguous()
        y = torch.empty_like(gate)
        _load().swiglu(_p(gate), _p(up), *_n(gate.numel()), _p(y), _threads())
        ctx.save_for_backward(gate, up)
        return y

    @staticmethod
    def backward(ctx, gy: torch.Tensor):
        gate, up = ctx.saved_tensors
        gy = gy.contiguous()
        ggate, gup = torch.empty_like(gate), torch.empty_like(up)
        _load().swiglu_grad(_p(gy), _p(gate), _p(up), *_n(gate.numel()), _p(ggate), _p(gup), _threads())
        return ggate, gup


class RotarySplit(torch.autograd.Function):
    """q, k, v of shapes (b, t, h, hd), (b, t, kv, hd), (b, t, kv, hd) from the fused projection's
    output (b, t, h + 2 kv, hd), with q and k rotated as `train.model.transformer.apply_rope` does; cos and
    signed_sin are (t, hd) tables for the t positions."""

    @staticmethod
    def forward(ctx, qkv: torch.Tensor, cos: torch.Tensor, signed_sin: torch.Tensor, h: int, kv: int):
        qkv, cos, signed_sin = qkv.contiguous(), cos.contiguous(), signed_sin.contiguous()
        b, t, _, hd = qkv.shape
        q, k, v = qkv.new_empty(b, t, h, hd), qkv.new_empty(b, t, kv, hd), qkv.new_empty(b, t, kv, hd)
        _load().rotary_split(_p(qkv), *_n(b * t, t, h, kv, hd), _p(cos), _p(signed_sin),
                             _p(q), _p(k), _p(v), _threads())
        ctx.save_for_backward(cos, signed_sin)
        ctx.shape, ctx.heads = qkv.shape, (h, kv)
        return q, k, v

    @staticmethod
    def backward(ctx, gq: torch.Tensor, gk: torch.Tensor, gv: torch.Tensor):
        cos, signed_sin = ctx.saved_tensors
        b, t, _, hd = ctx.shape
        h, kv = ctx.heads
        grads = [g.contiguous() for g in (gq, gk, gv)]  # autograd gives zeros for an unused one
        gqkv = grads[0].new_empty(ctx.shape)
        _load().rotary_split_grad(*map(_p, grads), *_n(b * t, t, h, kv, hd), _p(cos), _p(signed_sin),
                                  _p(gqkv), _threads())
        return gqkv, None, None, None, None


@torch.library.custom_op("xiulian::cross_entropy", mutates_args=())
def _cross_entropy(logits: torch.Tensor, targets: torch.Tensor, with_grad: bool
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean loss, its gradient w.r.t. the (n, vocab) logits, or an empty tensor). An opaque op,
    so torch.compile calls the kernel too rather than tracing into it."""
    flat = logits.contiguous()
    counted = targets != -100
    safe_targets = torch.where(counted, targets, 0).contiguous()
    n_counted = counted.sum()
    weight = (counted / n_counted).float()  # d loss / d row's cross-entropy
    target_logits = flat.gather(1, safe_targets[:, None]).squeeze(1).float()  # raises on a bad
    lse = flat.new_empty(flat.shape[0], dtype=torch.float32)                   # target before C
    grad = torch.empty_like(flat) if with_grad else flat.new_empty(0)          # indexes with it
    _load().cross_entropy(_p(flat), flat.dtype == torch.bfloat16, _p(safe_targets), _p(weight),
                          *_n(*flat.shape), _p(lse), _p(grad) if with_grad else None, _threads())
    return torch.where(counted, lse - target_logits, 0.0).sum() / n_counted, grad


@_cross_entropy.register_fake
def _(logits, targets, with_grad):
    return logits.new_empty((), dtype=torch.float32), logits.new_empty(logits.shape if with_grad else 0)


def _save_gradient(ctx, inputs, output):
    ctx.save_for_backward(output[1])


def _backward(ctx, grad_loss, _):
    (grad,) = ctx.saved_tensors
    if torch.compiler.is_compiling() or grad_loss.item() != 1.0:  # a plain loss.backward(): as is
        grad = (grad * grad_loss).to(grad.dtype)
    return grad, None, None


_cross_entropy.register_autograd(_backward, setup_context=_save_gradient)


def loss_usable(logits: torch.Tensor) -> bool:
    """Whether `cross_entropy` takes these logits: fp32 or bf16 on a CPU, compiled or not."""
    return logits.device.type == "cpu" and logits.dtype in (torch.float32, torch.bfloat16) and available()


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of (..., vocab) logits over targets != -100, as
    F.cross_entropy(logits.float(), targets): the gradient is computed in the forward pass, row by
    row while each row is in cache, and only where autograd will ask for it."""
    flat = logits.reshape(-1, logits.shape[-1])
    loss, _ = _cross_entropy(flat, targets.reshape(-1), torch.is_grad_enabled() and logits.requires_grad)
    return loss
