"""A Llama-style decoder, readable top to bottom (in the spirit of nanoGPT's model.py).

RoPE, RMSNorm, SwiGLU, grouped-query attention through `scaled_dot_product_attention`,
optional tied embeddings, and KV-cache sampling. Parameter names and the rotary layout follow
Hugging Face's LlamaForCausalLM (rotate-half, not interleaved), so a checkpoint maps onto it
name for name and the logits agree. On a CPU the memory-bound layers (RMSNorm, SwiGLU, the
rotary split in fp32 eager mode; the loss always) call fused kernels: each layer asks
`train.kernels.dispatch.fused_kernel` whether one runs, and keeps the plain PyTorch form beside
the call, which is what the kernel computes.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from train.kernels.dispatch import fused_kernel, load_kernels


@dataclass
class ModelConfig:
    vocab_size: int = 8192
    dim: int = 256
    n_layers: int = 4
    n_heads: int = 4
    n_kv_heads: int = 2                 # grouped-query attention: n_heads % n_kv_heads == 0
    hidden_dim: int | None = None        # SwiGLU width; None -> about 8/3 * dim, rounded to 64
    max_seq_len: int = 512
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5
    tie_embeddings: bool = True

    def __post_init__(self):
        if self.dim % self.n_heads or self.n_heads % self.n_kv_heads:
            raise ValueError("dim must divide by n_heads, and n_heads by n_kv_heads")
        if self.hidden_dim is None:
            self.hidden_dim = 64 * math.ceil(8 * self.dim / 3 / 64)

    @property
    def head_dim(self) -> int:
        return self.dim // self.n_heads

    def to_dict(self) -> dict:
        return asdict(self)


# Presets: one knob per size. `tiny` trains at thousands of tokens/s on a laptop CPU.
PRESETS = {
    "tiny": dict(dim=128, n_layers=4, n_heads=4, n_kv_heads=2, max_seq_len=256),
    "small": dict(dim=384, n_layers=8, n_heads=6, n_kv_heads=2, max_seq_len=1024),
    "base": dict(dim=768, n_layers=12, n_heads=12, n_kv_heads=4, max_seq_len=2048),
}


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if kernel := fused_kernel("rms_norm", x, self.weight):  # one pass per row on a CPU
            return kernel(x, self.weight, self.eps)
        if x.dtype == self.weight.dtype == torch.float32:  # the residual stream, autocast or not
            return F.rms_norm(x, self.weight.shape, self.weight, self.eps)  # no dtype round trips
        # Normalise in fp32, as HF does: bf16 variance loses the small activations.
        return self.weight * F.rms_norm(x.float(), self.weight.shape, eps=self.eps).to(x.dtype)


def rope_tables(config: ModelConfig, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and signed sin of shape (max_seq_len, head_dim), rotate-half layout. The sin table's
    first half is negated, so `apply_rope` needs no negation at run time."""
    half = config.head_dim // 2
    inv_freq = 1.0 / config.rope_theta ** (torch.arange(0, half, device=device).float() / half)
    angles = torch.outer(torch.arange(config.max_seq_len, device=device).float(), inv_freq)
    sin = angles.sin()
    return torch.cat([angles.cos()] * 2, dim=-1), torch.cat([-sin, sin], dim=-1)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, signed_sin: torch.Tensor) -> torch.Tensor:
    """HF's x * cos + rotate_half(x) * sin, where rotate_half(x) = (-x2, x1) = roll(x) * (-1, 1)."""
    return x * cos + x.roll(x.shape[-1] // 2, dims=-1) * signed_sin


class KVCache:
    """Keys and values of the tokens seen so far, per layer, for incremental decoding."""

    def __init__(self, n_layers: int):
        self.layers: list[tuple[torch.Tensor, torch.Tensor] | None] = [None] * n_layers

    @property
    def length(self) -> int:
        return 0 if self.layers[0] is None else self.layers[0][0].shape[2]

    def extend(self, layer: int, k: torch.Tensor, v: torch.Tensor):
        if self.layers[layer] is not None:
            past_k, past_v = self.layers[layer]
            k, v = torch.cat([past_k, k], dim=2), torch.cat([past_v, v], dim=2)
        self.layers[layer] = (k, v)
        return k, v


class Attention(nn.Module):
    def __init__(self, config: ModelConfig, layer: int):
        super().__init__()
        self.layer, self.n_heads, self.n_kv_heads = layer, config.n_heads, config.n_kv_heads
        self.head_dim = config.head_dim
        self.q_proj = nn.Linear(config.dim, config.n_heads * self.head_dim, bias=False)
        self.k_proj = nn.Linear(config.dim, config.n_kv_heads * self.head_dim, bias=False)
        self.v_proj = nn.Linear(config.dim, config.n_kv_heads * self.head_dim, bias=False)
        self.o_proj = nn.Linear(config.n_heads * self.head_dim, config.dim, bias=False)

    def forward(self, x, cos, sin, attention_mask=None, cache: KVCache | None = None):
        b, t, _ = x.shape
        h, kv = self.n_heads, self.n_kv_heads
        projections = (self.q_proj, self.k_proj, self.v_proj)
        if all(type(p) is nn.Linear for p in projections):
            # One matmul for q, k and v (the weights stay three HF-named parameters): one weight
            # cast under autocast instead of three, a few % of a bf16 step; neutral in fp32.
            qkv = F.linear(x, torch.cat([p.weight for p in projections]))
        else:  # a projection with its own forward (a LoRA adapter, train/model/lora.py) must run it
            qkv = torch.cat([p(x) for p in projections], dim=-1)
        qkv = qkv.view(b, t, h + 2 * kv, self.head_dim)
        if kernel := fused_kernel("rotary_split", qkv, cos):  # split and rotated in one pass
            q, k, v = (y.transpose(1, 2) for y in kernel(qkv, cos, sin, h, kv))
        else:
            qk, v = qkv.transpose(1, 2).split([h + kv, kv], dim=1)  # split: no zero-filled gradients
            q, k = apply_rope(qk, cos, sin).split([h, kv], dim=1)  # queries and keys rotated at once
        if cache is not None:
            k, v = cache.extend(self.layer, k, v)
        gqa = h != kv  # SDPA shares each key/value head among h // kv query heads, no copies
        if attention_mask is None and (cache is None or t == k.shape[2]):
            y = F.scaled_dot_product_attention(q, k, v, is_causal=t > 1, enable_gqa=gqa)
        else:  # decoding after a prefix, or padding: build the mask explicitly
            mask = _mask(t, k.shape[2], attention_mask, x.device)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=gqa)
        return self.o_proj(y.transpose(1, 2).reshape(b, t, -1))


