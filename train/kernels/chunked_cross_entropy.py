"""Cross-entropy a block of rows at a time: the loss for eager runs where the fused CPU kernel
does not run (a GPU, or a CPU without a C compiler)."""
from __future__ import annotations

import torch


class ChunkedCrossEntropy(torch.autograd.Function):
    """Mean cross-entropy over targets != -100: the value and gradient of
    `F.cross_entropy(logits.float(), targets)`, computed a block of rows at a time.

    Why: in eager mode F.cross_entropy on (tokens, vocab) logits makes three more tensors of
    that size (an fp32 copy of bf16 logits, the log-softmax, a zero-filled one-hot gradient),
    and on a CPU each fresh 64 MB tensor costs page faults as well as a pass over memory. Here
    only the gradient is full size. On a CPU `cpu_kernels.cross_entropy` does better (one pass per row,
    fp32 or bf16, compiled or not), and torch.compile fuses the plain form well elsewhere, so
    `dispatch.fused_kernel` picks this class for eager mode on a GPU, and on a CPU where the
    kernels could not be built."""

    BLOCK = 2 ** 18  # elements per block: stays in cache, and malloc reuses it

    @staticmethod
    def forward(ctx, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        flat, targets = logits.view(-1, logits.shape[-1]), targets.reshape(-1)
        rows = max(1, ChunkedCrossEntropy.BLOCK // flat.shape[1])
        logsumexp = torch.cat([torch.logsumexp(flat[i:i + rows].float(), dim=-1)
                               for i in range(0, flat.shape[0], rows)])
        counted = targets != -100
        safe_targets = torch.where(counted, targets, 0)
        target_logits = flat.gather(1, safe_targets[:, None]).squeeze(1).float()
        n_counted = counted.sum()
        ctx.save_for_backward(logits, logsumexp, safe_targets, counted, n_counted)
        return torch.where(counted, logsumexp - target_logits, 0.0).sum() / n_counted

    @staticmethod
    def backward(ctx, grad_loss: torch.Tensor):
        logits, logsumexp, safe_targets, counted, n_counted = ctx.saved_tensors
        flat = logits.view(-1, logits.shape[-1])
        rows = max(1, ChunkedCrossEntropy.BLOCK // flat.shape[1])
        weight = (grad_loss / n_counted * counted)[:, None]
        grad = torch.empty_like(flat)
        fp32 = flat.dtype == torch.float32  # then each block is computed in place, in grad itself
        for i in range(0, flat.shape[0], rows):  # d loss / d logits = (softmax - one_hot) * weight
            w = weight[i:i + rows]
            block = torch.sub(flat[i:i + rows], logsumexp[i:i + rows, None],
                              out=grad[i:i + rows] if fp32 else None)
            block.exp_().mul_(w).scatter_add_(1, safe_targets[i:i + rows, None], -w)
            if not fp32:
                grad[i:i + rows] = block
        return grad.view_as(logits), None
