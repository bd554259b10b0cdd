"""Multi-process training with torchrun (DDP): gloo on CPU, nccl on CUDA.

`torchrun --nproc_per_node N $(which xiulian) pretrain ...` sets RANK, WORLD_SIZE and
LOCAL_RANK; without them this is a single process and every method is a no-op.
"""
from __future__ import annotations

import os
from contextlib import nullcontext
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class Distributed:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @classmethod
    def from_env(cls) -> "Distributed":
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls()
        rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
        cuda = torch.cuda.is_available()
        device = torch.device(f"cuda:{local_rank}" if cuda else "cpu")
        if cuda:
            torch.cuda.set_device(device)
        if not dist.is_initialized():
            dist.init_process_group(backend="nccl" if cuda else "gloo")
        return cls(rank, world, local_rank, device)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def wrap(self, model, device: torch.device):
        if self.world == 1:
            return model
        from torch.nn.parallel import DistributedDataParallel
        return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    def no_sync(self, model, last: bool):
        """Skip the gradient all-reduce on all but the last micro-batch of a step."""
        if self.world == 1 or last:
            return nullcontext()
        return model.no_sync()

    def all_sum(self, value: float) -> float:
        if self.world == 1:
            return value
        tensor = torch.tensor([value], dtype=torch.float64,
                              device=self.device if self.device.type == "cuda" else "cpu")
        dist.all_reduce(tensor)
        return tensor.item()

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()