def _mask(t: int, total: int, attention_mask: torch.Tensor | None, device) -> torch.Tensor:
    """Boolean (b or 1, 1, t, total): causal over the cache, and padding keys masked out."""
    causal = torch.ones(t, total, dtype=torch.bool, device=device).tril(diagonal=total - t)
    mask = causal[None, None]
    if attention_mask is not None:
        mask = mask & attention_mask[:, None, None, :total].bool()
    return mask


class MLP(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.gate_proj = nn.Linear(config.dim, config.hidden_dim, bias=False)
        self.up_proj = nn.Linear(config.dim, config.hidden_dim, bias=False)
        self.down_proj = nn.Linear(config.hidden_dim, config.dim, bias=False)

    def forward(self, x):
        gate, up = self.gate_proj(x), self.up_proj(x)
        if kernel := fused_kernel("swiglu", gate, up):
            return self.down_proj(kernel(gate, up))
        return self.down_proj(F.silu(gate) * up)


class Block(nn.Module):
    def __init__(self, config: ModelConfig, layer: int):
        super().__init__()
        self.input_layernorm = RMSNorm(config.dim, config.norm_eps)
        self.self_attn = Attention(config, layer)
        self.post_attention_layernorm = RMSNorm(config.dim, config.norm_eps)
        self.mlp = MLP(config)

    def forward(self, x, cos, sin, attention_mask=None, cache=None):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, attention_mask, cache)
        return x + self.mlp(self.post_attention_layernorm(x))


