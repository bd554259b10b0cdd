"""The Stage contract the training loop runs, and the base for stages over a list of examples.

`Stage` is what train/core/loop.py's Trainer calls and nothing more: a new stage (a loss, a way
to batch) meets it and the loop does the rest — accumulation, DDP, mixed precision, schedule,
checkpoints, exact resume. Pretraining streams token shards; every other stage trains on a list
of examples (conversations, preference pairs, prompts) and starts from `ExampleStage`: a seeded
order per epoch, each process's slice of the global batch, and a position that resumes exactly.
Subclasses name how examples become a batch (`collate`) and supply `units` and `loss`.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

import numpy as np
import torch

from corpus.errors import UserError

Batch = dict  # one micro-batch: named CPU tensors (and whatever else the stage's loss reads)


class Stage(Protocol):
    """What the loop asks of a stage."""

    def next_batches(self, count: int, rank: int, world: int) -> list[Batch]:
        """`count` micro-batches for process `rank` of `world`; every process draws from the same
        stream, so the position after a step is the same everywhere."""

    def units(self, batch: Batch) -> int:
        """What the loss averages over (supervised tokens, pairs, ...): each micro-batch's loss is
        weighted by its share of the step's units, so accumulation and DDP match one big batch."""

    def tokens(self, batch: Batch) -> int:
        """Tokens the model reads, for tokens/s and MFU."""

    def loss(self, model: torch.nn.Module, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        """The batch's mean loss, and metrics (floats) to log beside it."""

    def validation_batches(self, rank: int, world: int) -> Iterable[Batch]:
        """This process's share of the held-out batches (may be empty)."""

    def state_dict(self) -> dict:
        """The position in the data, saved with each checkpoint."""

    def load_state_dict(self, state: dict) -> None:
        """Go back to a saved position, for an exact resume."""


class ExampleStage:
    """A `Stage` over a list of examples; subclasses add `collate`, `units`, `tokens`, `loss`."""

    empty_message = "no training examples left after the validation split"

    def __init__(self, train: list, validation: list, batch_size: int, seed: int, pad_id: int):
        if not train:
            raise UserError(self.empty_message)
        self.train, self.validation = train, validation
        self.batch_size, self.seed, self.pad_id = batch_size, seed, pad_id
        self.epoch, self.cursor = 0, 0
        self._order = self._epoch_order(0)

    @staticmethod
    def collate(examples: list, pad_id: int) -> dict:
        raise NotImplementedError

    def _epoch_order(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, epoch]).permutation(len(self.train))

    def _take(self, n: int) -> list:
        out = []
        while len(out) < n:
            if self.cursor >= len(self._order):
                self.epoch, self.cursor = self.epoch + 1, 0
                self._order = self._epoch_order(self.epoch)
            out.append(self.train[self._order[self.cursor]])
            self.cursor += 1
        return out

    def next_batches(self, count: int, rank: int, world: int) -> list[dict]:
        examples = self._take(count * world * self.batch_size)
        per_rank = count * self.batch_size
        mine = examples[rank * per_rank:(rank + 1) * per_rank]
        return [self.collate(mine[i:i + self.batch_size], self.pad_id)
                for i in range(0, len(mine), self.batch_size)]

    def validation_batches(self, rank: int, world: int):
        mine = self.validation[rank::world]
        for i in range(0, len(mine), self.batch_size):
            yield self.collate(mine[i:i + self.batch_size], self.pad_id)

    @staticmethod
    def tokens(batch: dict) -> int:
        return int(batch["lengths"].sum())

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "cursor": self.cursor}

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.cursor = state["epoch"], state["cursor"]
        self._order = self._epoch_order(self.epoch)
