"""The fused CPU kernels (train/kernels/cpu_kernels.c) against the PyTorch ops they replace: values and
gradients, on shapes with odd sizes, ignored targets and a KV-cache offset; and the fallback."""
import os
import shutil
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from train.kernels import cpu_kernels
from train.model.transformer import KVCache, ModelConfig, Transformer, apply_rope, rope_tables

# Where the kernels should build: Linux, a C compiler on PATH, not switched off. There a
# failed build fails the tests below (and test_the_kernels_build_where_they_should) instead of
# skipping them; elsewhere the model uses PyTorch ops and they are skipped.
SHOULD_BUILD = (sys.platform.startswith("linux") and shutil.which(os.environ.get("CC", "cc")) is not None
                and os.environ.get("XIULIAN_KERNELS", "").lower() != "off")
needs_kernels = pytest.mark.skipif(not SHOULD_BUILD, reason="not Linux, no C compiler on PATH, or "
                                   "XIULIAN_KERNELS=off: the model uses PyTorch ops")


@needs_kernels
def test_the_kernels_build_where_they_should():
    """A compiler is here, so a build failure (a C error, no OpenMP, no libm) is a failure."""
    library = cpu_kernels._build()   # raises RuntimeError with the compiler's last line
    assert library.is_file()
    assert cpu_kernels.available()


def grads(fn, *inputs, seed=1):
    """fn(*inputs) and the gradients of <output, random> w.r.t. each input."""
    inputs = [x.detach().clone().requires_grad_(True) for x in inputs]
    out = fn(*inputs)
    outs = out if isinstance(out, tuple) else (out,)
    g = torch.Generator().manual_seed(seed)
    torch.autograd.backward(outs, [torch.randn(o.shape, generator=g) for o in outs])
    return [o.detach() for o in outs], [x.grad for x in inputs]


def assert_close(ours, reference, atol):
    for a, b in zip(ours, reference, strict=True):
        assert a.shape == b.shape
        torch.testing.assert_close(a, b, atol=atol, rtol=1e-4)


@needs_kernels
def test_rms_norm_matches_torch():
    g = torch.Generator().manual_seed(0)
    x, w = torch.randn(3, 37, 72, generator=g) * 4, torch.randn(72, generator=g)
    ours = grads(lambda x, w: cpu_kernels.RMSNorm.apply(x, w, 1e-5), x, w)
    reference = grads(lambda x, w: F.rms_norm(x, (72,), w, 1e-5), x, w)
    assert_close(ours[0], reference[0], 1e-5)
    assert_close(ours[1], reference[1], 1e-4)


@needs_kernels
def test_swiglu_matches_torch():
    g = torch.Generator().manual_seed(0)
    gate, up = torch.randn(5, 33, 50, generator=g) * 5, torch.randn(5, 33, 50, generator=g)
    ours = grads(cpu_kernels.SwiGLU.apply, gate, up)
    reference = grads(lambda a, b: F.silu(a) * b, gate, up)
    assert_close(ours[0] + ours[1], reference[0] + reference[1], 1e-5)


@needs_kernels
@pytest.mark.parametrize("start", [0, 11])  # 11: decoding after a prefix of 11 cached tokens
def test_rotary_split_matches_apply_rope(start):
    config = ModelConfig(n_heads=6, n_kv_heads=2, dim=6 * 16, max_seq_len=64)
    cos, sin = (table[start:start + 9] for table in rope_tables(config))
    qkv = torch.randn(2, 9, 6 + 2 * 2, 16, generator=torch.Generator().manual_seed(0))

    def reference(qkv):
        qk, v = qkv.split([8, 2], dim=2)
        q, k = apply_rope(qk.transpose(1, 2), cos, sin).transpose(1, 2).split([6, 2], dim=2)
        return q, k, v

    ours = grads(lambda qkv: cpu_kernels.RotarySplit.apply(qkv, cos, sin, 6, 2), qkv)
    expected = grads(reference, qkv)
    assert_close(ours[0] + ours[1], expected[0] + expected[1], 1e-6)