class Transformer(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.embed_tokens = nn.Embedding(config.vocab_size, config.dim)
        self.layers = nn.ModuleList(Block(config, i) for i in range(config.n_layers))
        self.norm = RMSNorm(config.dim, config.norm_eps)
        self.lm_head = nn.Linear(config.dim, config.vocab_size, bias=False)
        if config.tie_embeddings:
            self.lm_head.weight = self.embed_tokens.weight
        cos, sin = rope_tables(config)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        self.apply(self._init_weights)
        load_kernels()
        # GPT-2 style: residual projections scaled down with depth, so the stream stays O(1).
        for name, p in self.named_parameters():
            if name.endswith(("o_proj.weight", "down_proj.weight")):
                nn.init.normal_(p, std=0.02 / math.sqrt(2 * config.n_layers))

    @staticmethod
    def _init_weights(module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def flops_per_token(self, seq_len: int) -> int:
        """Training FLOPs per token: 6 per matmul weight plus attention (PaLM appendix B). An
        untied input embedding is a lookup, not a matmul, so it does not count."""
        c = self.config
        lookup = 0 if c.tie_embeddings else self.embed_tokens.weight.numel()
        return 6 * (self.num_params() - lookup) + 12 * c.n_layers * c.dim * seq_len

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None,
                attention_mask: torch.Tensor | None = None, cache: KVCache | None = None):
        """Logits (b, t, vocab); with `targets`, also the mean cross-entropy over targets != -100."""
        logits = self.lm_head(self.hidden_states(idx, attention_mask, cache))
        if targets is None:
            return logits
        if kernel := fused_kernel("cross_entropy", logits):
            loss = kernel(logits, targets)
        else:  # compiled: inductor fuses this into a pass or two
            loss = F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), ignore_index=-100)
        return logits, loss

    def hidden_states(self, idx: torch.Tensor, attention_mask: torch.Tensor | None = None,
                      cache: KVCache | None = None) -> torch.Tensor:
        """The final normed hidden states (b, t, dim) that `lm_head` reads: the input of a scalar
        head (a reward model's score, PPO's value), and of the vocabulary only at the positions
        that need it (benchmark scoring, train/eval/loglikelihood.py)."""
        start = cache.length if cache is not None else 0
        t = idx.shape[1]
        if start + t > self.config.max_seq_len:
            raise ValueError(f"sequence of {start + t} tokens exceeds max_seq_len {self.config.max_seq_len}")
        cos, sin = self.rope_cos[start:start + t], self.rope_sin[start:start + t]
        x = self.embed_tokens(idx)
        for block in self.layers:
            x = block(x, cos, sin, attention_mask, cache)
        return self.norm(x)

    @torch.no_grad()
    def generate(self, idx: torch.Tensor, max_new_tokens: int, temperature: float = 1.0,
                 top_k: int | None = None, top_p: float | None = None,
                 stop_tokens: set[int] = frozenset(), generator: torch.Generator | None = None
                 ) -> torch.Tensor:
        """Sample a continuation of one prompt (1, t) with a KV cache; temperature 0 is greedy."""
        cache = KVCache(self.config.n_layers)
        logits = self(idx, cache=cache)[:, -1]
        out = idx
        for _ in range(max_new_tokens):
            token = sample(logits, temperature, top_k, top_p, generator)
            out = torch.cat([out, token], dim=1)
            if token.item() in stop_tokens or out.shape[1] >= self.config.max_seq_len:
                break
            logits = self(token, cache=cache)[:, -1]
        return out


def sample(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None,
           top_p: float | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """One token per row from (b, vocab) logits."""
    if temperature <= 0:
        return logits.argmax(dim=-1, keepdim=True)
    logits = logits.float() / temperature
    if top_k:
        kth = torch.topk(logits, min(top_k, logits.size(-1))).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        cumulative = sorted_logits.softmax(-1).cumsum(-1)
        drop = cumulative - sorted_logits.softmax(-1) > top_p  # keep the token that crosses top_p
        sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
        logits = torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)
    return torch.multinomial(logits.softmax(-1), 1, generator=generator)
