"""The batch plan: which rows make up each optimizer step, a deterministic function of (seed, epoch).

Every rank computes the same global batch and takes its own micro-batches of it (the distributed sampler), so
resuming at step k needs nothing but k.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from redi.data.batching import make_batches


@dataclass(frozen=True)
class Batching:
    """How rows are grouped into global batches (data.batching, data.group_window, data.max_tokens_per_batch)."""

    mode: str = "grouped"  # grouped | random | token_budget
    window: int = 64
    max_tokens: int | None = None


@dataclass
class BatchPlan:
    """Row indices of every optimizer step: epochs of shuffled, length-grouped global batches.

    Batches hold ``global_batch`` rows; an epoch's last, smaller batch is dropped (random/grouped), unless the rows
    make no full batch: then the epoch is one batch of every row, as torch's DataLoader without drop_last gives
    (the step normalises by the rows it was given, redi.loop.step, so a smaller batch is the same loss).
    """

    lengths: list[int]
    global_batch: int
    seed: int
    batching: Batching
    epochs: float
    max_steps: int
    _cache: dict[int, list[list[int]]] = field(default_factory=dict)

    def epoch_batches(self, epoch: int) -> list[list[int]]:
        if epoch not in self._cache:
            if len(self._cache) >= 2:  # keep epoch 0 (its length sets the schedule) and the current epoch
                self._cache = {k: v for k, v in self._cache.items() if k == 0}
            self._cache[epoch] = make_batches(
                self.lengths,
                self.global_batch,
                seed=self.seed,
                epoch=epoch,
                mode=self.batching.mode,
                window=self.batching.window,
                max_tokens=self.batching.max_tokens,
                drop_last=self.batching.mode != "token_budget" and self.has_full_batch,
            )
        return self._cache[epoch]

    @property
    def has_full_batch(self) -> bool:
        """Whether the rows fill one global batch (else each epoch is one smaller batch of them all)."""
        return len(self.lengths) >= self.global_batch

    @property
    def steps_per_epoch(self) -> int:
        return len(self.epoch_batches(0))

    @property
    def total_steps(self) -> int:
        total = math.ceil(self.epochs * self.steps_per_epoch)
        return min(total, self.max_steps) if self.max_steps > 0 else total

    def batch(self, step: int) -> list[int]:
        """Row indices of optimizer step ``step`` (0-based)."""
        epoch, index = divmod(step, self.steps_per_epoch)
        batches = self.epoch_batches(epoch)
        return batches[index % len(batches)]


def split_micro_batches(indices: list[int], parts: int) -> list[list[int]]:
    """Split a global batch into ``parts`` contiguous micro-batches of near-equal size (never empty if possible)."""
    n = len(indices)
    bounds = [round(i * n / parts) for i in range(parts + 1)]
    return [indices[bounds[i] : bounds[i + 1]] for i in range(parts)]