@needs_kernels
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_cross_entropy_matches_torch_with_ignored_targets(dtype):
    g = torch.Generator().manual_seed(0)
    logits = (torch.randn(3, 41, 1001, generator=g) * 6).to(dtype)
    targets = torch.randint(0, 1001, (3, 41), generator=g)
    targets[0, :9] = -100
    logits = logits.requires_grad_(True)
    ours = cpu_kernels.cross_entropy(logits, targets)
    (grad_ours,) = torch.autograd.grad(3 * ours, logits)
    reference = F.cross_entropy(logits.float().view(-1, 1001), targets.view(-1), ignore_index=-100)
    (grad_ref,) = torch.autograd.grad(3 * reference, logits)
    assert grad_ours.dtype == dtype
    torch.testing.assert_close(ours, reference, atol=1e-5, rtol=1e-6)
    # bf16: the same rounding of the same fp32 gradient, up to one bf16 step from expf's last bit
    torch.testing.assert_close(grad_ours, grad_ref, atol=1e-7, rtol=1e-4 if dtype == torch.float32 else 8e-3)
    assert grad_ours[0, :9].abs().max() == 0  # ignored positions get no gradient
    targets[1, 3] = 1001  # out of the vocabulary: an error, as from F.cross_entropy, not a stray write
    with pytest.raises((RuntimeError, IndexError), match="out of bounds"):
        cpu_kernels.cross_entropy(logits, targets)


@needs_kernels
def test_model_with_kernels_equals_model_without(monkeypatch):
    """Logits, loss, every parameter's gradient and KV-cache decoding agree with the PyTorch path."""
    torch.manual_seed(0)
    model = Transformer(ModelConfig(vocab_size=300, dim=64, n_layers=2, n_heads=4, n_kv_heads=2))
    idx = torch.randint(0, 300, (3, 25))
    targets = idx[:, 1:].clone()
    targets[1, :4] = -100

    def run():
        model.zero_grad()
        logits, loss = model(idx[:, :-1], targets)
        loss.backward()
        with torch.no_grad():
            cache = KVCache(2)
            decoded = torch.cat([model(idx[:, :10], cache=cache), model(idx[:, 10:12], cache=cache)], 1)
        return [logits.detach(), loss.detach(), decoded, *(p.grad for p in model.parameters())]

    ours = run()
    monkeypatch.setattr(cpu_kernels, "_lib", None)  # as where nothing can compile the kernels
    assert not cpu_kernels.usable(idx.float())
    assert_close(ours, run(), 1e-5)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the kernels are only built on Linux")
def test_without_a_compiler_the_model_falls_back_with_a_warning(tmp_path):
    """CC pointing nowhere and an empty cache: a one-line warning, then the PyTorch ops."""
    code = ("import warnings, torch\n"
            "from train.kernels import cpu_kernels\n"
            "from train.model.transformer import Transformer, ModelConfig\n"
            "with warnings.catch_warnings(record=True) as w:\n"
            "    warnings.simplefilter('always')\n"
            "    print(cpu_kernels.available(), len(w), w[0].message if w else '')\n"
            "m = Transformer(ModelConfig(vocab_size=50, dim=32, n_layers=1, n_heads=2, n_kv_heads=1))\n"
            "print(m(torch.zeros(1, 3, dtype=torch.long), torch.zeros(1, 3, dtype=torch.long))[1].item() > 0)\n")
    env = {**os.environ, "CC": str(tmp_path / "no-such-cc"), "XDG_CACHE_HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True,
                         cwd=os.path.dirname(os.path.dirname(__file__))).stdout.splitlines()
    assert out[0].startswith("False 1 xiulian: fused CPU kernels unavailable (cannot run")
    assert out[1] == "True"
    env = {**os.environ, "XIULIAN_KERNELS": "off"}
    out = subprocess.run([sys.executable, "-c", "from train.kernels import cpu_kernels; print(cpu_kernels.available())"],
                         env=env, capture_output=True, text=True, check=True,
                         cwd=os.path.dirname(os.path.dirname(__file__))).stdout
    assert out.strip() == "False"


@needs_kernels
def test_compiled_model_calls_the_loss_kernel_and_matches_eager():
    """Under torch.compile the loss stays one opaque kernel call (inductor fuses the rest)."""
    torch.manual_seed(0)
    model = Transformer(ModelConfig(vocab_size=256, dim=32, n_layers=1, n_heads=2, n_kv_heads=1))
    idx = torch.randint(0, 256, (2, 17))

    def step(m):
        model.zero_grad()
        loss = m(idx[:, :-1], idx[:, 1:])[1]
        (2 * loss).backward()  # not 1: the kernel's stored gradient must be scaled
        return [loss.detach(), *(p.grad.clone() for p in model.parameters())]

    eager = step(model)
    with torch.profiler.profile() as prof:
        compiled = step(torch.compile(model))
    calls = [e.name for e in prof.events() if e.name == "xiulian::cross_entropy"]
    assert calls, "the compiled graph did not call the loss kernel"
    assert_close(compiled, eager, 1e-5)
